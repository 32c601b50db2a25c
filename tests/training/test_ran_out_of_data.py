"""Data that runs out before the epoch's steps, held against Keras 3 (torch backend).

Each case builds the same model in both libraries, gives them the same weights and the same
data, and compares what a user sees: batches per epoch, the logs' keys at each epoch end,
History (epochs, lengths and values), the "ran out of data" warnings, and which elements a
generator or Dataset handed out. The rules are written down in kerasish/training/epoch_data.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

import kerasish
from tests.keras_parity import assert_close, copy_weights, keras_module

X = (np.arange(80, dtype="float32") / 80.0).reshape(40, 2)
Y = (np.arange(40, dtype="float32") / 40.0).reshape(40, 1)
RAN_OUT = "Your input ran out of data; interrupting training"
# Keras draws the first batch once more to build its metrics (a generator's it keeps): the
# elements to drop from the front of Keras's record before comparing it with kerasish's.
BUILD_DRAW = {"dataloader": 10, "py_dataset": 1, "iterable_dataset": 1}


class _Drawn:
    """The elements a data source handed out, in order (the same list for both libraries' runs)."""

    def __init__(self):
        self.items = []


class _Rows(Dataset):
    def __init__(self, drawn):
        self.drawn = drawn

    def __len__(self):
        return 40

    def __getitem__(self, i):
        self.drawn.items.append(i)
        return torch.from_numpy(X[i]), torch.from_numpy(Y[i])


class _FiveBatches(IterableDataset):
    def __init__(self, drawn):
        self.drawn = drawn

    def __iter__(self):
        for i in range(5):
            self.drawn.items.append(i)
            yield torch.from_numpy(X[i * 8:(i + 1) * 8]), torch.from_numpy(Y[i * 8:(i + 1) * 8])


def _generator(n, drawn):
    for i in range(n):
        drawn.items.append(i)
        j = i * 8 % 40
        yield X[j:j + 8], Y[j:j + 8]


def _py_dataset(lib, drawn):
    class Batches(lib.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            drawn.items.append(i)
            return X[i * 10:(i + 1) * 10], Y[i * 10:(i + 1) * 10]

    return Batches()


def _models(k):
    """The same compiled model in Keras and kerasish, with the same starting weights."""
    models = {}
    for lib in (k, kerasish):
        models[lib] = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)])
        models[lib].compile(optimizer="sgd", loss="mse")
    copy_weights(models[k], models[kerasish])
    return models


