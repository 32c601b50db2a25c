"""Bad input gets a clear error before any weight changes (table-driven).

Each case: the call, the exception type, and fragments the message must contain
(what was wrong, what was expected, how to fix it). The tables are grouped by
category (`CATEGORIES`); every case runs in its own empty working folder, and after
it no temporary or half-written file may remain there. Cases that can only be
detected mid-training (a generator that changes shape at batch 1) build their own
model, since a step has legitimately run before the bad batch arrives.
"""

from __future__ import annotations

import contextlib
import errno
import os
import warnings
from unittest import mock

import numpy as np
import pytest
import torch

import kerasish
from kerasish.datasets import DatasetUnavailableError
from kerasish.layers import Activation, Conv2D, Dense, Dropout, Embedding, LSTM, MaxPooling2D, Reshape, TextVectorization
from kerasish.models import Sequential
from kerasish.utils import pad_sequences

# torch deprecates torch.jit; kerasish's 'torchscript' export still uses it.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")

X = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
Y_INT = np.arange(20) % 3
Y_HOT = np.eye(3, dtype="float32")[Y_INT]


def model_(compiled=True, loss="sparse_categorical_crossentropy", metrics=None):
    m = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    if compiled:
        m.compile(optimizer="adam", loss=loss, metrics=metrics)
    return m


def with_nan():
    x = X.copy()
    x[3, 2] = np.nan
    return x


def with_inf():
    x = X.copy()
    x[5, 0] = np.inf
    return x


