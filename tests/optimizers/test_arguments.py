"""Keras 3's shared optimizer arguments: refused with clear messages, the torch formula on request,
no host sync per step, exact resume, and LossScaleOptimizer's dynamic scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from kerasish import optimizers
from tests.training.test_step import sync_counter  # noqa: F401 - the fixture


@pytest.mark.parametrize("make, match", [
    (lambda: optimizers.Adam(clipnorm=1.0, clipvalue=0.5), r"Only one of `clipnorm`, `clipvalue` and `global_clip"),
    (lambda: optimizers.SGD(gradient_accumulation_steps=1), r"integer >= 2 .*Received: gradient_accumulation_steps=1"),
    (lambda: optimizers.Adam(use_ema=True, ema_momentum=1.5), r"`ema_momentum` must be in the range \[0, 1\]"),
    (lambda: optimizers.Adam(use_ema=True, ema_overwrite_frequency=0), r"`ema_overwrite_frequency` must be an int"),
    (lambda: optimizers.Adam(betas=(0.9, 0.99)), r"not recognized by Adam: \{'betas'.*Valid arguments: .*beta_1"),
    (lambda: optimizers.Adam(betas=(0.9, 0.9), formula="torch", bogus=1), r"does not recognize argument\(s\) \['bog"),
    (lambda: optimizers.Lion(formula="torch"), r"Lion has no torch.optim counterpart"),
    (lambda: optimizers.Adam(formula="jax"), r"formula must be 'keras' or 'torch', received 'jax'"),
    (lambda: optimizers.AdamW(weight_decay=None), r"`weight_decay` must be a float. Received: weight_decay=None"),
    (lambda: optimizers.SGD(momentum=1.5), r"`momentum` must be a float between \[0, 1\]. Received: momentum=1.5"),
    (lambda: optimizers.Lion(beta_1=0.0), r"`beta_1` must be in the \(0, 1\] range"),
    (lambda: optimizers.Ftrl(learning_rate_power=0.5), r"`learning_rate_power` needs to be negative or zero"),
    (lambda: optimizers.Ftrl(l1_regularization_strength=-1.0), r"`l1_regularization_strength` needs to be positive"),
    (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), clipnorm=1.0), r"does not support `clipnorm`. Inst"),
    (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), dynamic=False), r"no longer supports `dynamic=False`"),
])
def test_bad_arguments_are_refused_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_loss_scale_optimizer_needs_a_kerasish_optimizer():
    with pytest.raises(TypeError, match="inner_optimizer must be a kerasish optimizer .* received 'adam'"):
        optimizers.LossScaleOptimizer("adam")


def test_decay_is_ignored_with_a_warning_as_keras():
    with pytest.warns(UserWarning, match="`decay` is no longer supported"):
        opt = optimizers.SGD(decay=0.1)
    assert opt.get_config()["learning_rate"] == 0.01


def test_exclude_from_weight_decay_is_refused_after_build():
    opt = optimizers.AdamW().build([torch.nn.Parameter(torch.ones(2))])
    with pytest.raises(ValueError, match="only be configured before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["bias"])


def test_a_loss_scale_factor_without_scale_loss_is_refused_at_the_step():
    p = torch.nn.Parameter(torch.ones(2))
    opt = optimizers.SGD(0.1, loss_scale_factor=4.0).build([p])
    p.grad = torch.ones(2)
    with pytest.raises(RuntimeError, match=r"call loss = optimizer.scale_loss\(loss\) before loss.backward\(\)"):
        opt.step()
    opt.scale_loss((p * 1.0).sum()).backward()  # the gradient becomes 1 + 4 = 5, unscaled to 1.25
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.875, 0.875])


@pytest.mark.parametrize("cls, rule", [
    (optimizers.Adam, torch.optim.Adam), (optimizers.Nadam, torch.optim.NAdam), (optimizers.SGD, torch.optim.SGD),
    (optimizers.Adagrad, torch.optim.Adagrad), (optimizers.AdamW, torch.optim.AdamW),
])
def test_torch_formula_by_argument_or_defaults(cls, rule):
    p = torch.nn.Parameter(torch.ones(2))
    assert type(cls(formula="torch").build([p]).torch_optimizer) is rule
    assert type(cls().build([p]).torch_optimizer) is cls.keras_rule
    kerasish.config.set_defaults("torch")
    try:
        opt = cls()
        assert type(opt.build([p]).torch_optimizer) is rule and opt.get_config()["formula"] == "torch"
        assert type(optimizers.Lion().build([p]).torch_optimizer) is optimizers.KerasLionTorch  # Keras's only
    finally:
        kerasish.config.set_defaults("keras")
    assert cls(formula="torch", foreach=False).build([p]).torch_optimizer.defaults["foreach"] is False


def test_weight_decay_is_decoupled_by_default_and_coupled_with_the_torch_formula():
    def one_step(**kwargs):
        p = torch.nn.Parameter(torch.full((1,), 2.0))
        opt = optimizers.Adam(learning_rate=0.1, weight_decay=0.1, **kwargs).build([p])
        p.grad = torch.zeros(1)
        opt.step()
        return p.item()

    assert one_step() == pytest.approx(2.0 * (1 - 0.1 * 0.1))  # Keras 3: w -= lr * wd * w, then Adam (g = 0)
    assert one_step(formula="torch") == pytest.approx(2.0 - 0.1, rel=1e-6)  # torch: g = wd * w through Adam


def test_nadam_uses_keras_momentum_schedule_not_torchs():
    def after(formula):
        p = torch.nn.Parameter(torch.ones(3))
        opt = optimizers.Nadam(learning_rate=0.1, formula=formula).build([p])
        for _ in range(3):
            p.grad = torch.tensor([0.5, -1.0, 2.0])
            opt.step()
        return p.detach().numpy()

    assert not np.allclose(after("keras"), after("torch"), rtol=1e-4)


def test_clipping_accumulation_and_ema_add_no_host_sync_per_step(sync_counter):  # noqa: F811 - the fixture
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = rng.normal(size=(40, 2)).astype("float32")

    def syncs(batch_size):
        model = kerasish.Sequential([kerasish.layers.Dense(8, activation="tanh"), kerasish.layers.Dense(2)])
        model.compile(optimizer=optimizers.Nadam(global_clipnorm=1.0, use_ema=True, ema_overwrite_frequency=3,
                                                 gradient_accumulation_steps=2, weight_decay=0.1), loss="mse")
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
        before = sync_counter["n"]
        model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0)
        return sync_counter["n"] - before

    assert syncs(20) == syncs(2)


def test_accumulators_average_and_schedule_resume_exactly_after_save(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 5)).astype("float32")
    y = rng.normal(size=(24, 2)).astype("float32")

    def model():
        kerasish.utils.set_random_seed(3)
        m = kerasish.Sequential([kerasish.Input((5,)), kerasish.layers.Dense(4), kerasish.layers.Dense(2)])
        m.compile(optimizer=optimizers.Nadam(0.01, use_ema=True, gradient_accumulation_steps=4), loss="mse")
        return m

    straight = model()
    straight.fit(x, y, batch_size=2, epochs=4, shuffle=False, verbose=0)  # 12 steps per epoch: 3 updates
    first = model()
    first.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0)  # 5 steps: one half-filled accumulator
    first.fit(x[10:], y[10:], batch_size=2, epochs=1, shuffle=False, verbose=0)  # 7 more: 12 in all
    path = str(tmp_path / "m.kerasish")
    first.save(path)
    resumed = kerasish.saving.load_model(path)
    assert resumed.optimizer.iterations == 3
    resumed.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0)
    again = model()
    again.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    again.fit(x[10:], y[10:], batch_size=2, epochs=1, shuffle=False, verbose=0)
    again.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 12
    np.testing.assert_array_equal(resumed.optimizer.state_dict()["ema_averages"][0].numpy(),
                                  again.optimizer.state_dict()["ema_averages"][0].numpy())


def test_loss_scale_optimizer_skips_non_finite_steps_and_adapts_its_scale():
    p = torch.nn.Parameter(torch.ones(2))
    opt = optimizers.LossScaleOptimizer(optimizers.SGD(0.5), initial_scale=4.0, dynamic_growth_steps=2).build([p])

    def step(value):
        opt.scale_loss((p * torch.tensor(value)).sum()).backward()
        opt.step()
        opt.zero_grad()
        return float(opt.dynamic_scale), p.detach().tolist()

    assert step(float("inf")) == (2.0, [1.0, 1.0])  # skipped, scale halved
    assert opt.iterations == 0
    assert step(1.0) == (2.0, [0.5, 0.5])  # unscaled gradient 1.0
    assert step(1.0) == (4.0, [0.0, 0.0])  # two finite steps in a row: doubled
    assert opt.iterations == 2 and opt.learning_rate == 0.5
    state = opt.state_dict()
    assert float(state["loss_scale"]["scale"]) == 4.0 and state["iterations"] == 2


def test_new_optimizers_have_string_names():
    for name, cls in [("lion", optimizers.Lion), ("ftrl", optimizers.Ftrl), ("lamb", optimizers.Lamb),
                      ("adafactor", optimizers.Adafactor)]:
        assert type(optimizers.get(name)) is cls
    with pytest.raises(ValueError, match="lamb"):
        optimizers.get("lambb")


def test_a_torch_adam_state_is_refused_by_keras_adam_with_the_fix():
    p = torch.nn.Parameter(torch.ones(2))
    torch_adam = optimizers.Adam(formula="torch").build([p])
    p.grad = torch.ones(2)
    torch_adam.step()
    keras_adam = optimizers.Adam().build([p])
    with pytest.raises(ValueError, match=r"lacks \['momentum', 'velocity'\].*formula='torch'"):
        keras_adam.load_state_dict(torch_adam.state_dict())
    again = optimizers.Adam(formula="torch").build([p])
    again.load_state_dict(torch_adam.state_dict())
    assert again.iterations == 1


@pytest.mark.parametrize("make", [
    lambda: kerasish.optimizers.Adam(gradient_accumulation_steps=2),
    lambda: kerasish.optimizers.Adam(loss_scale_factor=8.0),
    lambda: kerasish.optimizers.LossScaleOptimizer(kerasish.optimizers.Adam()),
])
def test_mixed_float16_refuses_optimizer_features_its_grad_scaler_would_bypass(make):
    from kerasish import mixed_precision

    model = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(1)])
    model.compile(optimizer=make(), loss="mse", device="cpu")
    mixed_precision.set_global_policy("mixed_float16")
    try:
        with pytest.raises(ValueError, match="mixed_float16.*GradScaler.*mixed_bfloat16"):
            model.fit(np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32"), verbose=0)
    finally:
        mixed_precision.set_global_policy("float32")
