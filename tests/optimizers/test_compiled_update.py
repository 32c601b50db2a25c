"""CompiledUpdate: Keras's clipping and update rules as tensors give the eager optimizer's results.

Two levels: the update itself run without a compiler against `optimizer.step()` (fast, many
steps, every rule and clipping), and `fit` with `jit_compile` against an eager `fit`, where
the update really is inside the compiled graph (counted: only the first and the short
batches run the eager rule). The fits compile with the 'aot_eager' backend; inductor is
marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from kerasish.optimizers.compiled_update import CompiledUpdate
from tests.training.test_compiled_step import (
    QUICK,
    _assert_same_training,
    _count_rule_steps,
    _fit,
    _mlp,
    check_update_joins_the_graph,
)
from tests.keras_parity import assert_close, keras_module

opts = kerasish.optimizers


def _schedule():
    return opts.schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5)


RULES = {
    "adamax": lambda **kw: opts.Adamax(_schedule(), **kw),
    "nadam": lambda **kw: opts.Nadam(_schedule(), **kw),
    "lion": lambda **kw: opts.Lion(_schedule(), **kw),
    "adam": lambda **kw: opts.Adam(_schedule(), amsgrad=True, **kw),
    "sgd": lambda **kw: opts.SGD(_schedule(), momentum=0.9, nesterov=True, **kw),
    "rmsprop": lambda **kw: opts.RMSprop(_schedule(), momentum=0.5, centered=True, **kw),
}
CLIPPING = {"none": {}, "clipnorm": {"clipnorm": 0.5}, "global_clipnorm": {"global_clipnorm": 0.7},
            "clipvalue": {"clipvalue": 0.3}}


def _params(dtype):
    gen = torch.Generator().manual_seed(1)
    shapes = [(3, 4), (4,), (2, 2)]
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]


def _grads(step, dtype):
    # Norms around 0.5-3: some gradients are clipped, some not; one value is large for clipvalue.
    gen = torch.Generator().manual_seed(100 + step)
    grads = [torch.randn(s, generator=gen, dtype=dtype) * (0.3 + step % 3) for s in [(3, 4), (4,), (2, 2)]]
    grads[2] = None if step == 2 else grads[2]  # a weight the loss did not reach this step
    return grads


def _step_both(build, dtype, steps=6, decay_without_bias=False):
    """Runs `optimizer.step()` and CompiledUpdate (untraced) side by side; returns both weight sets."""
    eager_params, compiled_params = _params(dtype), _params(dtype)
    eager_opt, compiled_opt = build(), build()
    for opt, params in ((eager_opt, eager_params), (compiled_opt, compiled_params)):
        if decay_without_bias:
            opt.exclude_from_weight_decay(var_list=[params[1]])  # two param groups
        opt.build(params)
    update = CompiledUpdate(compiled_opt)
    for step in range(steps):
        grads = _grads(step, dtype)
        for p, g in zip(eager_params, grads):
            p.grad = None if g is None else g.clone()
        eager_opt.step()
        prepared = update.prepare()
        by_param = {id(p): g for p, g in zip(compiled_params, grads)}
        update.apply(prepared, [by_param[id(p)] for p in update.params(prepared)])
        update.finish()
    assert compiled_opt.iterations == eager_opt.iterations == steps
    assert compiled_opt.learning_rate == eager_opt.learning_rate < 0.05 / 2  # the schedule moved
    return eager_params, compiled_params


@pytest.mark.parametrize("clipping", sorted(CLIPPING))
@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_tensor_update_equals_the_eager_step(rule, clipping):
    eager, compiled = _step_both(lambda: RULES[rule](**CLIPPING[clipping]), torch.float32)
    for a, b in zip(eager, compiled):
        torch.testing.assert_close(b, a, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("rule", ["adamax", "nadam", "lion"])
def test_float64_weights_and_decay_in_two_groups_equal_the_eager_step(rule):
    eager, compiled = _step_both(lambda: RULES[rule](weight_decay=0.1, global_clipnorm=0.7), torch.float64,
                                 decay_without_bias=True)
    for a, b in zip(eager, compiled):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-14)


def test_clipping_bounds_changed_between_steps_are_followed():
    def build():
        return opts.SGD(0.1, clipnorm=0.5)

    eager_params, compiled_params = _params(torch.float32), _params(torch.float32)
    eager_opt, compiled_opt = build().build(eager_params), build().build(compiled_params)
    update = CompiledUpdate(compiled_opt)
    for step in range(4):
        if step == 2:
            eager_opt.clipnorm = compiled_opt.clipnorm = 2.0
        grads = [g if g is not None else torch.ones(2, 2) for g in _grads(step, torch.float32)]
        for p, g in zip(eager_params, grads):
            p.grad = g.clone()
        eager_opt.step()
        prepared = update.prepare()
        update.apply(prepared, grads)
        update.finish()
        for a, b in zip(eager_params, compiled_params):
            torch.testing.assert_close(b, a, rtol=2e-6, atol=1e-7)


def test_clipping_leaves_a_nan_norm_nan_as_keras_does():
    w = torch.nn.Parameter(torch.ones(2))
    opt = opts.SGD(0.1, global_clipnorm=1.0).build([w])
    update = CompiledUpdate(opt)
    update.apply(update.prepare(), [torch.tensor([float("inf"), 1.0])])
    assert torch.isnan(w).all()


def test_undo_takes_back_nadams_momentum_cache_product():
    def build(params):
        return opts.Nadam(0.01).build(params)

    p1, p2 = _params(torch.float32), _params(torch.float32)
    o1, o2 = build(p1), build(p2)
    update = CompiledUpdate(o2)
    update.undo(update.prepare())  # a compiled step that did not run (it then runs eagerly)
    for opt, params in ((o1, p1), (o2, p2)):
        for _ in range(3):
            for p, g in zip(params, _grads(0, torch.float32)):
                p.grad = g
            opt.step()
    assert o2.torch_optimizer.param_groups[0]["u_product"] == o1.torch_optimizer.param_groups[0]["u_product"]
    for a, b in zip(p1, p2):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


# ----------------------------------------------------------------- what keeps the eager update
# Moved from tests/training/test_compiled_step.py; clipnorm, now compiled, gave way to loss_scale_factor.
@pytest.mark.parametrize("build, match", [
    (lambda: opts.Adagrad(0.1), r"its update rule KerasAdagradTorch has no compiled form.*KerasAdamTorch"),
    (lambda: opts.Adamax(0.1, formula="torch"), r"its update rule Adamax has no compiled form.*KerasLionTorch"),
    (lambda: opts.SGD(0.1, loss_scale_factor=128.0), "it sets loss_scale_factor"),
    (lambda: opts.SGD(0.1, gradient_accumulation_steps=2), "it sets gradient_accumulation_steps"),
    (lambda: opts.LossScaleOptimizer(opts.SGD(0.1)), "LossScaleOptimizer changes how a step runs"),
])
def test_compiled_update_refuses_what_it_cannot_run(build, match):
    opt = build()
    opt.build([torch.nn.Parameter(torch.ones(2))])
    assert CompiledUpdate.unsupported(opt) is not None
    with pytest.raises(ValueError, match=r"CompiledUpdate cannot run .*'s update: " + match + ".*Run its eager update"):
        CompiledUpdate(opt)


def test_compiled_update_refuses_an_unbuilt_optimizer():
    with pytest.raises(ValueError, match="it is not a built kerasish optimizer"):
        CompiledUpdate(opts.SGD(0.1))


@pytest.mark.parametrize("build", [lambda: opts.SGD(0.1, clipnorm=1.0), lambda: opts.Nadam(global_clipnorm=1.0),
                                   lambda: opts.Lion(clipvalue=0.1), lambda: opts.Adamax()],
                         ids=["sgd_clipnorm", "nadam_global_clipnorm", "lion_clipvalue", "adamax"])
def test_the_new_settings_and_rules_are_accepted(build):
    opt = build().build([torch.nn.Parameter(torch.ones(2))])
    assert CompiledUpdate.unsupported(opt) is None


# ----------------------------------------------------------------- inside the compiled step (aot_eager)
FITS = {
    "adam_clipnorm": lambda: opts.Adam(0.01, clipnorm=0.05),
    "sgd_global_clipnorm_schedule": lambda: opts.SGD(
        opts.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5), momentum=0.9, global_clipnorm=0.1),
    "rmsprop_clipvalue": lambda: opts.RMSprop(0.01, clipvalue=0.002),
    "adamax": lambda: opts.Adamax(0.01),
    "nadam_schedule_decay": lambda: opts.Nadam(
        opts.schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5), weight_decay=0.05),
    "lion": lambda: opts.Lion(0.003),
}


@pytest.mark.parametrize("name", sorted(FITS))
def test_fit_with_the_update_in_the_graph_matches_eager_fit(name, monkeypatch):
    check_update_joins_the_graph(FITS[name], monkeypatch)


def test_the_clipping_in_the_fits_really_clips():
    # Without it the fits above would pass with clipping dropped on both sides.
    clipped = _fit(_mlp, False, optimizer=FITS["adam_clipnorm"]())
    free = _fit(_mlp, False, optimizer=opts.Adam(0.01))
    assert not np.allclose(clipped[0].get_weights()[0], free[0].get_weights()[0], atol=1e-4)


@pytest.mark.slow
def test_inductor_nadam_with_clipnorm_and_a_schedule_matches_eager(monkeypatch):
    def build():
        return opts.Nadam(opts.schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5), clipnorm=0.05)

    eager = _fit(_mlp, False, optimizer=build())
    calls = _count_rule_steps(monkeypatch)
    compiled = _fit(_mlp, True, optimizer=build())
    assert calls["n"] == 3
    _assert_same_training(eager, compiled)


# ----------------------------------------------------------------- against Keras itself
@pytest.mark.parametrize("name, kwargs", [
    ("Nadam", dict(learning_rate=("schedule", 0.01), global_clipnorm=0.1)),
    ("Adamax", dict(learning_rate=0.01, clipnorm=0.05)),
    ("Lion", dict(learning_rate=("schedule", 0.003), clipvalue=0.01, weight_decay=0.1)),
])
def test_compiled_fit_matches_keras(name, kwargs, monkeypatch):
    k = keras_module()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 2))).astype("float32")
    models = [module.Sequential([module.Input((5,)), module.layers.Dense(8, activation="tanh"),
                                 module.layers.Dense(2)]) for module in (k, kerasish)]
    models[1].set_weights(models[0].get_weights())
    losses = []
    for model, module, jit in zip(models, (k, kerasish), (False, QUICK)):
        args = dict(kwargs)
        if isinstance(args["learning_rate"], tuple):
            args["learning_rate"] = module.optimizers.schedules.ExponentialDecay(
                args["learning_rate"][1], decay_steps=4, decay_rate=0.5)
        model.compile(optimizer=getattr(module.optimizers, name)(**args), loss="mse", jit_compile=jit)
        if module is kerasish:
            calls = _count_rule_steps(monkeypatch)
        losses.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"])
    assert calls["n"] == 1  # 20 steps: the first eager, 19 in the compiled graph
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    assert_close(models[1].get_weights(), models[0].get_weights(), rtol=1e-5, atol=1e-6)
    assert models[1].optimizer.iterations == int(models[0].optimizer.iterations) == 20
