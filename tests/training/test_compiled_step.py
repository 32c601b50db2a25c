"""compile(jit_compile=...): the built-in step under torch.compile gives the eager results.

Compiling with inductor takes tens of seconds per graph on a busy CPU, so those tests are
marked slow; the quick ones compile with the 'aot_eager' backend (dynamo and AOTAutograd
trace the same forward and backward graphs, without code generation) or force a failure.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

import kerasish
from kerasish import layers
from kerasish.models import Sequential
from kerasish.training import trainer
from kerasish.training.compiled_step import install, resolve_jit_compile
from tests.keras_parity import assert_close, keras_module
from tests.training.test_step import SYNC_METHODS

QUICK = {"backend": "aot_eager"}
RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 12)).astype("float32")  # 200 = 3 batches of 64 and a short one of 8
Y = (X[:, 0] + X[:, 1] > 0).astype("int64")


def _mlp():
    return Sequential([layers.Dense(16, activation="relu", input_shape=(12,)), layers.Dense(2, activation="softmax")])


def _fit(build, jit, x=X, y=Y, optimizer="adam", loss="sparse_categorical_crossentropy", fallback_ok=False,
         **fit_kwargs):
    kerasish.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=jit)
    fit_kwargs = {"epochs": 2, "batch_size": 64, "shuffle": False, "verbose": 0, **fit_kwargs}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, **fit_kwargs).history
    for w in caught:
        if not fallback_ok:
            assert "jit_compile" not in str(w.message), str(w.message)  # it really ran compiled
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model, history


def _assert_same_training(eager, compiled, atol=1e-5):
    (m1, h1), (m2, h2) = eager, compiled
    assert h1.keys() == h2.keys()
    for key in h1:
        np.testing.assert_allclose(h2[key], h1[key], rtol=1e-5, atol=atol, err_msg=key)
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=atol)


def _compiled_graphs() -> int:
    return counters["stats"]["unique_graphs"]


# ----------------------------------------------------------------- options
@pytest.mark.parametrize("value, error, match", [
    ({"mdoe": "default"}, ValueError, r"unknown torch.compile option\(s\) \['mdoe'\].*Did you mean 'mode'"),
    ({"mode": "fastest"}, ValueError, r"mode='fastest'.*'reduce-overhead'"),
    ({"mode": "default", "options": {"trace.enabled": True}}, ValueError, "both mode='default' and options"),
    ({"fullgraph": "yes"}, TypeError, "'fullgraph' must be True or False, received 'yes'"),
    ({"dynamic": 1.5}, TypeError, "'dynamic' must be True, False or None"),
    ({"options": ["x"]}, TypeError, "'options' must be a dict, received list"),
    ({"backend": "no_such_backend"}, ValueError, "backend='no_such_backend'.*available backends.*inductor"),
    ("xla", ValueError, r"jit_compile must be True, False, 'auto' or a dict.*received 'xla'"),
])
def test_bad_jit_compile_values_are_refused_at_compile(value, error, match):
    model = _mlp()
    with pytest.raises(error, match=match):
        model.compile(optimizer="adam", loss="mse", jit_compile=value)


def test_true_means_torch_defaults_and_auto_and_false_mean_eager():
    assert resolve_jit_compile(True) == {}
    assert resolve_jit_compile({"mode": "reduce-overhead"}) == {"mode": "reduce-overhead"}
    assert resolve_jit_compile(False) is None and resolve_jit_compile("auto") is None
    model, _ = _fit(_mlp, "auto", epochs=1)
    assert not hasattr(model, "compile_time_s")  # nothing was compiled


def test_auto_resolves_as_keras_does_on_torch():
    keras = keras_module()
    theirs = keras.Sequential([keras.Input((12,)), keras.layers.Dense(2)])
    theirs.compile(optimizer="adam", loss="mse", jit_compile="auto")
    assert theirs.jit_compile is (resolve_jit_compile("auto") is not None)


# ----------------------------------------------------------------- quick compiled runs (aot_eager)
def test_short_last_batch_runs_without_a_recompile_and_results_match_eager():
    eager = _fit(_mlp, False, epochs=3)
    counters.clear()
    compiled = _fit(_mlp, QUICK, epochs=3)
    assert _compiled_graphs() == 1  # batches of 64 compile once; the batch of 8 runs eagerly
    assert compiled[0].compile_time_s > 0
    _assert_same_training(eager, compiled)
    compiled[0].fit(X, Y, epochs=1, batch_size=64, shuffle=False, verbose=0)  # a later fit reuses the graph
    assert _compiled_graphs() == 1


def test_dynamic_option_compiles_every_batch_size():
    counters.clear()
    model, _ = _fit(_mlp, {"backend": "aot_eager", "dynamic": True}, epochs=2)
    assert _compiled_graphs() >= 1
    eager = _fit(_mlp, False, epochs=2)
    _assert_same_training(eager, (model, _))


def test_weights_mixed_precision_and_the_nonfinite_guard_keep_working():
    w = RNG.uniform(0.5, 2.0, size=len(X)).astype("float32")
    for kwargs in (dict(sample_weight=w, skip_nonfinite=True), dict(class_weight={0: 1.0, 1: 3.0})):
        eager = _fit(_mlp, False, **kwargs)
        compiled = _fit(_mlp, QUICK, **kwargs)
        _assert_same_training(eager, compiled)
    kerasish.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        eager = _fit(_mlp, False)
        compiled = _fit(_mlp, QUICK)
    finally:
        kerasish.mixed_precision.set_global_policy("float32")
    _assert_same_training(eager, compiled, atol=1e-3)


def test_compiled_test_step_gives_the_eager_metrics():
    model, _ = _fit(_mlp, QUICK, epochs=1)
    data = trainer.prepare(model, X, Y, None, 64, False, None, need_y=True)
    results = {}
    for jit in (False, True):
        steps = trainer._make_steps(model, data.y_sample)
        if jit:
            install(steps, QUICK)
        steps.reset()
        with torch.inference_mode():
            for batch in data.adapter:
                steps.test_step(*batch)
        results[jit] = [t.result() for t in steps.trackers()]
    assert_close(results[True], results[False])
    assert model.evaluate(X, Y, batch_size=64, verbose=0) == pytest.approx([float(r) for r in results[False]])


def test_a_failing_compiler_warns_once_and_the_model_trains_eagerly():
    calls = {"n": 0}

    def broken_backend(gm, example_inputs):
        calls["n"] += 1
        raise RuntimeError("no code generator here")

    eager = _fit(_mlp, False, epochs=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = _fit(_mlp, {"backend": broken_backend}, epochs=3, fallback_ok=True)
        _assert_same_training(eager, compiled)
        compiled[0].fit(X, Y, epochs=1, batch_size=64, verbose=0)  # no second warning, no second attempt
    ours = [w for w in caught if "jit_compile" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    message = str(ours[0].message)
    assert "train step" in message and "no code generator here" in message and "runs eagerly" in message
    assert calls["n"] == 1


def test_torch_compile_itself_failing_warns_once(monkeypatch):
    def unavailable(*args, **kwargs):
        raise RuntimeError("torch.compile is not supported on this platform")

    monkeypatch.setattr(torch, "compile", unavailable)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, history = _fit(_mlp, True, epochs=3, fallback_ok=True)
    ours = [str(w.message) for w in caught if "jit_compile" in str(w.message)]
    assert len(ours) == 1 and "not supported on this platform" in ours[0]
    assert len(history["loss"]) == 3 and np.isfinite(history["loss"]).all()


def test_an_error_of_the_step_itself_is_raised_not_swallowed():
    class Breaks(layers.Layer):
        broken = False

        def call(self, inputs):
            if self.broken:
                raise ValueError("the layer's own error")
            return inputs

    class BreakAfterFirstBatch(kerasish.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.layers[-1].broken = True  # the second batch is the first compiled one

    model = Sequential([layers.Dense(2, input_shape=(12,)), Breaks()])
    model.compile(optimizer="adam", loss="mse", jit_compile=QUICK)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="the layer's own error"):
            model.fit(X[:128], X[:128, :2], batch_size=64, verbose=0, callbacks=[BreakAfterFirstBatch()])
    assert not [w for w in caught if "jit_compile" in str(w.message)]  # not mistaken for a compiler failure


# ----------------------------------------------------------------- the whole step as one graph (aot_eager)
def _count_rule_steps(monkeypatch):
    """Counts the eager update rule's steps: the batches whose update did not join the graph."""
    from kerasish.optimizers import torch_calls

    calls = {"n": 0}
    original = torch_calls.step

    def counted(opt):
        calls["n"] += 1
        return original(opt)

    monkeypatch.setattr(torch_calls, "step", counted)
    return calls


