"""Six silent differences from Keras 3 (torch backend), each held against Keras itself.

1. weights of an unbuilt layer do not exist yet (AttributeError, `hasattr` False);
2. `build(shape)` called directly marks a subclassed Model or Layer built;
3. `batch_input_shape=` on a layer other than InputLayer is refused;
4. `utils.to_categorical` gives float64 arrays for arrays and int64 tensors for tensors;
5. ReduceLROnPlateau and LearningRateScheduler read and log the rate as a float32 value;
6. AUC, IoU and the confusion metrics share one per-device constant helper.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
import torch

import kerasish
from kerasish.metrics.metric import device_constant
from tests.keras_parity import assert_close, copy_weights, keras_module, to_numpy

# Keras 3.15's own numpy-2 deprecation notices, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*")


@pytest.fixture
def keras():
    k = keras_module()
    k.utils.set_random_seed(0)
    k.backend.clear_session()
    return k


def _outcome(read):
    """('value', v) or ('raises', exception type) for a zero-argument read."""
    try:
        return "value", read()
    except Exception as e:  # noqa: BLE001 - the type is what the test compares
        return "raises", type(e)


# --------------------------------------------------------------------------- 1. unbuilt weights
UNBUILT = [
    ("Dense", lambda L: L.Dense(3), ["kernel", "bias"]),
    ("Conv1D", lambda L: L.Conv1D(2, 3), ["kernel", "bias"]),
    ("Conv2D", lambda L: L.Conv2D(2, 3), ["kernel", "bias"]),
    ("Conv2DTranspose", lambda L: L.Conv2DTranspose(2, 3), ["kernel", "bias"]),
    ("DepthwiseConv2D", lambda L: L.DepthwiseConv2D(3), ["kernel", "bias"]),
    ("SeparableConv2D", lambda L: L.SeparableConv2D(2, 3), ["pointwise_kernel", "bias"]),
    ("Embedding", lambda L: L.Embedding(5, 2), ["embeddings"]),
    ("LayerNormalization", lambda L: L.LayerNormalization(), ["gamma", "beta"]),
    ("BatchNormalization", lambda L: L.BatchNormalization(), ["gamma", "beta", "moving_mean", "moving_variance"]),
    ("GroupNormalization", lambda L: L.GroupNormalization(groups=1), ["gamma", "beta"]),
    ("EinsumDense", lambda L: L.EinsumDense("ab,bc->ac", 3, bias_axes="c"), ["kernel", "bias"]),
]


@pytest.mark.parametrize("make,attrs", [(m, a) for _, m, a in UNBUILT], ids=[n for n, _, _ in UNBUILT])
def test_unbuilt_layer_weights_read_as_in_keras(keras, make, attrs):
    ours, theirs = make(kerasish.layers), make(keras.layers)
    for attr in attrs:
        kind, value = _outcome(lambda: getattr(theirs, attr))
        assert hasattr(ours, attr) == hasattr(theirs, attr), attr
        if kind == "raises":
            assert value is AttributeError
            with pytest.raises(AttributeError, match=r"not built yet.*build\(") as excinfo:
                getattr(ours, attr)
            assert attr in str(excinfo.value)
        else:
            assert value is None and getattr(ours, attr) is None  # BatchNormalization: None until built, as Keras


@pytest.mark.parametrize("make,shape,absent", [
    (lambda L: L.Dense(2, use_bias=False), (None, 3), "bias"),
    (lambda L: L.Conv2D(2, 3, use_bias=False), (None, 5, 5, 1), "bias"),
    (lambda L: L.LayerNormalization(center=False), (None, 3), "beta"),
    (lambda L: L.LayerNormalization(scale=False), (None, 3), "gamma"),
    (lambda L: L.GroupNormalization(groups=1, center=False), (None, 3), "beta"),
    (lambda L: L.EinsumDense("ab,bc->ac", 3), (None, 3), "bias"),
])
def test_a_weight_the_build_leaves_out_reads_none(keras, make, shape, absent):
    ours, theirs = make(kerasish.layers), make(keras.layers)
    ours.build(shape)
    theirs.build(shape)
    assert getattr(theirs, absent) is None and getattr(ours, absent) is None
    assert_close(ours.compute_output_shape(shape)[1:], theirs.compute_output_shape(shape)[1:])
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]


def test_built_layer_weights_and_unbuilt_get_weights(keras):
    ours, theirs = kerasish.layers.Dense(3), keras.layers.Dense(3)
    assert ours.get_weights() == theirs.get_weights() == []  # unbuilt: no arrays, and no error
    ours.build((None, 4))
    theirs.build((None, 4))
    copy_weights(theirs, ours)
    assert_close(ours.kernel, theirs.kernel)
    assert hasattr(ours, "kernel") and hasattr(ours, "bias")


# --------------------------------------------------------------------------- 2. build() called directly
def _model_classes(K):
    class NoBuild(K.Model):
        def __init__(self):
            super().__init__()
            self.d1 = K.layers.Dense(3)
            self.d2 = K.layers.Dense(2)

        def call(self, x):
            return self.d2(self.d1(x))

    class OwnBuild(K.Model):
        def __init__(self):
            super().__init__()
            self.d1 = K.layers.Dense(3)

        def build(self, input_shape):
            self.d1.build(input_shape)
            self.w = self.add_weight(shape=(3,), initializer="ones", name="w")

        def call(self, x):
            return self.d1(x) * self.w

    class SuperFirst(K.Model):
        def __init__(self):
            super().__init__()
            self.d1 = K.layers.Dense(3)

        def build(self, input_shape):
            super().build(input_shape)
            self.d1.build(input_shape)

        def call(self, x):
            return self.d1(x)

    class Wrapper(K.layers.Layer):
        def __init__(self):
            super().__init__()
            self.d = K.layers.Dense(3)

        def call(self, x):
            return self.d(x)

    class Doubler(K.layers.Layer):
        def call(self, x):
            return x * 2

    return {"NoBuild": NoBuild, "OwnBuild": OwnBuild, "SuperFirst": SuperFirst, "Wrapper": Wrapper,
            "Doubler": Doubler}


def _build_recording(cls):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        obj = cls()
        obj.build((None, 4))
    return obj, [w for w in caught if issubclass(w.category, UserWarning) and "build()" in str(w.message)]


@pytest.mark.parametrize("name", ["NoBuild", "OwnBuild", "SuperFirst", "Wrapper", "Doubler"])
def test_direct_build_marks_built_as_in_keras(keras, name):
    ours, our_warnings = _build_recording(_model_classes(kerasish)[name])
    theirs, their_warnings = _build_recording(_model_classes(keras)[name])
    assert ours.built is theirs.built is True
    assert ours.count_params() == theirs.count_params()
    assert len(ours.weights) == len(theirs.weights)
    assert len(our_warnings) == len(their_warnings)  # warns only with unbuilt sublayers and no build of its own
    if isinstance(ours, kerasish.Model):
        assert _summary_totals(ours) == _summary_totals(theirs)
    x = np.ones((2, 4), "float32")
    assert tuple(ours(x).shape) == tuple(theirs(x).shape)
    assert ours.count_params() == theirs.count_params()  # the first call built what build() left


def test_fit_after_a_direct_build_trains_the_sublayers_it_left_unbuilt(keras):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")
    counts = []
    for lib in (keras, kerasish):
        model = _model_classes(lib)["NoBuild"]()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the unbuilt-sublayers warning, tested above
            model.build((None, 4))
        model.compile(lib.optimizers.SGD(0.1), "mse")
        loss = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
        counts.append(model.count_params())
        assert loss[-1] < loss[0], lib.__name__
    assert counts[0] == counts[1] > 0


def _summary_totals(model):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        model.summary()
    return [line.strip() for line in buf.getvalue().splitlines() if "params" in line.lower()]


def test_direct_build_with_unbuilt_sublayers_warns_at_the_callers_line():
    model = _model_classes(kerasish)["NoBuild"]()
    with pytest.warns(UserWarning, match=r"build\(\) was called on layer .*sublayers \['dense.*'\] stay unbuilt") as rec:
        model.build((None, 4))
    assert rec[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a first call builds it silently, as in Keras
        _model_classes(kerasish)["NoBuild"]()(np.ones((2, 4), "float32"))


# --------------------------------------------------------------------------- 3. batch_input_shape
@pytest.mark.parametrize("make", [
    lambda L: L.Dense(3, batch_input_shape=(None, 4)),
    lambda L: L.Conv2D(2, 3, batch_input_shape=(None, 8, 8, 1)),
    lambda L: L.Embedding(5, 2, batch_input_shape=[None, 4]),
    lambda L: L.LSTM(3, batch_input_shape=(None, 4, 2)),
    lambda L: L.Dropout(0.5, batch_input_shape=None),
])
def test_batch_input_shape_is_refused_as_in_keras(keras, make):
    with pytest.raises(ValueError):
        make(keras.layers)
    with pytest.raises(ValueError, match=r"batch_input_shape=.*Keras 2 argument.*Input\(batch_shape="):
        make(kerasish.layers)


def test_input_layer_still_takes_batch_input_shape(keras):
    ours = kerasish.layers.InputLayer(batch_input_shape=(None, 4))
    theirs = keras.layers.InputLayer(batch_input_shape=(None, 4))
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape)


# --------------------------------------------------------------------------- 4. to_categorical
@pytest.mark.parametrize("labels", [[0, 2, 1], np.array([[1], [0], [3]]), np.array([[0, 1], [2, 2]], "int32")])
def test_to_categorical_of_arrays_is_float64_as_keras(keras, labels):
    ours, theirs = kerasish.utils.to_categorical(labels, 4), keras.utils.to_categorical(labels, 4)
    assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype == np.float64
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("labels", [torch.tensor([0, 2, 1]), torch.tensor([[1], [0], [3]]),
                                    torch.tensor([-1, 3, 0], dtype=torch.int32), torch.tensor([0.0, 2.0])])
def test_to_categorical_of_tensors_is_an_int64_tensor_as_keras(keras, labels):
    ours, theirs = kerasish.utils.to_categorical(labels, 4), keras.utils.to_categorical(labels, 4)
    assert isinstance(ours, torch.Tensor) and ours.dtype == theirs.dtype == torch.int64
    assert ours.device == labels.device
    np.testing.assert_array_equal(to_numpy(ours), to_numpy(theirs))  # a negative label: a row of zeros


def test_to_categorical_of_tensors_errors_as_keras(keras):
    with pytest.raises(TypeError):
        keras.utils.to_categorical(torch.tensor([0, 2]))
    with pytest.raises(TypeError, match=r"torch tensor of shape \(2,\) with num_classes=None.*Pass num_classes"):
        kerasish.utils.to_categorical(torch.tensor([0, 2]))
    with pytest.raises(RuntimeError):
        keras.utils.to_categorical(torch.tensor([5, 2]), 3)
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        kerasish.utils.to_categorical(torch.tensor([5, 2]), 3)


def test_to_categorical_dtype_keyword_is_kerasish_only():
    assert kerasish.utils.to_categorical([1, 0], 2, dtype="float32").dtype == np.float32
    assert kerasish.utils.to_categorical(torch.tensor([1, 0]), 2, dtype="float32").dtype == torch.float32
    with pytest.raises(TypeError):
        kerasish.utils.to_categorical([1, 0], 2, "float32")  # keyword-only: Keras's third argument does not exist


@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("loss", ["categorical_crossentropy", "mse"])
def test_models_train_on_to_categorical_labels_as_keras(keras, as_tensor, loss):
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, 32)
    models = []
    for lib in (keras, kerasish):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation="softmax")])
        model.compile(lib.optimizers.SGD(0.1), loss, metrics=["categorical_accuracy"])
        models.append(model)
    copy_weights(*models)
    histories = []
    for lib, model in zip((keras, kerasish), models):
        y = lib.utils.to_categorical(torch.tensor(labels) if as_tensor else labels, 3)
        histories.append(model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history)
    assert histories[0].keys() == histories[1].keys()
    for key in histories[0]:
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- 5. learning rates in the logs
def _fit_logging_rates(lib, callback, epochs=4):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1)])
    model.compile(lib.optimizers.SGD(0.001), "mse")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        history = model.fit(x, y, epochs=epochs, verbose=0, callbacks=[callback])
    return history.history["learning_rate"], [line for line in buf.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("kwargs", [dict(factor=0.1), dict(factor=0.5, min_lr=0.0004), dict(factor=0.1, min_lr=1e-5)])
def test_reduce_lr_on_plateau_logs_the_float32_rate_as_keras(keras, kwargs):
    # min_delta=10: no epoch counts as an improvement, so the rate is cut every epoch (down to min_lr).
    make = lambda lib: lib.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10, verbose=1, **kwargs)
    ours, theirs = _fit_logging_rates(kerasish, make(kerasish)), _fit_logging_rates(keras, make(keras))
    assert ours == theirs  # e.g. [0.0010000000474974513, 0.0010000000474974513, 0.00010000000474974513, ...]
    assert all(type(v) is float for v in ours[0])


@pytest.mark.parametrize("two_args", [True, False])
def test_learning_rate_scheduler_reads_and_logs_the_float32_rate_as_keras(keras, two_args):
    seen = {}

    def make(lib):
        calls = seen.setdefault(lib.__name__, [])

        def schedule(epoch, lr=None):
            calls.append(lr)
            return lr * 0.9 if two_args else 0.01 / (epoch + 1)

        return lib.callbacks.LearningRateScheduler(schedule if two_args else (lambda epoch: schedule(epoch)),
                                                   verbose=1)

    ours, theirs = _fit_logging_rates(kerasish, make(kerasish)), _fit_logging_rates(keras, make(keras))
    assert ours == theirs
    assert seen["kerasish"] == seen["keras"]  # the `lr` the schedule receives


# --------------------------------------------------------------------------- 6. per-device constants
def test_device_constant_is_made_once_per_device_and_dtype():
    class Holder:
        pass

    holder = Holder()
    a = device_constant(holder, "ids", [1, 2], torch.device("cpu"), torch.long)
    assert device_constant(holder, "ids", [1, 2], torch.device("cpu"), torch.long) is a
    b = device_constant(holder, "ids", [1, 2], torch.device("cpu"), torch.float64)
    assert b is not a and b.dtype == torch.float64 and b.tolist() == [1.0, 2.0]
    assert device_constant(holder, "other", [3], torch.device("cpu"), torch.long).tolist() == [3]


@pytest.mark.parametrize("make", [
    lambda M: M.AUC(num_thresholds=7, multi_label=True, num_labels=2, label_weights=[0.3, 0.7]),
    lambda M: M.AUC(num_thresholds=7, label_weights=[0.3, 0.7], multi_label=False),
    lambda M: M.IoU(num_classes=3, target_class_ids=[2, 0]),
    lambda M: M.Precision(thresholds=[0.7, 0.2, 0.5]),
    lambda M: M.RecallAtPrecision(0.5, num_thresholds=9),
])
def test_metrics_with_device_constants_match_keras_over_several_batches(keras, make):
    rng = np.random.default_rng(1)
    ours, theirs = make(kerasish.metrics), make(keras.metrics)
    iou = isinstance(ours, kerasish.metrics.IoU)
    for _ in range(3):
        if iou:
            y_true, y_pred = rng.integers(0, 3, 16), rng.integers(0, 3, 16)
        else:
            y_true, y_pred = rng.integers(0, 2, (8, 2)).astype("float32"), rng.random((8, 2)).astype("float32")
        ours.update_state(y_true, y_pred)
        theirs.update_state(y_true, y_pred)
        assert_close(ours.result(), theirs.result(), atol=1e-6)
