"""The per-step shortcuts keep Keras's numbers and every observer a user can attach.

The built-in step skips work a hand loop does not do: one torch kernel for MSE/MAE and for the
cross-entropies' logits forms, the model's own `__call__` when it would add nothing, and torch's
profiling/hook wrappers around the optimizer's `step` and `zero_grad` when nothing observes them.
Each shortcut is checked here against the long way (and Keras), and each observer (hooks, LR
schedulers, the profiler, a dtype policy, an activity regularizer) against the shortcut.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers, losses
from kerasish.models import Sequential
from tests.keras_parity import assert_close, copy_weights, keras_module

RNG = np.random.default_rng(0)


# ------------------------------------------------------------------ losses: one kernel, same value
@pytest.mark.parametrize("name", ["MeanSquaredError", "MeanAbsoluteError"])
@pytest.mark.parametrize("shape", [(8, 3), (8, 1), (4, 5, 2)])
def test_one_kernel_regression_losses_equal_keras_with_gradients(name, shape):
    keras = keras_module()
    y = RNG.normal(size=shape).astype("float32")
    p = RNG.normal(size=shape).astype("float32")
    pt = torch.tensor(p, requires_grad=True)
    ours = getattr(losses, name)()(torch.tensor(y), pt)
    ours.backward()
    pk = torch.tensor(p, requires_grad=True)
    theirs = getattr(keras.losses, name)()(torch.tensor(y), pk)
    theirs.backward()
    assert_close(ours, theirs.detach(), atol=1e-6)
    assert_close(pt.grad, pk.grad, atol=1e-7)


def test_one_kernel_path_is_skipped_where_it_would_differ():
    y, p = torch.tensor(RNG.normal(size=(6, 3)), dtype=torch.float32), torch.tensor(RNG.normal(size=(6, 3)),
                                                                                    dtype=torch.float32)
    w = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.5, 0.0])
    mse = losses.MeanSquaredError()
    per_sample = ((y - p) ** 2).mean(-1)
    assert_close(mse(y, p, w), (per_sample * w).sum() / 6)  # weighted: the general reduction
    assert_close(losses.MeanSquaredError(reduction="sum")(y, p), per_sample.sum())
    # (n,) labels against an (n, 1) output: aligned first, as Keras does.
    assert_close(mse(y[:, 0], p[:, :1]), ((y[:, 0] - p[:, 0]) ** 2).mean())

    class Doubled(losses.MeanSquaredError):
        def call(self, y_true, y_pred):
            return 2.0 * super().call(y_true, y_pred)

    assert_close(Doubled()(y, p), 2 * per_sample.mean())  # a subclass's call() is honoured


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_logits_forms_equal_keras(smoothing):
    keras = keras_module()
    logits = RNG.normal(size=(8, 4)).astype("float32")
    onehot = np.eye(4, dtype="float32")[RNG.integers(0, 4, 8)]
    binary = RNG.integers(0, 2, (8, 4)).astype("float32")
    for ours, theirs, y in [
        (losses.CategoricalCrossentropy(label_smoothing=smoothing),
         keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing), onehot),
        (losses.BinaryCrossentropy(label_smoothing=smoothing),
         keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing), binary),
    ]:
        lt = torch.tensor(logits, requires_grad=True)
        value = ours.reduced_logits(torch.tensor(y), lt, None)
        value.backward()
        lk = torch.tensor(logits, requires_grad=True)
        expected = theirs(torch.tensor(y), lk)
        expected.backward()
        assert_close(value, expected.detach(), atol=1e-6)
        assert_close(lt.grad, lk.grad, atol=1e-6)


# ------------------------------------------------------------------ fit: same weights as Keras
def _data():
    x = RNG.normal(size=(64, 5)).astype("float32")
    return x, (x @ RNG.normal(size=(5, 2))).astype("float32")


def test_fit_with_the_shortcuts_trains_to_keras_weights():
    keras = keras_module()
    x, y = _data()
    km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    km.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    ours = Sequential([layers.Input((5,)), layers.Dense(8, activation="relu"), layers.Dense(2)])
    ours.compile(optimizer=kerasish.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    copy_weights(km, ours)
    hk = km.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    ho = ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(ho.history["loss"], hk.history["loss"], rtol=1e-5)
    assert_close(ours.get_weights(), km.get_weights(), atol=1e-5)


# ------------------------------------------------------------------ observers still see every step
def _model():
    model = Sequential([layers.Input((5,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_forward_hooks_on_the_model_run_in_every_step():
    x, y = _data()
    model = _model()
    seen = []
    handle = model.register_forward_hook(lambda module, args, out: seen.append(out.shape[0]))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    handle.remove()
    assert seen == [16, 16, 16, 16]


def test_a_forward_hook_on_a_softmax_model_is_called_although_the_loss_could_use_the_logits():
    x = RNG.normal(size=(32, 5)).astype("float32")
    y = RNG.integers(0, 3, 32)
    model = Sequential([layers.Input((5,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = []
    model.register_forward_hook(lambda module, args, out: seen.append(float(out.sum(-1).mean())))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert seen == pytest.approx([1.0, 1.0], abs=1e-5)  # the hook saw the probabilities of each batch


def test_a_hook_a_callback_registers_during_fit_is_called_from_then_on():
    x = RNG.normal(size=(32, 5)).astype("float32")
    y = RNG.integers(0, 3, 32)
    model = Sequential([layers.Input((5,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = []

    class HookAfterFirstBatch(kerasish.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                self.model.register_forward_hook(lambda module, args, out: seen.append(out.shape))

    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[HookAfterFirstBatch()])
    assert seen == [(8, 3)] * 3 and np.isfinite(history.history["loss"][0])


def test_a_forward_hook_on_a_multi_output_model_with_softmax_heads_is_called():
    inp = layers.Input((5,))
    model = kerasish.models.Model(inp, [layers.Dense(3, activation="softmax", name="a")(inp),
                                        layers.Dense(2, activation="softmax", name="b")(inp)])
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy"] * 2)
    x = RNG.normal(size=(16, 5)).astype("float32")
    seen = []
    model.register_forward_hook(lambda module, args, out: seen.append([float(o.sum(-1).mean()) for o in out]))
    model.fit(x, [RNG.integers(0, 3, 16), RNG.integers(0, 2, 16)], batch_size=8, epochs=1, verbose=0)
    assert np.allclose(seen, 1.0, atol=1e-5) and len(seen) == 2


def test_activity_regularizer_set_on_the_model_after_compile_adds_to_the_loss():
    x, y = _data()
    model = _model()
    plain = model.evaluate(x, y, verbose=0)
    model.activity_regularizer = kerasish.regularizers.L2(10.0)
    penalised = model.evaluate(x, y, verbose=0)
    assert penalised > plain + 1e-3


def test_optimizer_step_hooks_and_torch_lr_schedulers_are_honoured():
    x, y = _data()
    model = _model()
    model.fit(x[:16], y[:16], batch_size=16, epochs=1, verbose=0)  # builds the torch optimizer
    topt = model.optimizer.torch_optimizer
    calls = {"pre": 0, "post": 0}
    topt.register_step_pre_hook(lambda *a: calls.__setitem__("pre", calls["pre"] + 1))
    topt.register_step_post_hook(lambda *a: calls.__setitem__("post", calls["post"] + 1))
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert calls == {"pre": 8, "post": 8}

    model = _model()
    model.fit(x[:16], y[:16], batch_size=16, epochs=1, verbose=0)
    sched = torch.optim.lr_scheduler.StepLR(model.optimizer.torch_optimizer, step_size=1, gamma=0.5)
    with _no_scheduler_warning():
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        sched.step()  # torch warns if the optimizer's step was never seen: it was
    assert sched.get_last_lr()[0] == pytest.approx(0.005)


class _no_scheduler_warning:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings(record=True)
        self.records = self._w.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._w.__exit__(*exc)
        assert not [r for r in self.records if "lr_scheduler.step()" in str(r.message)], self.records


def test_the_profiler_sees_the_optimizer_step_and_zero_grad():
    x, y = _data()
    model = _model()
    model.fit(x[:16], y[:16], batch_size=16, epochs=1, verbose=0)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    names = {e.name for e in prof.events()}
    assert any(n.startswith("Optimizer.step#") for n in names), sorted(names)[:20]
    assert any(n.startswith("Optimizer.zero_grad#") for n in names)


def test_gradients_are_cleared_after_each_step():
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert all(p.grad is None for p in model.parameters())