def _decay_without_bias():
    opt = kerasish.optimizers.Adam(0.01, weight_decay=0.05)
    opt.exclude_from_weight_decay(var_names=["bias"])  # two param groups
    return opt


OPTIMIZERS = {
    "sgd": lambda: kerasish.optimizers.SGD(0.05),
    "sgd_momentum": lambda: kerasish.optimizers.SGD(0.05, momentum=0.9),
    "sgd_nesterov": lambda: kerasish.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: kerasish.optimizers.RMSprop(0.01),
    "rmsprop_centered_momentum": lambda: kerasish.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adam": lambda: kerasish.optimizers.Adam(0.01),
    "adam_amsgrad_ema": lambda: kerasish.optimizers.Adam(0.01, amsgrad=True, use_ema=True),
    "adamw": lambda: kerasish.optimizers.AdamW(0.01, weight_decay=0.1),
    "adam_decay_without_bias": _decay_without_bias,
}


def check_update_joins_the_graph(build, monkeypatch):
    """A compiled fit with the optimizer `build()` makes equals the eager fit, in one graph."""
    eager = _fit(_mlp, False, optimizer=build())
    calls = _count_rule_steps(monkeypatch)
    counters.clear()
    compiled = _fit(_mlp, QUICK, optimizer=build())
    # 2 epochs of 3 batches of 64 and one of 8: the first batch and the short ones update eagerly.
    assert calls["n"] == 3
    assert _compiled_graphs() == 1  # one graph for every step, a schedule's too
    assert compiled[0].optimizer.iterations == eager[0].optimizer.iterations == 8
    _assert_same_training(eager, compiled)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_update_joins_the_compiled_step_and_matches_eager(name, monkeypatch):
    check_update_joins_the_graph(OPTIMIZERS[name], monkeypatch)