CASES = {
    "fit before compile": (
        lambda m: model_(False).fit(X, Y_INT), RuntimeError, ["compile", "before calling fit()", "model.compile("]),
    "evaluate before compile": (
        lambda m: model_(False).evaluate(X, Y_INT), RuntimeError, ["compile your model before calling evaluate()"]),
    "x and y lengths differ": (
        lambda m: m.fit(X, Y_INT[:15], verbose=0), ValueError, ["x has 20", "y has 15", "same number of samples"]),
    "sample_weight length differs": (
        lambda m: m.fit(X, Y_INT, sample_weight=np.ones(7), verbose=0), ValueError, ["sample_weight has 7"]),
    "feature shape mismatch": (
        lambda m: m.fit(X[:, :3], Y_INT, verbose=0), ValueError, ["expected samples of shape (4,)", "shape (3,)"]),
    "image given to an MLP hints at reshape": (
        lambda m: m.fit(X.reshape(20, 2, 2), Y_INT, verbose=0), ValueError, ["(2, 2)", "reshape(-1, 4)"]),
    "label out of range (sparse)": (
        lambda m: m.fit(X, Y_INT + 5, verbose=0), ValueError, ["label value of 7", "[0, 2]", "3 output units"]),
    "negative label (sparse)": (
        lambda m: m.fit(X, Y_INT - 1, verbose=0), ValueError, ["label value of -1", "outside the valid range"]),
    "one-hot labels to sparse loss": (
        lambda m: m.fit(X, Y_HOT, verbose=0), ValueError, ["looks one-hot", "loss='categorical_crossentropy'"]),
    "integer labels to categorical loss": (
        lambda m: model_(loss="categorical_crossentropy").fit(X, Y_INT, verbose=0), ValueError,
        ["expects one-hot labels of shape (n, 3)", "(20,)", "to_categorical", "sparse_categorical_crossentropy"]),
    "binary labels outside [0, 1]": (
        lambda m: _binary().fit(X, Y_INT * 2.0, verbose=0), ValueError, ["labels in [0, 1]", "values from 0.0 to 4.0"]),
    "unknown optimizer": (
        lambda m: model_(False).compile(optimizer="adamm", loss="mse"), ValueError,
        ["Unknown optimizer 'adamm'", "adam, adamax", "Did you mean 'adam'"]),
    "unknown loss": (
        lambda m: model_(False).compile(optimizer="adam", loss="categorical_crossentropi"), ValueError,
        ["Unknown loss 'categorical_crossentropi'", "mean_squared_error", "Did you mean 'categorical_crossentropy'"]),
    "unknown metric": (
        lambda m: model_(False).compile(optimizer="adam", loss="mse", metrics=["acuracy"]), ValueError,
        ["Unknown metric 'acuracy'", "Did you mean 'accuracy'"]),
    "unknown activation": (
        lambda m: Dense(3, activation="rellu"), ValueError,
        ["Unknown activation 'rellu'", "sigmoid", "Did you mean 'relu'"]),
    "unknown activation layer": (
        lambda m: Activation("softmaks"), ValueError, ["Did you mean 'softmax'"]),
    "validation_split = 1": (
        lambda m: m.fit(X, Y_INT, validation_split=1.0, verbose=0), ValueError, ["validation_split must be a float in [0, 1)", "1.0"]),
    "validation_split negative": (
        lambda m: m.fit(X, Y_INT, validation_split=-0.1, verbose=0), ValueError, ["validation_split=-0.1"]),
    "batch_size 0": (
        lambda m: m.fit(X, Y_INT, batch_size=0, verbose=0), ValueError, ["batch_size must be a positive integer", "batch_size=0"]),
    "batch_size negative in evaluate": (
        lambda m: m.evaluate(X, Y_INT, batch_size=-4, verbose=0), ValueError, ["batch_size=-4"]),
    "batch_size < 1 in predict": (
        lambda m: m.predict(X, batch_size=0, verbose=0), ValueError, ["batch_size=0"]),
    "empty x": (
        lambda m: m.fit(np.zeros((0, 4), "float32"), np.zeros((0,), "int64"), verbose=0), ValueError, ["x is empty", "0 samples"]),
    "NaN in x": (
        lambda m: m.fit(with_nan(), Y_INT, verbose=0), ValueError, ["x contains a non-finite value (nan)", "(3, 2)", "nan_to_num"]),
    "inf in x": (
        lambda m: m.fit(with_inf(), Y_INT, verbose=0), ValueError, ["non-finite value (inf)", "(5, 0)"]),
    "NaN in predict input": (
        lambda m: m.predict(with_nan(), verbose=0), ValueError, ["non-finite"]),
    "string data": (
        lambda m: m.fit(np.array([["a"] * 4] * 20), Y_INT, verbose=0), TypeError, ["dtype <U1", "Convert strings"]),
    "complex data": (
        lambda m: m.fit(X.astype(np.complex64), Y_INT, verbose=0), TypeError, ["complex"]),
    "y missing for arrays": (
        lambda m: m.fit(X, verbose=0), ValueError, ["y is None", "Pass y="]),
    "epochs negative": (
        lambda m: m.fit(X, Y_INT, epochs=-1, verbose=0), ValueError, ["epochs must be a non-negative integer"]),
    "bad verbose": (
        lambda m: m.fit(X, Y_INT, verbose=5), ValueError, ["verbose must be 'auto', 0, 1 or 2"]),
    "Dense units 0": (
        lambda m: Dense(0), ValueError, ["units must be a positive integer", "received 0"]),
    "Dense misspelled kwarg": (
        lambda m: Dense(3, activaton="relu"), TypeError, ["unexpected keyword argument", "activaton"]),
    "Dropout rate 1": (
        lambda m: Dropout(1.0), ValueError, ["Dropout rate must be a number in [0, 1)"]),
    "bad input_shape": (
        lambda m: Dense(3, input_shape=(0,)), ValueError, ["input_shape must hold positive ints"]),
    "Reshape with wrong size": (
        lambda m: Sequential([Dense(6, input_shape=(4,)), Reshape((4, 2))]), ValueError, ["6 values per sample", "(4, 2)"]),
    "non-layer added": (
        lambda m: Sequential().add("dense"), TypeError, ["Sequential.add expects a layer", "str"]),
    "duplicate layer name": (
        lambda m: Sequential([Dense(2, name="a", input_shape=(2,)), Dense(2, name="a")]), ValueError, ["unique names", "'a'"]),
    "unknown device": (
        lambda m: model_(False).compile(optimizer="adam", loss="mse", device="tpu"), ValueError, ["Invalid device 'tpu'"]),
    "validation_data of wrong arity": (
        lambda m: m.fit(X, Y_INT, validation_data=(X,), verbose=0), ValueError, ["validation_data must be (x_val, y_val)"]),
    "class_weight not a dict": (
        lambda m: m.fit(X, Y_INT, class_weight=[1, 2, 3], verbose=0), ValueError, ["class_weight must be a dict"]),
    "bad optimizer type": (
        lambda m: model_(False).compile(optimizer=3, loss="mse"), TypeError, ["optimizer must be a name", "int"]),
    "bad learning rate": (
        lambda m: __import__("kerasish").optimizers.Adam(learning_rate=-1), ValueError, ["learning_rate must be a number >= 0"]),
}


