"""Steps on arrays of strings (a model that starts with StringLookup) follow Keras 3's rules.

Keras runs its text layers only on TensorFlow, so the oracle here is Keras 3 on the torch
backend fitting a numeric model of the same sizes: x holds each row's index (scaled), the
kerasish model gets the strings "r0" ... "r39" that its StringLookup maps to the same numbers.
Both models have a recording layer after the input and the same Dense weights, and what is
compared is what a user sees: batches per epoch (or per evaluate/predict), History (epochs,
lengths, loss values), `params["steps"]`, the "ran out of data" warnings, predict's output
shape, and which rows each step saw. The rules are in kerasish/training/epoch_data.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import kerasish
from kerasish.data.text_adapter import TextArrayAdapter
from tests.keras_parity import assert_close, keras_module

N = 40
TEXTS = np.array([f"r{i}" for i in range(N)])
ROWS = (np.arange(N, dtype="float32") / N).reshape(N, 1)  # Keras's x: the row index, scaled
Y = (np.arange(N, dtype="float32")[::-1] / N).reshape(N, 1).copy()
RAN_OUT = "Your input ran out of data"


def _recording_model(lib, text):
    """A compiled model with a recording layer after its input, its calls list and a callback
    that starts the recording when the run begins (on_*_begin), after the models are built."""
    calls, on = [], {"on": False}

    class Record(lib.layers.Layer):
        def call(self, inputs, training=None):
            if text:  # ids from StringLookup: row + 1 (index 0 is the OOV token)
                inputs = ((inputs - 1).float() / N)[:, None]
            if on["on"]:
                rows = np.rint(inputs.detach().cpu().numpy()[:, 0] * N).astype(int).tolist()
                calls.append((bool(training), rows))
            return inputs

        def compute_output_shape(self, input_shape):
            return (input_shape[0], 1)

    class Begin(lib.callbacks.Callback):
        def on_train_begin(self, logs=None):
            on["on"] = True

        on_test_begin = on_predict_begin = on_train_begin

    first = lib.layers.StringLookup(vocabulary=list(TEXTS)) if text else lib.Input((1,))
    model = lib.Sequential([first, Record(), lib.layers.Dense(1)])
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
    return model, calls, Begin()


def _models(k):
    """{lib: (model, calls, callback)}: Keras's numeric model and kerasish's text model with the
    same weights; `calls` gets `(training, rows)` for each call of the recording layer."""
    out = {k: _recording_model(k, text=False), kerasish: _recording_model(kerasish, text=True)}
    out[kerasish][0].predict(TEXTS[:2], verbose=0)  # builds it
    out[kerasish][0].layers[-1].set_weights(out[k][0].layers[-1].get_weights())
    return out


def _x(lib, k, rows=slice(None)):
    return ROWS[rows] if lib is k else TEXTS[rows]


def _counter(lib):
    class Count(lib.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.per_epoch, self.test_batches, self.predict_batches = [], 0, 0

        def on_epoch_begin(self, epoch, logs=None):
            self.per_epoch.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.per_epoch[-1] += 1

        def on_test_batch_end(self, batch, logs=None):
            self.test_batches += 1

        def on_predict_batch_end(self, batch, logs=None):
            self.predict_batches += 1

    return Count()


def _run(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, sum(RAN_OUT in str(w.message) for w in caught)


def _fit_both(epochs=4, val_rows=None, **kwargs):
    k = keras_module()
    seen, models = {}, _models(k)
    for lib in (k, kerasish):
        model, calls, begin = models[lib]
        count = _counter(lib)
        extra = {}
        if val_rows is not None:
            extra["validation_data"] = (_x(lib, k, val_rows), Y[val_rows])
        history, warned = _run(lambda: model.fit(_x(lib, k), Y, epochs=epochs, shuffle=kwargs.pop("shuffle", False),
                                                 verbose=0, callbacks=[begin, count], **extra, **kwargs))
        seen[lib] = dict(per_epoch=count.per_epoch, test_batches=count.test_batches, epochs=history.epoch,
                         lengths={key: len(v) for key, v in history.history.items()}, warnings=warned,
                         steps=history.params["steps"], train_rows=[r for t, r in calls if t],
                         val_rows=[r for t, r in calls if not t], history=history.history)
    return seen[k], seen[kerasish]


def _assert_same(theirs, ours, rows=True):
    fields = ["per_epoch", "test_batches", "epochs", "lengths", "warnings", "steps"]
    for field in fields + (["train_rows", "val_rows"] if rows else []):
        assert ours[field] == theirs[field], f"{field}: kerasish {ours[field]} != keras {theirs[field]}"


@pytest.mark.parametrize("steps_per_epoch, batch_size, per_epoch, warned", [
    (3, 10, [3, 1, 3, 1], 2),       # the pass goes on into the next epoch, which stops where it ends
    (4, 10, [4, 4, 4, 4], 0),       # passes end with the epochs: no warning
    (6, 10, [4, 4, 4, 4], 4),       # more steps than one pass: every epoch runs out and warns
    (None, 10, [4, 4, 4, 4], 0),
    (3, None, [3, 3, 3, 3], 0),     # no batch_size: ceil(40 / 3) = 14 rows per batch
    (7, None, [7, 7, 7, 7], 0),
])
def test_fit_with_steps_per_epoch_draws_the_rows_keras_draws(steps_per_epoch, batch_size, per_epoch, warned):
    theirs, ours = _fit_both(steps_per_epoch=steps_per_epoch, batch_size=batch_size)
    _assert_same(theirs, ours)
    assert ours["per_epoch"] == per_epoch and ours["warnings"] == warned
    assert ours["epochs"] == [0, 1, 2, 3]
    assert_close(ours["history"]["loss"], theirs["history"]["loss"], rtol=1e-4, atol=1e-6)


def test_steps_per_epoch_three_continues_through_the_rows_across_epochs():
    _, ours = _fit_both(steps_per_epoch=3, batch_size=10)
    first = list(range(10)), list(range(10, 20)), list(range(20, 30)), list(range(30, 40))
    assert ours["train_rows"] == list(first) * 2  # epoch 1 is the pass's last batch only


def test_shuffled_passes_cover_every_row_once_across_short_epochs():
    theirs, ours = _fit_both(epochs=2, steps_per_epoch=3, batch_size=10, shuffle=True)
    _assert_same(theirs, ours, rows=False)  # the orders are random in each library
    for seen in (theirs, ours):
        assert seen["per_epoch"] == [3, 1]
        assert sorted(sum(seen["train_rows"], [])) == list(range(N))


@pytest.mark.parametrize("validation_steps, validation_batch_size, val_batches, warned", [
    (1, 10, 1, 0),   # every evaluation starts from the first batch
    (2, 10, 2, 0),
    (3, 10, 2, 1),   # 20 rows hold 2 batches: each epoch's evaluation runs out and warns
    (3, None, 3, 0),  # validation_batch_size falls back to batch_size (None): ceil(20 / 3) = 7
])
def test_validation_steps_on_strings_as_keras(validation_steps, validation_batch_size, val_batches, warned):
    batch_size = None if validation_batch_size is None else 10
    theirs, ours = _fit_both(epochs=2, val_rows=slice(10, 30), steps_per_epoch=4, batch_size=batch_size,
                             validation_steps=validation_steps, validation_batch_size=validation_batch_size)
    _assert_same(theirs, ours)
    assert ours["test_batches"] == 2 * val_batches and ours["warnings"] == 2 * warned
    assert ours["lengths"] == {"loss": 2, "val_loss": 2}
    assert_close(ours["history"]["val_loss"], theirs["history"]["val_loss"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("steps, batch_size, batches, warned", [
    (2, 10, 2, 0),
    (6, 10, 4, 1),      # past the data: it stops at the end and warns
    (3, None, 3, 0),    # ceil(40 / 3) = 14 rows per batch
    (None, 10, 4, 0),
])
def test_evaluate_with_steps_on_strings_as_keras(steps, batch_size, batches, warned):
    k = keras_module()
    seen, models = {}, _models(k)
    for lib in (k, kerasish):
        model, calls, begin = models[lib]
        count = _counter(lib)
        result, ran_out = _run(lambda: model.evaluate(_x(lib, k), Y, steps=steps, batch_size=batch_size, verbose=0,
                                                      callbacks=[begin, count], return_dict=True))
        seen[lib] = (count.test_batches, ran_out, [r for _, r in calls], result["loss"])
    assert seen[kerasish][:3] == seen[k][:3]
    assert seen[kerasish][:2] == (batches, warned)
    assert_close(seen[kerasish][3], seen[k][3], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("steps, batch_size, rows, warned", [
    (2, 10, 20, 0),     # only the steps' batches are predicted
    (6, 10, 40, 1),
    (3, None, 40, 0),
    (2, None, 40, 0),   # ceil(40 / 2) = 20 rows per batch
])
def test_predict_with_steps_on_strings_as_keras(steps, batch_size, rows, warned):
    k = keras_module()
    seen, models = {}, _models(k)
    for lib in (k, kerasish):
        model, calls, begin = models[lib]
        count = _counter(lib)
        out, ran_out = _run(lambda: model.predict(_x(lib, k), steps=steps, batch_size=batch_size, verbose=0,
                                                  callbacks=[begin, count]))
        seen[lib] = (np.asarray(out).shape, ran_out, count.predict_batches, [r for _, r in calls], out)
    assert seen[kerasish][:4] == seen[k][:4]
    assert seen[kerasish][:2] == ((rows, 1), warned)
    assert_close(seen[kerasish][4], seen[k][4], rtol=1e-5, atol=1e-6)


def test_the_text_adapters_state_puts_the_next_short_epoch_where_it_would_start():
    # BackupAndRestore saves this state: a resumed fit must draw the rows the uninterrupted one would.
    def adapter():
        return TextArrayAdapter(TEXTS, torch.from_numpy(Y), None, 10, True, torch.device("cpu"), steps=3)

    kerasish.utils.set_random_seed(3)
    a = adapter()
    first = [[str(t) for t in batch[0]] for batch in a]
    state = a.state_dict()
    rest = [([str(t) for t in batch[0]], batch[1]) for batch in a]
    b = adapter()
    b.load_state_dict(state)
    resumed = [([str(t) for t in batch[0]], batch[1]) for batch in b]
    assert [r[0] for r in resumed] == [r[0] for r in rest] and len(first) == 3 and len(rest) == 1
    assert_close([r[1] for r in resumed], [r[1] for r in rest])
    assert sorted(t for batch in first + [r[0] for r in rest] for t in batch) == sorted(TEXTS)