@pytest.mark.parametrize("name, build", [
    ("adagrad", lambda: kerasish.optimizers.Adagrad(0.05)),
    ("torch_formula", lambda: kerasish.optimizers.Adam(0.01, formula="torch")),
    ("lamb", lambda: kerasish.optimizers.Lamb(0.01)),
    ("accumulation", lambda: kerasish.optimizers.SGD(0.05, gradient_accumulation_steps=2)),
])
def test_optimizers_without_a_compiled_update_update_eagerly_with_the_same_results(name, build):
    eager = _fit(_mlp, False, optimizer=build())
    counters.clear()
    compiled = _fit(_mlp, QUICK, optimizer=build())  # the forward pass and loss still compile
    assert _compiled_graphs() == 1
    _assert_same_training(eager, compiled)


class _SetRateEveryBatch(kerasish.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = 0.02 / (1 + batch)


@pytest.mark.parametrize("how", ["schedule", "callback"])
def test_a_changing_learning_rate_compiles_once_over_50_steps(how, monkeypatch):
    def build_optimizer():
        if how == "schedule":
            rate = kerasish.optimizers.schedules.ExponentialDecay(0.02, decay_steps=5, decay_rate=0.5)
            return kerasish.optimizers.Adam(rate)
        return kerasish.optimizers.SGD(0.02, momentum=0.9)

    callbacks = [_SetRateEveryBatch()] if how == "callback" else []
    run = dict(batch_size=8, epochs=2, callbacks=callbacks)  # 200 / 8: 25 full batches per epoch
    eager = _fit(_mlp, False, optimizer=build_optimizer(), **run)
    calls = _count_rule_steps(monkeypatch)
    counters.clear()
    compiled = _fit(_mlp, QUICK, optimizer=build_optimizer(), **run)
    opt = compiled[0].optimizer
    assert opt.iterations == 50 and calls["n"] == 1  # 49 compiled steps ...
    assert opt.learning_rate < 0.02 / 20  # ... at rates that changed ...
    assert _compiled_graphs() == 1  # ... from one graph: no recompile
    _assert_same_training(eager, compiled)


def test_a_weight_frozen_mid_fit_stops_changing_as_in_eager():
    class FreezeFirstLayer(kerasish.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.model.layers[0].trainable = False  # a guard of the graph: one recompile

    eager = _fit(_mlp, False, callbacks=[FreezeFirstLayer()])
    counters.clear()
    compiled = _fit(_mlp, QUICK, callbacks=[FreezeFirstLayer()])
    assert _compiled_graphs() == 2
    _assert_same_training(eager, compiled)


def test_super_train_step_in_an_override_reaches_the_whole_compiled_step(monkeypatch):
    class Counting(Sequential):
        def train_step(self, data):
            self.seen = getattr(self, "seen", 0) + 1
            return super().train_step(data)

    def build():
        return Counting([layers.Dense(16, activation="relu", input_shape=(12,)), layers.Dense(2, activation="softmax")])

    eager = _fit(build, False)
    calls = _count_rule_steps(monkeypatch)
    counters.clear()
    compiled = _fit(build, QUICK)
    assert compiled[0].seen == 8 and calls["n"] == 3  # the override ran; 5 of its 8 updates were compiled
    assert _compiled_graphs() == 1
    _assert_same_training(eager, compiled)


def test_a_graph_break_keeps_the_compiled_loss_and_warns_once():
    class Breaks(layers.Layer):
        def call(self, inputs):
            torch._dynamo.graph_break()  # e.g. a layer calling into code dynamo cannot trace
            return inputs * 2.0

    def build():
        return Sequential([layers.Dense(4, activation="relu", input_shape=(12,)), Breaks(),
                           layers.Dense(2, activation="softmax")])

    eager = _fit(build, False, epochs=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = _fit(build, QUICK, epochs=3, fallback_ok=True)
    ours = [str(w.message) for w in caught if "jit_compile" in str(w.message)]
    assert len(ours) == 1, ours
    assert "as one graph" in ours[0] and "forward pass and loss still compile" in ours[0]
    assert "graph_break" in ours[0] or "graph break" in ours[0].lower()
    _assert_same_training(eager, compiled)


@pytest.fixture
def sync_counter(monkeypatch):
    """Counts the calls that would be a host sync on CUDA, as tests/training/test_step.py does.

    Not counted: calls from torch.optim (see test_step.py) and from dynamo's guards, which
    read 0-d float64 tensors (the loss tracker's and Mean metrics' totals) to check they are
    not NaN. torch installs those guards only for CPU tensors (FakeTensorConverter memoises
    `item()` for 0-d CPU tensors), where reading a value is a host-memory read, not a sync.
    """
    counts = {"n": 0, "guards": 0}
    for name in SYNC_METHODS:
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, __original=original, **kwargs):
            caller = sys._getframe(1).f_code
            if caller.co_filename == "<string>" and caller.co_name == "guard":
                counts["guards"] += 1
            elif "torch/optim/" not in caller.co_filename.replace("\\", "/"):
                counts["n"] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    return counts


def test_compiled_fit_host_syncs_do_not_grow_with_batches(sync_counter):
    x = RNG.normal(size=(640, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")

    def syncs(batch_size):
        model = Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                            layers.Dense(1, activation="sigmoid")])
        # A schedule: the whole step's update reads a new rate every batch (written with fill_, no sync).
        rate = kerasish.optimizers.schedules.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.9)
        model.compile(optimizer=kerasish.optimizers.Adam(rate), loss="binary_crossentropy",
                      metrics=["accuracy", "precision"], jit_compile=QUICK)
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)  # build, compile, warm up
        before = sync_counter["n"]
        model.fit(x, y, epochs=2, batch_size=batch_size, validation_split=0.25, verbose=0)
        return sync_counter["n"] - before

    counters.clear()
    few, many = syncs(160), syncs(8)  # 3 vs 60 training batches per epoch
    # Two per model, the whole train step and the validation step: the steps really ran compiled.
    assert counters["stats"]["unique_graphs"] == 4
    assert sync_counter["guards"] > 0  # ... and their guards were seen (and told apart)
    assert many == few, f"host syncs grew with the number of batches: {few} -> {many}"