def _binary():
    m = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
    m.compile(optimizer="adam", loss="binary_crossentropy")
    return m


# --------------------------------------------------------------------- helpers for the new categories
def _fit(m, x, y=None, **kwargs):
    return m.fit(x, y, verbose=0, **kwargs)


def _shape_changes_mid_epoch():
    yield X[:5], Y_INT[:5]
    yield X[5:10, :3], Y_INT[5:10]  # batch 1 drops a feature


def _label_count_changes_mid_epoch():
    yield X[:5], Y_INT[:5]
    yield X[5:10], Y_INT[5:9]


def _label_out_of_range_mid_epoch():
    yield X[:5], Y_INT[:5]
    yield X[5:10], Y_INT[5:10] + 7


def _rank_changes_mid_epoch():
    yield X[:5], Y_INT[:5]
    yield X[5:10, None, :], Y_INT[5:10]


def _rank_changes_mid_epoch_regression():
    yield X[:5], X[:5, :3]
    yield X[5:10, None, :], X[5:10, None, :3]  # torch.nn.Linear would silently broadcast this


def _wrapped_linear():
    m = kerasish.Model(torch.nn.Linear(4, 3))  # no declared input shape
    m.compile(optimizer="sgd", loss="mse", device="cpu")
    return m


class _CorruptRecords(torch.utils.data.Dataset):
    """A Dataset whose 8th record cannot be read: the user's own error must come through."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7:
            raise KeyError("record 7 of shard-03 is corrupt")
        return X[i], Y_INT[i]


def _nan_labels():
    y = Y_INT.astype("float32")
    y[4] = np.nan
    return y


def _mse_model():
    m = Sequential([Dense(3, input_shape=(4,))])
    m.compile(optimizer="adam", loss="mse")
    return m


def _fresh_model_fit(data):
    """A model of its own: for data found bad only once training has started."""
    return model_().fit(data, verbose=0)


def _truncated_model_file():
    model_().save("whole.kerasish")
    with open("whole.kerasish", "rb") as f:
        data = f.read()
    with open("cut.kerasish", "wb") as f:
        f.write(data[: len(data) // 2])
    return "cut.kerasish"


def _pickle_model_file():
    torch.save({"state": torch.zeros(2)}, "pickled.kerasish")
    return "pickled.kerasish"


def _read_only_folder():
    os.mkdir("locked")
    os.chmod("locked", 0o555)
    return os.path.join("locked", "nothing_model.kerasish")


class _FullDiskFile:
    """A file object that accepts `room` bytes, then fails as a full disk does (ENOSPC)."""

    def __init__(self, f, room):
        self._f, self._room = f, room

    def write(self, data):
        if len(data) > self._room:
            self._f.write(bytes(data[: self._room]))  # a partial write reaches the disk first
            self._room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._f, name)


@contextlib.contextmanager
def _full_disk(room=200):
    real_fdopen = os.fdopen

    def fdopen(fd, *args, **kwargs):
        return _FullDiskFile(real_fdopen(fd, *args, **kwargs), room)

    with mock.patch("os.fdopen", fdopen):
        yield


def _save_on_full_disk(m, save):
    with _full_disk():
        save(m)


def _checkpoint(*args, **kwargs):
    from kerasish.callbacks import ModelCheckpoint

    return ModelCheckpoint(*args, **kwargs)


def _early_stopping(*args, **kwargs):
    from kerasish.callbacks import EarlyStopping

    return EarlyStopping(*args, **kwargs)


# --------------------------------------------------------------------- categories
DATASETS = {
    "fashion_mnist path without the files": (
        lambda m: kerasish.datasets.fashion_mnist.load_data(path="."), DatasetUnavailableError,
        ["Dataset 'fashion-mnist'", "train-images-idx3-ubyte.gz", "not found under path=",
         "Pass the folder that holds them as path="]),
    "mnist path without the files": (
        lambda m: kerasish.datasets.mnist.load_data(path="."), DatasetUnavailableError,
        ["Dataset 'mnist'", "t10k-labels-idx1-ubyte.gz", "not found"]),
    "imdb path without the files": (
        lambda m: kerasish.datasets.imdb.load_data(path="."), DatasetUnavailableError,
        ["Dataset 'imdb'", "imdb_word_index.json", "not found"]),
}

DATA_PIPELINES = {
    "generator changes shape mid-epoch": (
        lambda m: _fresh_model_fit(_shape_changes_mid_epoch()), ValueError,
        ["Batch 1 from the data iterable", "samples of shape (3,)", "expects samples of shape (4,)"]),
    "generator changes rank mid-epoch": (
        lambda m: _fresh_model_fit(_rank_changes_mid_epoch()), ValueError,
        ["Batch 1 from the data iterable", "x.shape=(5, 1, 4)", "(4,)"]),
    "generator changes rank mid-epoch, model without input_shape": (
        lambda m: _wrapped_linear().fit(_rank_changes_mid_epoch_regression(), verbose=0), ValueError,
        ["Batch 1", "x has 3 dimensions (x.shape=(5, 1, 4))", "the first batch had 2", "same number of dimensions"]),
    "generator x and y lengths differ mid-epoch": (
        lambda m: _fresh_model_fit(_label_count_changes_mid_epoch()), ValueError,
        ["Batch 1", "x has 5 samples, y has 4 samples", "same first dimension"]),
    "generator label out of range mid-epoch": (
        lambda m: _fresh_model_fit(_label_out_of_range_mid_epoch()), ValueError,
        ["Batch 1", "label value of 9", "[0, 2]"]),
    "Dataset __getitem__ raises (user's error kept)": (
        lambda m: model_().fit(_CorruptRecords(), batch_size=4, verbose=0), KeyError,
        ["record 7 of shard-03 is corrupt"]),
    "generator yields 4-tuples": (
        lambda m: _fit(m, iter([(X, Y_INT, np.ones(20), 0)])), ValueError,
        ["Batch 0", "tuple of 4 elements", "Return a tuple of 1 to 3 items"]),
    "generator yields a scalar x": (
        lambda m: _fit(m, iter([(np.float32(1.0), Y_INT[:1])])), ValueError,
        ["Batch 0", "x is a scalar", "Yield arrays of shape (batch_size, ...)"]),
    "y given with a Dataset": (
        lambda m: _fit(m, _CorruptRecords(), Y_INT), ValueError, ["y must be None when x is a _CorruptRecords"]),
    "unrecognized x type": (
        lambda m: _fit(m, 3), TypeError, ["Unrecognized data type x=int", "a torch Dataset"]),
}

RANKS = {
    "1-D x for 4 features": (
        lambda m: _fit(m, X[:, 0], Y_INT), ValueError, ["expected samples of shape (4,)", "shape (1,)"]),
    # (20, 4, 1) for Input((4,)) is accepted, as Keras squeezes a trailing axis of 1; (20, 2, 2, 1) is not.
    "4-D x for an MLP": (
        lambda m: _fit(m, X.reshape(20, 2, 2, 1), Y_INT), ValueError, ["(2, 2, 1)", "x.reshape(-1, 4)"]),
    "2-D sample_weight": (
        lambda m: _fit(m, X, Y_INT, sample_weight=np.ones((20, 2))), ValueError,
        ["sample_weight must be 1-D", "(20, 2)"]),
    "sparse labels of width 5": (
        lambda m: _fit(m, X, np.zeros((20, 5))), ValueError,
        ["integer class labels of shape (20,)", "received y of shape (20, 5)", "y.argmax(-1)"]),
    "regression targets of the wrong width": (
        lambda m: _fit(_mse_model(), X, X[:, :2]), ValueError,
        ["mse compares y with the model's output value by value", "samples of shape (2,)", "(n, 3)"]),
    "one target per sample for three outputs": (
        lambda m: _fit(_mse_model(), X, X[:, 0]), ValueError,
        ["samples of shape () (y.shape=(20,))", "output has samples of shape (3,)", "(n, 3)"]),
    "two binary targets for one sigmoid unit": (
        lambda m: _fit(_binary(), X, np.zeros((20, 2), "float32")), ValueError,
        ["binary_crossentropy", "y.shape=(20, 2)", "samples of shape (1,)", "as many units as y has targets"]),
    "flat images to Conv2D": (
        lambda m: Sequential([Conv2D(2, 3, input_shape=(8, 8, 1))]).predict(X, verbose=0), ValueError,
        ["expected samples of shape (8, 8, 1)", "shape (4,)"]),
    "predict with too few features": (
        lambda m: m.predict(X[:, :2], verbose=0), ValueError, ["expected samples of shape (4,)", "(2,)"]),
    "evaluate with fewer labels": (
        lambda m: m.evaluate(X, Y_INT[:3], verbose=0), ValueError, ["x has 20, y has 3"]),
    "set_weights with the wrong count": (
        lambda m: m.set_weights([np.zeros(3)]), ValueError, ["expects 4 weight arrays, received 1", "get_weights()"]),
    "set_weights with a wrong shape": (
        lambda m: m.set_weights([np.zeros((3, 3))] * 4), ValueError, ["weight 0", "has Keras shape (4, 8)", "(3, 3)"]),
}

DTYPES = {
    "object x": (
        lambda m: _fit(m, X.astype(object), Y_INT), TypeError, ["x has dtype object", "Expected numbers"]),
    "object y": (
        lambda m: _fit(m, X, Y_INT.astype(object)), TypeError, ["y has dtype object"]),
    "complex y": (
        lambda m: _fit(m, X, Y_INT.astype(np.complex64)), TypeError, ["y has complex dtype complex64", "real numbers"]),
    "complex torch x": (
        lambda m: _fit(m, torch.tensor(X, dtype=torch.complex64), Y_INT), TypeError, ["torch.complex64"]),
    "complex batch from a generator": (
        lambda m: _fresh_model_fit(iter([(X[:5], Y_INT[:5]), (X[5:10].astype(np.complex64), Y_INT[5:10])])),
        TypeError, ["Batch 1", "complex dtype complex64"]),
    "strings given to TextVectorization.adapt as ints": (
        lambda m: TextVectorization().adapt([1, 2, 3]), TypeError, ["item 0 is 1 of type int", "list of str"]),
    "strings as export sample_input": (
        lambda m: m.export("nothing_m.pt", sample_input=np.array([["a"] * 4])), TypeError,
        ["dtype <U1", "numeric array"]),
}

NON_FINITE = {
    "NaN label": (
        lambda m: _fit(m, X, _nan_labels()), ValueError, ["y contains a non-finite value (nan)", "(4,)", "nan_to_num"]),
    "inf regression target": (
        lambda m: _fit(_mse_model(), X, np.full((20, 3), np.inf, "float32")), ValueError,
        ["y contains a non-finite value (inf)", "(0, 0)"]),
    "NaN in validation_data": (
        lambda m: _fit(m, X, Y_INT, validation_data=(with_nan(), Y_INT)), ValueError, ["x contains a non-finite value"]),
    "NaN in evaluate input": (
        lambda m: m.evaluate(with_nan(), Y_INT, verbose=0), ValueError, ["non-finite value (nan)"]),
}

SIZES = {
    "Conv2D filters 0": (
        lambda m: Conv2D(0, 3), ValueError, ["filters must be a positive integer", "filters=0", "Conv2D(32, 3)"]),
    "Conv2D negative kernel": (
        lambda m: Conv2D(4, -3), ValueError, ["kernel_size=-3", "kernel_size=(3, 3)"]),
    "Embedding input_dim 0": (
        lambda m: Embedding(0, 4), ValueError, ["input_dim must be a positive integer", "input_dim=0"]),
    "LSTM units 0": (
        lambda m: LSTM(0), ValueError, ["units must be a positive integer", "LSTM(64)"]),
    "MaxPooling2D pool 0": (
        lambda m: MaxPooling2D(0), ValueError, ["pool_size=0"]),
    "pad_sequences negative maxlen": (
        lambda m: pad_sequences([[1]], maxlen=-2), ValueError, ["maxlen=-2", "maxlen=200"]),
    "TextVectorization max_tokens 1": (
        lambda m: TextVectorization(max_tokens=1), ValueError, ["max_tokens must be None or an int > 2", "max_tokens=1"]),
    "TextVectorization output_sequence_length 0": (
        lambda m: TextVectorization(output_sequence_length=0), ValueError, ["output_sequence_length=0"]),
    "TextVectorization ngrams 0": (
        lambda m: TextVectorization(ngrams=0), ValueError, ["ngrams=0", "ngrams=2"]),
    "steps_per_epoch 0": (
        lambda m: _fit(m, X, Y_INT, steps_per_epoch=0), ValueError, ["steps_per_epoch must be a positive integer"]),
    "validation_freq 0": (
        lambda m: _fit(m, X, Y_INT, validation_freq=0), ValueError, ["validation_freq must be a positive int"]),
    "initial_epoch negative": (
        lambda m: _fit(m, X, Y_INT, initial_epoch=-1), ValueError, ["initial_epoch must be a non-negative integer"]),
    "epochs not an int": (
        lambda m: _fit(m, X, Y_INT, epochs=2.5), ValueError, ["epochs=2.5"]),
    "negative class_weight key": (
        lambda m: _fit(m, X, Y_INT, class_weight={-1: 2.0}), ValueError, ["class indices >= 0", "[-1]"]),
    "negative seed": (
        lambda m: kerasish.utils.set_random_seed(-1), ValueError, ["non-negative integer seed", "-1"]),
    "to_categorical label beyond num_classes": (
        lambda m: kerasish.utils.to_categorical([5, 2], 3), ValueError, ["label 5", "num_classes=3", "[0, 2]"]),
}

PREPROCESSING = {
    "pad_sequences unknown padding": (
        lambda m: pad_sequences([[1]], padding="middle"), ValueError, ["padding='middle'", "'pre' or 'post'"]),
    "pad_sequences unknown truncating": (
        lambda m: pad_sequences([[1]], truncating="end"), ValueError, ["truncating='end'"]),
    "pad_sequences non-sequence item": (
        lambda m: pad_sequences([[1], 3]), ValueError, ["item 1 is 3 of type int", "[[1], [2, 3]]"]),
    "pad_sequences string value with int dtype": (
        lambda m: pad_sequences([[1]], value="x"), ValueError, ["value='x' is a string", "dtype=object"]),
    "pad_sequences generator": (
        lambda m: pad_sequences(s for s in [[1]]), ValueError, ["without a length", "list(...)"]),
    "TextVectorization called before adapt": (
        lambda m: TextVectorization()(["the cat"]), ValueError, ["has no vocabulary yet", "layer.adapt(texts)"]),
    "TextVectorization unknown output_mode": (
        lambda m: TextVectorization(output_mode="ints"), ValueError,
        ["Unknown output_mode 'ints'", "'multi_hot'", "Did you mean 'int'"]),
    "TextVectorization duplicate vocabulary": (
        lambda m: TextVectorization(vocabulary=["a", "a"]), ValueError, ["duplicates ['a']"]),
}

UNKNOWN_NAMES = {
    "unknown floatx": (
        lambda m: kerasish.config.set_floatx("float8"), ValueError, ["Unknown floatx 'float8'", "'bfloat16'"]),
    "unknown defaults": (
        lambda m: kerasish.config.set_defaults("tf"), ValueError, ["Unknown defaults 'tf'", "set_defaults('torch')"]),
    "unknown Conv2D padding": (
        lambda m: Conv2D(4, 3, padding="full"), ValueError, ["padding='full'", "padding='same'"]),
    "unknown export format": (
        lambda m: m.export("nothing_m.bin", format="tflite"), ValueError,
        ["Unknown export format 'tflite'", "'torch_export'", "format='torchscript'"]),
    "unknown EarlyStopping mode": (
        lambda m: _early_stopping(mode="maximum"), ValueError, ["mode='maximum'", "'auto', 'min' or 'max'"]),
    "Model wraps a non-module": (
        lambda m: kerasish.Model(3), TypeError, ["expects a torch.nn.Module", "int", "Model(my_module)"]),
}

CALLBACKS = {
    "callback that is not a Callback": (
        lambda m: _fit(m, X, Y_INT, callbacks=[3]), TypeError, ["Callback instances", "received 3 of type int"]),
    "EarlyStopping negative patience": (
        lambda m: _early_stopping(patience=-1), ValueError, ["patience=-1", "patience=3"]),
    "ModelCheckpoint wrong suffix": (
        lambda m: _checkpoint("nothing_m.txt"), ValueError, ["must end in one of '.keras'", "'nothing_m.txt'"]),
    "ModelCheckpoint weights-only wrong suffix": (
        lambda m: _checkpoint("nothing_m.kerasish", save_weights_only=True), ValueError,
        ["names a whole-model file", "'.weights.h5' path"]),
    "ModelCheckpoint save_freq 0": (
        lambda m: _checkpoint("nothing_m.kerasish", save_freq=0), ValueError, ["save_freq: 0", "save_freq=100"]),
    "ModelCheckpoint template key not in logs": (
        lambda m: _fresh_model_fit_cb(_checkpoint("nothing_{val_los:.2f}.kerasish")), KeyError,
        ["'val_los' is not in the logs", "'loss'"]),
    "ModelCheckpoint in a read-only folder": (
        lambda m: _fresh_model_fit_cb(_checkpoint(_read_only_folder())), PermissionError,
        ["is not writable", "permissions"]),
}


def _fresh_model_fit_cb(callback):
    return model_().fit(X, Y_INT, epochs=1, verbose=0, callbacks=[callback])


SAVING = {
    "load_model on a missing file": (
        lambda m: kerasish.load_model("nothing_there.kerasish"), FileNotFoundError,
        ["No model file at 'nothing_there.kerasish'", "Check the path"]),
    "load_model on a truncated file": (
        lambda m: kerasish.load_model(_truncated_model_file()), ValueError,
        ["is not a readable .kerasish model file", "truncated", "use an earlier checkpoint or save again"]),
    "load_model on a torch.save pickle": (
        lambda m: kerasish.load_model(_pickle_model_file()), ValueError,
        ["torch.save checkpoint, which holds a pickle", "never unpickles"]),
    "load_weights on a missing file": (
        lambda m: m.load_weights("nothing.safetensors"), FileNotFoundError, ["No weights file at 'nothing.safetensors'"]),
    "save with the wrong suffix": (
        lambda m: m.save("nothing_m.h5"), ValueError, ["Legacy tf.keras HDF5", "save_weights("]),
    "save into a missing folder": (
        lambda m: m.save(os.path.join("missing", "nothing_m.kerasish")), FileNotFoundError,
        ["does not exist", "os.makedirs("]),
    "save over a file with overwrite=False": (
        lambda m: (open("kept.kerasish", "w").close(), m.save("kept.kerasish", overwrite=False)), FileExistsError,
        ["already exists and overwrite=False", "overwrite=True"]),
    "save into a read-only folder": (
        lambda m: m.save(_read_only_folder()), PermissionError, ["is not writable", "permissions"]),
    "save on a full disk": (
        lambda m: _save_on_full_disk(m, lambda mm: mm.save("nothing_full.kerasish")), OSError,
        ["No space left on device"]),
    "save_weights on a full disk": (
        lambda m: _save_on_full_disk(m, lambda mm: mm.save_weights("nothing_full.safetensors")), OSError,
        ["No space left on device"]),
    "export on a full disk": (
        lambda m: _save_on_full_disk(m, lambda mm: mm.export("nothing_full.pt")), OSError,
        ["No space left on device"]),
}

CATEGORIES = {
    "Sequential/layers/compile/fit/evaluate/predict": CASES,
    "datasets": DATASETS,
    "data pipelines (generators, Datasets)": DATA_PIPELINES,
    "ranks and shapes": RANKS,
    "dtypes": DTYPES,
    "NaN/inf": NON_FINITE,
    "zero/negative sizes": SIZES,
    "preprocessing": PREPROCESSING,
    "unknown names": UNKNOWN_NAMES,
    "callbacks": CALLBACKS,
    "saving and files": SAVING,
}
ALL_CASES = {name: case for table in CATEGORIES.values() for name, case in table.items()}

# root may write into a 0o555 folder, so the permission cases cannot be shown as root.
_AS_ROOT = pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                              reason="root ignores folder permissions")
_MARKS = {"ModelCheckpoint in a read-only folder": _AS_ROOT, "save into a read-only folder": _AS_ROOT}


def _leftovers(folder):
    """Temporary files, or files the case was not allowed to leave ('nothing_*')."""
    found = []
    for root, _, files in os.walk(folder):
        for f in files:
            if f.endswith(".tmp") or f.startswith("nothing_"):
                found.append(os.path.relpath(os.path.join(root, f), folder))
    return found


@pytest.mark.parametrize(
    "case", [pytest.param(name, marks=_MARKS.get(name, ()), id=name) for name in ALL_CASES])
def test_bad_input(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERASISH_HOME", str(tmp_path / "home"))  # datasets: no cache, no download
    call, exc, fragments = ALL_CASES[case]
    m = model_()
    before = [w.copy() for w in m.get_weights()]
    try:
        with pytest.raises(exc) as info:
            call(m)
    finally:
        for root, dirs, _ in os.walk(tmp_path):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
    error = info.value
    # str(KeyError) is the repr of its message; read the message itself
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in message: {message}"
    # raised before any training step: the weights are untouched
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    # nothing half-written: no temporary file, no file the failed call was writing
    assert _leftovers(tmp_path) == []


def test_case_count_by_category(capsys):
    counts = {category: len(table) for category, table in CATEGORIES.items()}
    with capsys.disabled():
        print("\nbad-input cases by category:", counts, "total", sum(counts.values()) + len(WARN_CASES))
    assert len(ALL_CASES) == sum(counts.values()), "a case name is used in two categories"
    assert len(ALL_CASES) >= 40


# --------------------------------------------------------------------- warnings, not errors
WARN_CASES = {
    "EarlyStopping monitor that never appears": (
        lambda: model_().fit(X, Y_INT, epochs=2, verbose=0, callbacks=[_early_stopping(monitor="val_acc")]),
        UserWarning, ["metric `val_acc` which is not available", "Available metrics are: loss", "validation_data"]),
    "ModelCheckpoint best-only monitor that never appears": (
        lambda: model_().fit(X, Y_INT, epochs=1, verbose=0,
                             callbacks=[_checkpoint("nothing_best.kerasish", monitor="val_loss", save_best_only=True)]),
        UserWarning, ["metric `val_loss` which is not available"]),
}


@pytest.mark.parametrize("case", list(WARN_CASES), ids=list(WARN_CASES))
def test_warns_and_trains_on(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call, category, fragments = WARN_CASES[case]
    with pytest.warns(category) as record:
        history = call()
    messages = " | ".join(str(w.message) for w in record)
    for fragment in fragments:
        assert fragment in messages, f"{fragment!r} not in warnings: {messages}"
    assert len(history.history["loss"]) >= 1  # a warning: training went on
    assert _leftovers(tmp_path) == []  # best-only never saved: no file


# --------------------------------------------------------------------- files survive failures
def test_full_disk_keeps_the_previous_file(tmp_path):
    m = model_()
    path = tmp_path / "model.kerasish"
    m.save(str(path))
    good = path.read_bytes()
    m.fit(X, Y_INT, verbose=0)
    with _full_disk(room=100), pytest.raises(OSError, match="No space left"):
        m.save(str(path))
    assert path.read_bytes() == good  # the old file, whole
    assert sorted(os.listdir(tmp_path)) == ["model.kerasish"]  # and no temporary file
    restored = kerasish.load_model(str(path))
    assert len(restored.get_weights()) == 4


def test_checkpoint_creates_a_missing_folder(tmp_path):
    """A missing checkpoint folder is not an error: ModelCheckpoint creates it."""
    target = tmp_path / "runs" / "a" / "ckpt-{epoch:02d}.kerasish"
    model_().fit(X, Y_INT, epochs=2, verbose=0, callbacks=[_checkpoint(str(target))])
    assert sorted(os.listdir(tmp_path / "runs" / "a")) == ["ckpt-01.kerasish", "ckpt-02.kerasish"]


def test_predict_works_uncompiled_but_fit_does_not():
    m = model_(False)
    assert m.predict(X, verbose=0).shape == (20, 3)
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(X, Y_INT)


def _embedding_model():
    from kerasish.layers import Embedding, GlobalAveragePooling1D

    m = Sequential([Embedding(10, 4, input_length=3), GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
    m.compile(optimizer="adam", loss="binary_crossentropy")
    return m


def test_token_id_out_of_range_names_the_id_and_input_dim():
    m = _embedding_model()
    before = [w.copy() for w in m.get_weights()]
    with pytest.raises(ValueError, match=r"token id 12, outside \[0, 9\].*input_dim=10.*Raise input_dim"):
        m.fit(np.array([[1, 2, 12], [0, 1, 2]]), np.array([0.0, 1.0]), verbose=0)
    with pytest.raises(ValueError, match=r"token id -1"):
        m.predict(np.array([[1, -1, 2]]), verbose=0)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_float_token_ids_are_cast_when_whole_and_rejected_otherwise():
    m = _embedding_model()
    m.fit(np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 2.0]], "float32"), np.array([0.0, 1.0]), verbose=0)
    with pytest.raises(TypeError, match="non-integer values.*integer ids"):
        m.fit(np.array([[1.5, 2.0, 3.0]], "float32"), np.array([0.0]), verbose=0)


def test_class_weight_with_per_timestep_labels_is_rejected():
    from kerasish.layers import Embedding, LSTM

    m = Sequential([Embedding(10, 4), LSTM(3, return_sequences=True), Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.array([[1, 2, 3], [3, 2, 1]])
    y = np.array([[0, 1, 0], [1, 1, 0]])
    with pytest.raises(ValueError, match=r"class_weight needs one class label per sample.*\(2, 3\).*sample_weight"):
        m.fit(x, y, class_weight={0: 1.0, 1: 2.0}, verbose=0)