def _counter(lib):
    class Count(lib.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.per_epoch, self.epoch_keys, self.test_batches = [], [], 0

        def on_epoch_begin(self, epoch, logs=None):
            self.per_epoch.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.per_epoch[-1] += 1

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_keys.append(sorted(logs or {}))

        def on_test_batch_end(self, batch, logs=None):
            self.test_batches += 1

    return Count()


# What each case passes: data made afresh for each library, from the library and a _Drawn.
DATA = {
    "arrays": lambda lib, d: {"x": X, "y": Y, "batch_size": 10, "shuffle": False},
    "dataloader": lambda lib, d: {"x": DataLoader(_Rows(d), batch_size=10), "shuffle": False},
    "iterable_dataset": lambda lib, d: {"x": DataLoader(_FiveBatches(d), batch_size=None), "shuffle": False},
    "generator5": lambda lib, d: {"x": _generator(5, d)},
    "generator6": lambda lib, d: {"x": _generator(6, d)},
    "generator20": lambda lib, d: {"x": _generator(20, d)},
    "py_dataset": lambda lib, d: {"x": _py_dataset(lib, d), "shuffle": False},
}


def _record(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    ran_out = [w for w in caught if RAN_OUT in str(w.message)]
    return out, ran_out


def _fit_both(kind, epochs, steps_per_epoch, **extra):
    k = keras_module()
    seen, models = {}, _models(k)
    for lib in (k, kerasish):
        drawn, model = _Drawn(), models[lib]
        count = _counter(lib)
        kwargs = dict(DATA[kind](lib, drawn), **{key: make(lib, drawn) for key, make in extra.items()})
        history, ran_out = _record(lambda: model.fit(epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0,
                                                     callbacks=[count], **kwargs))
        seen[lib] = dict(per_epoch=count.per_epoch, epoch_keys=count.epoch_keys, test_batches=count.test_batches,
                         epochs=history.epoch, lengths={key: len(v) for key, v in history.history.items()},
                         warnings=len(ran_out), drawn=drawn.items, history=history.history, caught=ran_out,
                         steps=history.params["steps"])
    return seen[k], seen[kerasish]


def _assert_same(theirs, ours, fields=("per_epoch", "epoch_keys", "test_batches", "epochs", "lengths", "warnings",
                                       "steps")):
    for field in fields:
        assert ours[field] == theirs[field], f"{field}: kerasish {ours[field]} != keras {theirs[field]}"


@pytest.mark.parametrize("kind, steps_per_epoch, per_epoch, warned", [
    ("arrays", 3, [3, 1, 3, 1], 2),          # a pass ends mid-epoch: that epoch stops short
    ("arrays", 4, [4, 4, 4, 4], 0),          # passes end with the epochs: no warning
    ("arrays", 6, [4, 4, 4, 4], 4),          # more steps than one pass: every epoch warns
    ("arrays", None, [4, 4, 4, 4], 0),
    ("dataloader", 3, [3, 1, 3, 1], 2),
    ("dataloader", 6, [4, 4, 4, 4], 4),
    ("py_dataset", 3, [3, 1, 3, 1], 2),
    ("py_dataset", 6, [4, 4, 4, 4], 4),
    ("iterable_dataset", 3, [3, 2, 3, 2], 2),  # unknown length: kept across epochs, restarted when spent
    ("iterable_dataset", None, [5, 5, 5, 5], 4),  # unknown length ends in StopIteration: Keras warns
    ("generator5", 3, [3, 2, 2, 2], 3),      # a spent generator restarts from its first two batches
    ("generator20", 3, [3, 3, 3, 3], 0),
])
def test_fit_draws_and_warns_as_keras(kind, steps_per_epoch, per_epoch, warned):
    theirs, ours = _fit_both(kind, 4, steps_per_epoch)
    _assert_same(theirs, ours)
    assert ours["per_epoch"] == per_epoch and ours["warnings"] == warned
    assert ours["epochs"] == [0, 1, 2, 3]  # training is not stopped, whatever the warning says
    assert ours["drawn"] == theirs["drawn"][BUILD_DRAW.get(kind, 0):]
    assert_close(ours["history"]["loss"], theirs["history"]["loss"], rtol=1e-4, atol=1e-6)


def test_a_spent_generator_without_steps_per_epoch_trains_on_its_first_two_batches_again():
    theirs, ours = _fit_both("generator5", 3, None)
    _assert_same(theirs, ours)
    assert ours["per_epoch"] == [5, 2, 2] and ours["warnings"] == 3 and ours["drawn"] == [0, 1, 2, 3, 4]
    assert_close(ours["history"]["loss"], theirs["history"]["loss"], rtol=1e-4, atol=1e-6)


def test_an_epoch_that_gets_no_batch_logs_nothing_and_history_is_shorter_than_its_epochs():
    theirs, ours = _fit_both("generator6", 4, 3)
    _assert_same(theirs, ours)
    assert ours["per_epoch"] == [3, 3, 0, 2] and ours["epoch_keys"][2] == []
    assert ours["epochs"] == [0, 1, 2, 3] and ours["lengths"] == {"loss": 3}


def test_the_warning_points_at_the_users_fit_line():
    _, ours = _fit_both("generator5", 2, 3)
    assert ours["caught"] and all(w.filename == __file__ for w in ours["caught"])


def test_a_spent_validation_generator_replays_its_first_two_batches():
    theirs, ours = _fit_both("arrays", 3, None, validation_data=lambda lib, d: _generator(5, d))
    _assert_same(theirs, ours)
    assert ours["test_batches"] == 5 + 2 + 2 and ours["lengths"] == {"loss": 3, "val_loss": 3}
    assert_close(ours["history"]["val_loss"], theirs["history"]["val_loss"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind, steps, batches, warned", [
    ("arrays", 6, 4, 1),
    ("dataloader", 6, 4, 1),
    ("generator5", 8, 5, 1),
    ("generator5", None, 5, 1),  # a generator always ends in StopIteration: Keras warns
    ("generator5", 3, 3, 0),
])
def test_evaluate_with_steps_past_the_data_warns_as_keras(kind, steps, batches, warned):
    k = keras_module()
    seen, models = {}, _models(k)
    for lib in (k, kerasish):
        drawn, model = _Drawn(), models[lib]
        count = _counter(lib)
        kwargs = {key: v for key, v in DATA[kind](lib, drawn).items() if key != "shuffle"}
        result, ran_out = _record(lambda: model.evaluate(steps=steps, verbose=0, callbacks=[count], return_dict=True,
                                                         **kwargs))
        seen[lib] = (count.test_batches, len(ran_out), drawn.items, result)
    assert seen[kerasish][:2] == seen[k][:2] and seen[kerasish][2] == seen[k][2][BUILD_DRAW.get(kind, 0):]
    assert seen[kerasish][:2] == (batches, warned)
    assert_close(seen[kerasish][3]["loss"], seen[k][3]["loss"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["arrays", "dataloader"])
def test_predict_with_steps_past_the_data_warns_and_returns_every_sample(kind):
    k = keras_module()
    seen = {}
    for lib in (k, kerasish):
        data = DATA[kind](lib, _Drawn())
        model = _models(k)[lib]
        kwargs = {"batch_size": data["batch_size"]} if "batch_size" in data else {}
        out, ran_out = _record(lambda: model.predict(data["x"], steps=6, verbose=0, **kwargs))
        seen[lib] = (out.shape, len(ran_out))
    assert seen[kerasish] == seen[k] == ((40, 1), 1)


# --------------------------------------------------------------------------- found in review
class _FourBatches(IterableDataset):
    def __iter__(self):
        for i in range(4):
            yield torch.from_numpy(X[i * 10:(i + 1) * 10]), torch.from_numpy(Y[i * 10:(i + 1) * 10])


def test_unknown_length_data_that_ends_with_an_epoch_gives_an_empty_epoch_as_keras():
    # Keras tries the old iterator once more: StopIteration, a warning, an epoch with no batch.
    DATA["iterable_dataset4"] = lambda lib, d: {"x": DataLoader(_FourBatches(), batch_size=None), "shuffle": False}
    try:
        theirs, ours = _fit_both("iterable_dataset4", 6, 2)
    finally:
        del DATA["iterable_dataset4"]
    _assert_same(theirs, ours)
    assert ours["per_epoch"] == [2, 2, 0, 2, 2, 0] and ours["warnings"] == 2


def test_no_batch_size_with_steps_spreads_the_arrays_over_the_steps_as_keras():
    # Keras: batch_size=None with steps on arrays means ceil(samples / steps) per batch.
    DATA["arrays_no_batch_size"] = lambda lib, d: {"x": X, "y": Y, "shuffle": False}
    try:
        theirs, ours = _fit_both("arrays_no_batch_size", 2, 5)
    finally:
        del DATA["arrays_no_batch_size"]
    _assert_same(theirs, ours)
    assert ours["per_epoch"] == [5, 5] and ours["warnings"] == 0
    k = keras_module()
    models = _models(k)
    ours_pred, ran_out = _record(lambda: models[kerasish].predict(X, steps=2, verbose=0))
    assert ours_pred.shape == np.asarray(models[k].predict(X, steps=2, verbose=0)).shape == (40, 1) and not ran_out


@pytest.mark.parametrize("kind", ["arrays", "dataloader", "generator"])
def test_validation_with_validation_steps_starts_from_the_beginning_every_epoch(kind):
    # Keras resets its evaluation iterator before each evaluation; SGD(0) keeps the weights, so
    # every epoch's val_loss is the loss of the same first validation batch.
    k = keras_module()
    models = _models(k)
    history = {}
    for lib in (k, kerasish):
        models[lib].compile(optimizer=lib.optimizers.SGD(0.0), loss="mse")
        val = {"arrays": lambda: (X * 3, Y), "dataloader": lambda: DataLoader(_Rows(_Drawn()), batch_size=10),
               "generator": lambda: _generator(5, _Drawn())}[kind]()
        history[lib] = models[lib].fit(X, Y, batch_size=10, epochs=3, shuffle=False, verbose=0, validation_data=val,
                                       validation_batch_size=10, validation_steps=1).history["val_loss"]
    assert_close(history[kerasish], history[k], rtol=1e-5, atol=1e-7)
    assert history[kerasish][0] == pytest.approx(history[kerasish][2])