# ----------------------------------------------------------------- inductor (slow)
@pytest.mark.slow
def test_inductor_mlp_matches_eager():
    eager = _fit(_mlp, False, epochs=3)
    counters.clear()
    compiled = _fit(_mlp, True, epochs=3)
    assert _compiled_graphs() == 1
    _assert_same_training(eager, compiled)


@pytest.mark.slow
def test_inductor_small_cnn_matches_eager():
    x = RNG.normal(size=(40, 8, 8, 1)).astype("float32")
    y = RNG.integers(0, 3, 40)

    def cnn():
        return Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), layers.MaxPooling2D(),
                           layers.Flatten(), layers.Dense(3, activation="softmax")])

    eager = _fit(cnn, False, x=x, y=y, batch_size=16, optimizer="sgd")
    counters.clear()
    compiled = _fit(cnn, True, x=x, y=y, batch_size=16, optimizer="sgd")
    assert _compiled_graphs() == 1
    _assert_same_training(eager, compiled)


@pytest.mark.parametrize("jit", [QUICK, pytest.param(True, marks=pytest.mark.slow)], ids=["aot_eager", "inductor"])
def test_multi_output_model_matches_eager(jit):
    x = RNG.normal(size=(48, 6)).astype("float32")
    ys = [np.eye(3, dtype="float32")[RNG.integers(0, 3, 48)], RNG.normal(size=(48, 2)).astype("float32")]

    def build():
        inp = kerasish.Input((6,))
        h = layers.Dense(8, activation="relu")(inp)
        return kerasish.Model(inp, [layers.Dense(3, activation="softmax", name="cls")(h),
                                    layers.Dense(2, name="reg")(h)])

    def run(jit):
        kerasish.utils.set_random_seed(0)
        model = build()
        model.compile(optimizer="rmsprop", loss=["categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                      metrics=[["accuracy"], ["mae"]], jit_compile=jit)
        return model, model.fit(x, ys, epochs=2, batch_size=16, shuffle=False, verbose=0).history

    eager = run(False)
    counters.clear()
    compiled = run(jit)
    assert _compiled_graphs() == 1
    _assert_same_training(eager, compiled)


def test_run_eagerly_turns_jit_compile_off_with_a_warning_as_keras_does():
    model = Sequential([layers.Dense(1, input_shape=(3,))])
    with pytest.warns(UserWarning, match=r"run_eagerly=True with jit_compile=True.*turned off"):
        model.compile(optimizer="sgd", loss="mse", run_eagerly=True, jit_compile=True)
    assert model._compile_config.jit_compile is False
