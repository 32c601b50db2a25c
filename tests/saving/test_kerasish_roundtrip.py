"""What a `.kerasish` round trip keeps: the compile metrics (names and objects, weighted and
per output) and models nested in models (issue 20)."""

import warnings

import numpy as np
import pytest

import kerasish
from kerasish import Input, Model, Sequential, losses, metrics
from kerasish.layers import BatchNormalization, Concatenate, Dense, Dropout
from kerasish.saving import load_model, register_keras_serializable
from tests.keras_parity import assert_close, copy_weights, keras_module

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 3)).astype("float32")
Y = (X @ np.array([[1.0], [-1.0], [0.5]], dtype="float32") > 0).astype("float32")
W = RNG.uniform(0.2, 2.0, size=(32,)).astype("float32")


def _save_quietly(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may be dropped: a warning fails the test
        model.save(str(path))


def _classifier():
    return Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1, activation="sigmoid")])


@register_keras_serializable(package="roundtrip")
class HalfMAE(metrics.MeanMetricWrapper):
    """A user's metric class: half the mean absolute error, with its own argument."""

    def __init__(self, scale=0.5, name="half_mae", dtype=None):
        super().__init__(lambda t, p: scale * losses.mean_absolute_error(t, p), name=name, dtype=dtype)
        self.scale = scale

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "scale": self.scale}


def test_metric_objects_strings_and_weighted_metrics_survive(tmp_path):
    model = _classifier()
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[metrics.AUC(name="auc"), "accuracy", metrics.Precision(thresholds=0.3), HalfMAE(0.25)],
                  weighted_metrics=["mae", metrics.MeanSquaredError(name="wmse")], device="cpu")
    model.fit(X, Y, sample_weight=W, epochs=2, batch_size=8, verbose=0)
    before = model.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True)
    _save_quietly(model, tmp_path / "m.kerasish")
    restored = load_model(str(tmp_path / "m.kerasish"))
    after = restored.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True)
    assert list(after) == list(before) == ["accuracy", "auc", "half_mae", "loss", "mae", "precision", "wmse"]
    # evaluate's list keeps compile order (loss, auc, accuracy, precision, half_mae, mae, wmse): it survives too
    assert restored.evaluate(X, Y, sample_weight=W, verbose=0) == pytest.approx(
        [before[k] for k in ["loss", "auc", "accuracy", "precision", "half_mae", "mae", "wmse"]], rel=1e-6)
    assert after == pytest.approx(before, rel=1e-6)
    assert before["mae"] != pytest.approx(restored.evaluate(X, Y, verbose=0, return_dict=True)["mae"])  # weighted
    auc = next(m for m in restored.metrics[1].metrics if m.name == "auc")
    assert isinstance(auc, metrics.AUC) and auc.get_config() == metrics.AUC(name="auc").get_config()
    half = next(m for m in restored.metrics[1].metrics if m.name == "half_mae")
    assert type(half) is HalfMAE and half.scale == 0.25


def test_per_output_metric_dicts_and_loss_objects_survive(tmp_path):
    inputs = Input((3,))
    hidden = Dense(8, activation="relu")(inputs)
    model = Model(inputs, {"a": Dense(1, name="a")(hidden), "b": Dense(2, name="b")(hidden)})
    model.compile(optimizer="sgd", loss={"a": "mse", "b": losses.Huber(delta=0.5)},
                  metrics={"a": ["mae", metrics.RootMeanSquaredError()], "b": [metrics.MeanAbsoluteError(name="m")]},
                  loss_weights={"a": 1.0, "b": 0.5}, device="cpu")
    y = {"a": X[:, :1], "b": X[:, 1:]}
    model.fit(X, y, epochs=1, batch_size=8, verbose=0)
    before = model.evaluate(X, y, verbose=0, return_dict=True)
    _save_quietly(model, tmp_path / "m.kerasish")
    after = load_model(str(tmp_path / "m.kerasish")).evaluate(X, y, verbose=0, return_dict=True)
    assert set(before) >= {"a_mae", "a_root_mean_squared_error", "b_m"}
    assert list(after) == list(before)
    assert after == pytest.approx(before, rel=1e-6)


def test_a_plain_function_metric_is_named_when_dropped(tmp_path):
    def my_metric(y_true, y_pred):
        return (y_true - y_pred).abs()

    model = _classifier()
    model.compile(optimizer="adam", loss="mse", device="cpu", metrics=[
        "mae", my_metric, metrics.MeanMetricWrapper(my_metric, name="wrapped"), losses.mean_squared_error])
    with pytest.warns(UserWarning, match=r"without: metric 'my_metric', metric 'wrapped'\. A file cannot hold code"):
        model.save(str(tmp_path / "m.kerasish"))
    before = model.evaluate(X, Y, verbose=0, return_dict=True)
    after = load_model(str(tmp_path / "m.kerasish")).evaluate(X, Y, verbose=0, return_dict=True)
    assert list(after) == ["loss", "mae", "mean_squared_error"]  # a kerasish loss function is kept by name
    assert after == pytest.approx({k: before[k] for k in after}, rel=1e-6)


