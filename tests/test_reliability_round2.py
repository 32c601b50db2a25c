"""Bad weights and targets never train silently (issue 22).

- A non-finite update (loss, gradient, or a NaN batch from an iterable) is undone on the
  device: the weights equal those of a run without that batch, the logs count it, no host
  sync is added, and a run of them ends fit with an error naming the epoch and batch.
- sample_weight / class_weight, target shapes, what custom losses and metrics return, and
  argument types are checked up front, with messages that say what, the value, and the fix.
  Keras 3 accepts every one of these bad inputs silently (`test_keras_accepts_what_kerasish_refuses`).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import kerasish
from kerasish.callbacks import TerminateOnNaN
from kerasish.layers import Dense
from kerasish.models import Sequential
from kerasish.training.nonfinite import NonFiniteStepsError
from tests.keras_parity import keras_module
from tests.training.test_step import sync_counter  # noqa: F401 (the fixture: the same counting method)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 4)).astype("float32")
Y = RNG.normal(size=(64, 1)).astype("float32")
BAD_BATCH = 2  # batch index k (0-based) of 8 batches of 8


def _model(optimizer="sgd", loss="mse", metrics=None, units=1, activation=None):
    kerasish.utils.set_random_seed(0)
    m = Sequential([Dense(3, activation="relu", input_shape=(4,)), Dense(units, activation=activation)])
    opt = {
        "sgd": lambda: kerasish.optimizers.SGD(0.05, momentum=0.9),
        "torch_adam": lambda: kerasish.optimizers.Adam(0.01, formula="torch"),
    }.get(optimizer, lambda: optimizer)()
    m.compile(optimizer=opt, loss=loss, metrics=metrics, device="cpu")
    # The guard is opt-in (it costs a copy and a blend per step); these tests exercise it.
    m.fit = functools.partial(m.fit, skip_nonfinite=True)
    return m


def _loader(x, y, w=None, batch_size=8):
    tensors = [torch.tensor(x), torch.tensor(y)] + ([] if w is None else [torch.tensor(w)])
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size)


def _with_nan_in_batch(k=BAD_BATCH):
    x = X.copy()
    x[8 * k + 3, 1] = np.nan
    return x


def _weights_close(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


# --------------------------------------------------------------------- the device-side skip
@pytest.mark.parametrize("optimizer", ["sgd", "torch_adam"])
def test_nan_batch_from_a_dataloader_is_skipped_on_the_device(optimizer):
    bad = _model(optimizer)
    with pytest.warns(UserWarning, match=rf"Epoch 1: batch {BAD_BATCH} from the data iterable holds NaN"):
        history = bad.fit(_loader(_with_nan_in_batch(), Y), epochs=2, verbose=0)
    keep = np.r_[0:8 * BAD_BATCH, 8 * BAD_BATCH + 8:64]
    clean = _model(optimizer)
    clean.fit(_loader(X[keep], Y[keep]), epochs=2, verbose=0)
    # Momentum (SGD) and Adam's moments and step count did not move either: bitwise equal.
    assert _weights_close(bad, clean)
    assert history.history["skipped_steps"] == [1, 1]
    assert all(np.isfinite(w).all() for w in bad.get_weights())


def test_a_nan_batch_adds_no_host_sync(sync_counter):  # noqa: F811
    def syncs(x, batch_size=8):
        model = _model()
        model.fit(_loader(X, Y, batch_size=batch_size), epochs=1, verbose=0)  # build + warm up
        before = sync_counter["n"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(_loader(x, Y, batch_size=batch_size), epochs=2, verbose=0)
        return sync_counter["n"] - before

    clean = syncs(X)
    assert syncs(_with_nan_in_batch()) == clean
    assert syncs(X, batch_size=32) == clean  # 8 vs 2 guarded, input-checked batches per epoch


def test_host_syncs_of_the_guarded_step_do_not_grow_with_batches(sync_counter):  # noqa: F811
    def syncs(batch_size):
        model = _model()
        model.fit(X, Y, epochs=1, batch_size=batch_size, verbose=0)
        before = sync_counter["n"]
        model.fit(X, Y, epochs=2, batch_size=batch_size, verbose=0)
        return sync_counter["n"] - before

    assert syncs(32) == syncs(4)  # 2 vs 16 guarded updates per epoch


class NaNAt:
    """An mse whose value is NaN on the listed (1-based) calls."""

    def __init__(self, bad_calls):
        self.bad, self.calls = set(bad_calls), 0

    def __call__(self, y_true, y_pred):
        self.calls += 1
        values = torch.mean((y_true - y_pred) ** 2, dim=-1)
        return values * float("nan") if self.calls in self.bad else values


def test_a_nan_loss_from_array_data_never_reaches_the_weights():
    loss = NaNAt({3})
    model = _model(loss=loss)
    history = model.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert loss.calls == 8  # one evaluation per batch: the first-batch check adds none
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert history.history["skipped_steps"] == [1, 0]
    assert math.isnan(history.history["loss"][0]) and math.isfinite(history.history["loss"][1])


def test_skip_nonfinite_false_keeps_keras_behaviour():
    model = _model(loss=NaNAt({3}))
    history = model.fit(X, Y, epochs=1, batch_size=16, verbose=0, skip_nonfinite=False)
    assert "skipped_steps" not in history.history
    assert not any(np.isfinite(w).all() for w in model.get_weights())


def test_a_finite_loss_with_an_infinite_gradient_is_skipped():
    def sqrt_of_zero(y_true, y_pred):  # value 0, gradient 1 / (2 * sqrt(0)) = inf
        return torch.sqrt(y_pred - y_pred.detach()).mean(dim=-1) + torch.mean((y_true - y_pred) ** 2, dim=-1)

    model = _model(loss=sqrt_of_zero)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(X, Y, epochs=1, batch_size=16, verbose=0, max_nonfinite_steps=None)
    assert history.history["skipped_steps"] == [4]
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_consecutive_skips_end_fit_naming_the_epoch_and_batch():
    model = _model(loss=NaNAt(range(6, 100)))  # epoch 1 has 4 batches; NaN from epoch 2, batch 1 on
    with pytest.raises(NonFiniteStepsError,
                       match=r"skipped 3 consecutive updates .* reached at epoch 2, batch 3 .*max_nonfinite_steps"):
        model.fit(X, Y, epochs=5, batch_size=16, verbose=0, max_nonfinite_steps=3)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_without_a_limit_the_skips_are_only_counted():
    model = _model(loss=NaNAt(range(6, 100)))
    history = model.fit(X, Y, epochs=3, batch_size=16, verbose=0, max_nonfinite_steps=None)
    # Like the val_ keys under validation_freq, the key appears from the first epoch with a skip on
    # (a clean run's logs keep Keras's keys).
    assert history.history["skipped_steps"] == [3, 4]
    assert len(history.history["loss"]) == 3


def test_terminate_on_nan_still_stops_training_and_the_weights_stay_finite():
    model = _model(loss=NaNAt({6}))
    with pytest.warns(UserWarning, match="Epoch 2, batch 1: Invalid loss nan"):
        history = model.fit(X, Y, epochs=5, batch_size=16, verbose=0, callbacks=[TerminateOnNaN()])
    assert len(history.history["loss"]) == 2
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("kwargs, error, match", [
    ({"skip_nonfinite": "yes"}, TypeError, r"skip_nonfinite must be True or False, received skip_nonfinite='yes'"),
    ({"max_nonfinite_steps": 0}, ValueError, r"max_nonfinite_steps must be a positive integer or None, received "
                                             r"max_nonfinite_steps=0"),
])
def test_guard_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        _model().fit(X, Y, verbose=0, **kwargs)


# --------------------------------------------------------------------- sample and class weights
@pytest.mark.parametrize("bad, match", [
    (np.nan, r"sample_weight holds 1 invalid weight\(s\) out of 64; the first, at index 5, is non-finite \(nan\)"),
    (-1.0, r"sample_weight holds 1 invalid weight\(s\) out of 64; the first, at index 5, is negative \(-1.0\)"),
    (np.inf, r"at index 5, is non-finite \(inf\).*np.clip\(np.nan_to_num\(sample_weight\), 0, None\)"),
])
def test_bad_sample_weight_is_refused_before_training(bad, match):
    w = np.ones(64, "float32")
    w[5] = bad
    model = _model()
    before = [v.copy() for v in model.get_weights()]
    with pytest.raises(ValueError, match=match):
        model.fit(X, Y, sample_weight=w, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_bad_sample_weight_in_validation_data_is_refused():
    with pytest.raises(ValueError, match=r"sample_weight holds 1 invalid weight\(s\) out of 8.*negative"):
        _model().fit(X, Y, validation_data=(X[:8], Y[:8], -np.eye(8)[0]), verbose=0)


def test_a_negative_sample_weight_from_a_loader_names_the_batch():
    w = np.ones(64, "float32")
    w[8 * BAD_BATCH] = -2.0
    with pytest.raises(ValueError, match=rf"Batch {BAD_BATCH} from the data iterable is invalid: sample_weight "
                                         r"holds 1 invalid weight\(s\) out of 8; the first, at index 0, is negative"):
        _model().fit(_loader(X, Y, w), verbose=0)


def _classifier(units=3, activation="softmax"):
    loss = "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy"
    return _model(loss=loss, units=units, activation=activation)


@pytest.mark.parametrize("class_weight, match", [
    ({0: 1.0, 1: float("nan")}, r"class_weight\[1\] is nan; class weights must be finite numbers >= 0"),
    ({0: -1.0, 1: 1.0}, r"class_weight\[0\] is -1.0; .*maximise that class's loss"),
    ({0: 1.0, 1: float("inf")}, r"class_weight\[1\] is inf"),
    ({0: "1"}, r"class_weight\[0\] is '1'"),
    ({0: 1.0, 3: 2.0}, r"class_weight has key\(s\) \[3\] for class\(es\) the model does not have: its output has "
                       r"3 classes \(0 to 2\)"),
])
def test_bad_class_weight_is_refused(class_weight, match):
    with pytest.raises(ValueError, match=match):
        _classifier().fit(X, np.arange(64) % 3, class_weight=class_weight, verbose=0)


def test_one_sigmoid_unit_has_two_classes():
    y = (X[:, :1] > 0).astype("float32")
    with pytest.raises(ValueError, match=r"key\(s\) \[2\] .* its output has 2 classes \(0 to 1\)"):
        _classifier(1, "sigmoid").fit(X, y, class_weight={0: 1.0, 2: 1.0}, verbose=0)
    history = _classifier(1, "sigmoid").fit(X, y, class_weight={0: 1.0, 1: 3.0}, verbose=0)
    assert math.isfinite(history.history["loss"][0])


# --------------------------------------------------------------------- targets, losses and metrics
def test_targets_that_would_broadcast_against_the_output_are_refused():
    one_hot = np.eye(3, dtype="float32")[np.arange(64) % 3]
    with pytest.raises(ValueError, match=r"mse compares y with the model's output value by value, but y has "
                                         r"samples of shape \(3,\) .* output has samples of shape \(1,\); they "
                                         r"would broadcast into a wrong loss.*y of shape \(n, 1\)"):
        _model().fit(X, one_hot, verbose=0)


@pytest.mark.parametrize("y", [Y, Y[:, 0]])
def test_targets_matching_the_output_up_to_a_unit_axis_train(y):
    history = _model().fit(X, y, epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][0])


def test_a_custom_loss_returning_broadcast_values_is_refused():
    def pairwise(y_true, y_pred):  # (n, 1) against (1, n, 1): an (n, n, 1) tensor for a batch of n
        return (y_true[:, None] - y_pred[None]) ** 2

    with pytest.raises(ValueError, match=r"The loss 'pairwise' returned values of shape \(16, 16, 1\) for a batch "
                                         r"of 16 samples with y_pred of shape \(16, 1\); expected a scalar or one "
                                         r"value per sample: shape \(16,\).*Return per-sample losses"):
        _model(loss=pairwise).fit(X, Y, batch_size=16, verbose=0)


@pytest.mark.parametrize("fn", [
    lambda y_true, y_pred: torch.mean((y_true - y_pred) ** 2),
    lambda y_true, y_pred: torch.mean((y_true - y_pred) ** 2, dim=-1),
    lambda y_true, y_pred: (y_true - y_pred) ** 2,
])
def test_custom_losses_returning_a_scalar_or_per_sample_values_train(fn):
    history = _model(loss=fn).fit(X, Y, verbose=0)
    assert math.isfinite(history.history["loss"][0])


def test_a_custom_metric_returning_the_wrong_length_is_refused():
    def three_values(y_true, y_pred):
        return torch.ones(3)

    with pytest.raises(ValueError, match=r"The metric 'three_values' returned values of shape \(3,\) for a batch "
                                         r"of 16 samples.*Return one value per sample or a scalar"):
        _model(metrics=[three_values]).fit(X, Y, batch_size=16, verbose=0)


# --------------------------------------------------------------------- argument types
@pytest.mark.parametrize("shuffle, match", [
    ("no", r"shuffle must be True or False, received shuffle='no' \(type str\).*shuffle=False"),
    ("batch", r"shuffle='batch' exists for TensorFlow datasets only.*pass shuffle=True"),
    (1, r"received shuffle=1 \(type int\)"),
])
def test_shuffle_must_be_a_bool(shuffle, match):
    with pytest.raises(TypeError, match=match):
        _model().fit(X, Y, shuffle=shuffle, verbose=0)


def test_verbose_must_be_a_known_level():
    with pytest.raises(ValueError, match=r"verbose must be 'auto', 0, 1 or 2, received verbose='1' \(type str\)\. "
                                         r"Pass 0 \(silent\)"):
        _model().fit(X, Y, verbose="1")


# --------------------------------------------------------------------- the oracle
@pytest.mark.parametrize("case", ["broadcast_target", "nan_class_weight", "negative_sample_weight", "shuffle_no"])
def test_keras_accepts_what_kerasish_refuses(case):
    """Keras 3 trains on each of these without a word; kerasish refuses them (see the tests above)."""
    keras = keras_module()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "mse" if case == "broadcast_target" else "sparse_categorical_crossentropy")
    y = np.arange(64) % 3
    kwargs = {
        "broadcast_target": {"y": np.eye(3, dtype="float32")[y][:, :1]},
        "nan_class_weight": {"class_weight": {0: float("nan"), 1: 1.0, 2: 1.0}},
        "negative_sample_weight": {"sample_weight": -np.ones(64, "float32")},
        "shuffle_no": {"shuffle": "no"},
    }[case]
    history = model.fit(X, kwargs.pop("y", y), epochs=1, verbose=0, **kwargs)
    assert len(history.history["loss"]) == 1


def test_the_guard_is_off_by_default_as_keras_lets_nan_reach_the_weights():
    model = Sequential([Dense(1, input_shape=(4,))])
    model.compile(optimizer="sgd", loss="mse", device="cpu")
    history = model.fit(_loader(_with_nan_in_batch(), Y), epochs=1, verbose=0)
    assert "skipped_steps" not in history.history
    assert not np.isfinite(model.get_weights()[0]).all()


def test_without_the_guard_a_nan_loss_is_named_once_with_the_ways_out():
    model = _model()
    model.fit = functools.partial(model.fit.func, skip_nonfinite=False)  # the default
    with pytest.warns(UserWarning, match=r"Epoch 1: the training loss is nan.*skip_nonfinite=True.*TerminateOnNaN") \
            as caught:
        history = model.fit(_loader(_with_nan_in_batch(), Y), epochs=3, verbose=0)
    assert len([w for w in caught if "training loss is" in str(w.message)]) == 1  # once per fit, not per epoch
    assert math.isnan(history.history["loss"][0])  # fit goes on, as Keras does
    model = _model()  # built outside: its input_shape= gets Keras's construction warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(_loader(X, Y), epochs=1, verbose=0, shuffle=False)  # a finite loss: no warning


# ------------------------------------------------------------------ raw errors, now named
class _Recompile(kerasish.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.compile(optimizer="adam", loss="mae")


class _AddLayer(kerasish.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.add(Dense(1))


@pytest.mark.parametrize("callback, match", [
    (_Recompile(), r"compile\(\) was called on .* while its fit\(\) is running.*between two fit\(\) calls"),
    (_AddLayer(), r"Sequential.add was called on .* while its fit\(\) is running.*before fit\(\)"),
])
def test_changing_the_model_from_a_callback_mid_fit_is_refused_by_name(callback, match):
    model = _model()
    with pytest.raises(RuntimeError, match=match):
        model.fit(X, Y, epochs=2, verbose=0, callbacks=[callback])
    model.compile(optimizer="adam", loss="mae")  # between fits: fine
    model.add(Dense(1))


@pytest.mark.parametrize("x, match", [
    ({"a": X}, r"takes one input, but x is a dict with keys \['a'\]"),
    ([X, X], r"takes one input, but x is a list of 2 arrays"),
])
def test_several_inputs_for_a_one_input_model_are_refused_by_name(x, match):
    model = _model()
    with pytest.raises(ValueError, match=match):
        model.fit(x, Y, verbose=0)
    with pytest.raises(ValueError, match=match):
        model.predict(x, verbose=0)


def test_a_custom_loss_returning_a_number_and_meta_tensors_are_refused_by_name():
    model = Sequential([Dense(1, input_shape=(4,))])
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: 1.0)
    with pytest.raises(TypeError, match=r"returned a float \(1.0\); expected a tensor computed from y_true and y_pred"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(TypeError, match=r"x is a tensor on the 'meta' device"):
        _model().fit(torch.empty(64, 4, device="meta"), Y, verbose=0)


def test_an_unwritable_backup_folder_is_refused_before_training(tmp_path, monkeypatch):
    import os

    from kerasish.callbacks import BackupAndRestore

    model = _model()
    before = [w.copy() for w in model.get_weights()]
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p).startswith(str(tmp_path)) else
                        real_access(p, mode, **k))
    with pytest.raises(PermissionError, match=r"cannot write into its backup folder .*before|not writable by this"):
        model.fit(X, Y, epochs=2, verbose=0, callbacks=[BackupAndRestore(tmp_path / "backup")])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # no epoch ran


def test_a_skipped_first_update_keeps_the_weights_moving_average_right():
    # use_ema: the average starts at the weights; a first update undone by the non-finite guard must not
    # leave it at zero (the counter no longer reads 0 at the next update), or fit's end writes ~0.01 * w.
    x = np.random.default_rng(0).random((16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    x[0, 0] = np.nan
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=8)
    runs = {}
    for ema in (False, True):
        kerasish.utils.set_random_seed(0)
        model = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(1)])
        model.compile(optimizer=kerasish.optimizers.Adam(use_ema=ema), loss="mse")
        initial = model.get_weights()
        model.fit(loader, epochs=1, verbose=0, skip_nonfinite=True)
        runs[ema] = model.get_weights()
    # One update was applied (the second batch): the average is 0.99 * initial + 0.01 * updated.
    for w0, w1, average in zip(initial, runs[False], runs[True]):
        np.testing.assert_allclose(average, 0.99 * w0 + 0.01 * w1, rtol=1e-5, atol=1e-7)