def test_reloaded_metrics_match_keras_own_round_trip(tmp_path):
    keras = keras_module()
    ours = _classifier()
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                               keras.layers.Dense(1, activation="sigmoid")])
    copy_weights(ours, theirs)
    ours.compile(optimizer="adam", loss="binary_crossentropy", metrics=[metrics.AUC(name="auc"), "accuracy"],
                 weighted_metrics=["mae"], device="cpu")
    theirs.compile(optimizer="adam", loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc"), "accuracy"],
                   weighted_metrics=["mae"])
    ours.save(str(tmp_path / "m.kerasish"))
    theirs.save(str(tmp_path / "m.keras"))
    got = load_model(str(tmp_path / "m.kerasish")).evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True)
    want = keras.saving.load_model(str(tmp_path / "m.keras")).evaluate(X, Y, sample_weight=W, verbose=0,
                                                                        return_dict=True)
    assert set(got) == set(want)
    assert_close(np.array([got[k] for k in sorted(want)]), np.array([want[k] for k in sorted(want)]), atol=1e-5)


# ---------------------------------------------------------------- models inside models
def _check_round_trip(model, path, x, y):
    model.compile(optimizer="adam", loss="mse", metrics=["mae"], device="cpu")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    _save_quietly(model, path)
    restored = load_model(str(path))
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert restored.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(x, y, verbose=0, return_dict=True)
    return restored


def test_functional_containing_a_sequential_loads_and_predicts_the_same(tmp_path):
    inner = Sequential([Dense(4, activation="relu"), BatchNormalization(), Dropout(0.2), Dense(2)], name="inner")
    inputs = Input((3,))
    model = Model(inputs, Dense(1)(inner(inputs)))
    restored = _check_round_trip(model, tmp_path / "m.kerasish", X, Y)
    assert type(restored.layers[1]).__name__ == "Sequential" and restored.layers[1].name == "inner"


def test_sequential_shared_by_two_inputs_of_a_functional_model(tmp_path):
    encoder = Sequential([Input((3,)), Dense(4, activation="tanh")], name="encoder")
    a, b = Input((3,), name="a"), Input((3,), name="b")
    model = Model([a, b], Dense(1)(Concatenate()([encoder(a), encoder(b)])))
    model.compile(optimizer="adam", loss="mse", device="cpu")
    model.save(str(tmp_path / "m.kerasish"))
    restored = load_model(str(tmp_path / "m.kerasish"))
    np.testing.assert_array_equal(restored.predict([X, -X], verbose=0), model.predict([X, -X], verbose=0))


def test_sequential_containing_a_functional_model_is_built_and_round_trips(tmp_path):
    inputs = Input((3,))
    block = Model(inputs, Dense(4, activation="relu")(inputs), name="block")
    model = Sequential([block, Dense(1)])
    assert model.built and model.output_shape == (None, 1)  # as Keras: built from the block's input
    assert len(model.get_weights()) == 4
    _check_round_trip(model, tmp_path / "m.kerasish", X, Y)


def test_sequential_containing_a_functional_model_matches_keras():
    keras = keras_module()
    inputs = Input((3,))
    model = Sequential([Model(inputs, Dense(4)(inputs)), Dense(1)])
    k_inputs = keras.Input((3,))
    k_model = keras.Sequential([keras.Model(k_inputs, keras.layers.Dense(4)(k_inputs)), keras.layers.Dense(1)])
    assert [tuple(w.shape) for w in model.get_weights()] == [tuple(w.shape) for w in k_model.get_weights()]
    copy_weights(model, k_model)
    assert_close(model.predict(X, verbose=0), k_model.predict(X, verbose=0), atol=1e-6)


@register_keras_serializable(package="roundtrip")
class Tower(Model):
    """A user's subclassed model holding a Sequential."""

    def __init__(self, width=4, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.body = Sequential([Dense(width, activation="relu"), Dense(1)])

    def call(self, inputs):
        return self.body(inputs)

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def test_registered_subclassed_model_holding_a_sequential_round_trips(tmp_path):
    model = Tower(width=5)
    model(X[:2])
    restored = _check_round_trip(model, tmp_path / "m.kerasish", X, Y)
    assert type(restored) is Tower and restored.width == 5


def test_a_rebuilt_model_of_the_same_session_still_loads_by_position(tmp_path):
    # The same architecture built twice in one session gets other auto names ('dense_7').
    first = Sequential([Dense(2, input_shape=(3,))])
    first.save(str(tmp_path / "m.kerasish"))
    second = Sequential([Dense(2, input_shape=(3,))])
    kerasish.saving.load_weights(second, str(tmp_path / "m.kerasish"))
    np.testing.assert_array_equal(second.predict(X, verbose=0), first.predict(X, verbose=0))
