"""keras-io's example "Endpoint layer pattern" (`examples/keras_recipes/endpoint_layer_pattern.py`, the
Keras 3 text), run on kerasish.

The example's code is kept as written; the only changes are the import (`import kerasish as keras`)
and the lines marked `# changed:`: `tf.nn.softmax` is `keras.ops.softmax` (the same function), the
random arrays come from a seeded generator and hold 256 samples instead of 1000, Keras's initial
weights are copied in, and `shuffle=False` is passed. Keras 3 (torch backend,
`tests/keras_parity.py`) runs the same code. The endpoint layer adds its loss with `add_loss` and
updates a metric it holds inside `call`; the model is compiled without a loss, so what `fit` logs
(`accuracy` beside `loss`), the History, the trained weights and the inference model's predictions
are compared between the two libraries.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    # The example's softmax over a single logit: both libraries warn that it is always 1 (checked below).
    pytest.mark.filterwarnings("ignore:.*softmax over axis -1.*:UserWarning"),
]


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


class _Example:
    """The example's layer and subclassed model, written against `keras` (either library)."""

    def __init__(self, keras):
        keras.backend.clear_session()  # changed: names restart at 'dense' in both libraries

        class LogisticEndpoint(keras.layers.Layer):
            def __init__(self, name=None):
                super().__init__(name=name)
                self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
                self.accuracy_metric = keras.metrics.BinaryAccuracy(name="accuracy")

            def call(self, logits, targets=None, sample_weight=None):
                if targets is not None:
                    # Compute the training-time loss value and add it
                    # to the layer using `self.add_loss()`.
                    loss = self.loss_fn(targets, logits, sample_weight)
                    self.add_loss(loss)

                    # Log the accuracy as a metric (we could log arbitrary metrics,
                    # including different metrics for training and inference.)
                    self.accuracy_metric.update_state(targets, logits, sample_weight)

                # Return the inference-time prediction tensor (for `.predict()`).
                return keras.ops.softmax(logits)  # changed: tf.nn.softmax

        class LogReg(keras.Model):
            def __init__(self):
                super().__init__()
                self.dense = keras.layers.Dense(1)
                self.logistic_endpoint = LogisticEndpoint()

            def call(self, inputs):
                # Note that all inputs should be in the first argument
                # since we want to be able to call `model.fit(inputs)`.
                logits = self.dense(inputs["inputs"])
                preds = self.logistic_endpoint(
                    logits=logits,
                    targets=inputs["targets"],
                    sample_weight=inputs["sample_weight"],
                )
                return preds

        self.keras, self.LogisticEndpoint, self.LogReg = keras, LogisticEndpoint, LogReg

    def functional_model(self):
        keras, LogisticEndpoint = self.keras, self.LogisticEndpoint
        inputs = keras.Input((764,), name="inputs")
        logits = keras.layers.Dense(1)(inputs)
        targets = keras.Input((1,), name="targets")
        sample_weight = keras.Input((1,), name="sample_weight")
        preds = LogisticEndpoint()(logits, targets, sample_weight)
        model = keras.Model([inputs, targets, sample_weight], preds)
        return model

    def inference_model(self):
        keras, LogisticEndpoint = self.keras, self.LogisticEndpoint
        inputs = keras.Input((764,), name="inputs")
        logits = keras.layers.Dense(1)(inputs)
        preds = LogisticEndpoint()(logits, targets=None, sample_weight=None)
        inference_model = keras.Model(inputs, preds)
        return inference_model


def _data(seed, labels=False):
    rng = np.random.default_rng(seed)  # changed: np.random.random, seeded
    data = {
        "inputs": rng.random((256, 764)),  # changed: 1000 samples, for speed (here and below)
        "targets": rng.random((256, 1)),
        "sample_weight": rng.random((256, 1)),
    }
    if labels:
        data["targets"] = np.round(data["targets"])  # changed: 0/1 labels, so that accuracy is not 0
    return data


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def _fit_functional(keras, weights, labels=False):
    ex = _Example(keras)
    model = ex.functional_model()
    model.set_weights(weights)  # changed: Keras's initial weights in both
    data = _data(0, labels)

    model.compile(keras.optimizers.Adam(1e-3))
    history = model.fit(data, epochs=2, shuffle=False, verbose=2)  # changed: History kept, same batches
    score = model.evaluate(data, verbose=0)  # changed: an evaluation, to compare
    return ex, model, history, score


def test_the_functional_endpoint_model_fits_as_keras(capsys):
    k = keras_module()
    weights = _Example(k).functional_model().get_weights()
    capsys.readouterr()
    runs, printed = {}, {}
    for lib in (k, kerasish):
        runs[lib] = _fit_functional(lib, weights)
        printed[lib] = text_and_numbers(capsys.readouterr().out.splitlines())
    (ex, ours, h_ours, s_ours), (_, theirs, h_theirs, s_theirs) = runs[kerasish], runs[k]
    assert _summary(ours) == _summary(theirs)
    # The layer's metric is one of the model's metrics: logged beside the add_loss loss, as in Keras.
    assert list(h_ours.history) == list(h_theirs.history) == ["accuracy", "loss"]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-5, atol=1e-6)
    assert printed[kerasish][0] == printed[k][0]
    # Random targets in (0, 1) are never a 0/1 label: the example's accuracy prints as 0.0000e+00.
    assert printed[kerasish][0][:2] == ["Epoch #/#", "#/# - <time> - <time>/step - accuracy: #e+# - loss: #"]
    np.testing.assert_allclose(printed[kerasish][1], printed[k][1], rtol=1e-4, atol=1.5e-4)
    np.testing.assert_allclose(s_ours, s_theirs, rtol=1e-5, atol=1e-6)
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-6)

    # Exporting an inference-only model: the same weights, no targets.
    predictions = {}
    for lib, (ex_lib, model, _, _) in ((kerasish, runs[kerasish]), (k, runs[k])):
        inference_model = ex_lib.inference_model()
        inference_model.set_weights(model.get_weights())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            preds = inference_model.predict(np.random.default_rng(1).random((64, 764)),
                                            verbose=0)  # changed: seeded, 64 samples
        predictions[lib] = preds
        # Both warn that a softmax over one logit is always 1 (in their own words).
        assert any("softmax" in str(w.message) and "size 1" in str(w.message) for w in caught)
    assert_close(predictions[kerasish], predictions[k])


def test_the_layer_metric_restarts_each_epoch_and_each_evaluation():
    k = keras_module()
    weights = _Example(k).functional_model().get_weights()
    results = {}
    for lib in (k, kerasish):
        _, model, history, score = _fit_functional(lib, weights, labels=True)
        # An evaluation after fit starts the layer's metric from zero, as the epoch did.
        again = model.evaluate(_data(0, labels=True), verbose=0)
        results[lib] = (history.history["accuracy"], score, again)
    assert results[kerasish][2] == pytest.approx(results[kerasish][1], rel=1e-6)
    assert 0.3 < results[kerasish][0][0] < 1  # an accuracy that can differ, unlike the example's 0
    np.testing.assert_allclose(np.hstack(results[kerasish]), np.hstack(results[k]), rtol=1e-5, atol=1e-6)


def test_a_model_compiled_without_metrics_lists_the_loss_and_the_layer_metric():
    k = keras_module()
    names = {}
    for lib in (k, kerasish):
        model = _Example(lib).functional_model()
        model.compile(lib.optimizers.Adam(1e-3))
        names[lib] = [m.name for m in model.metrics]
    assert names[k] == ["loss", "accuracy"]
    assert names[kerasish] == names[k]


def _built_log_reg(keras, data):
    model = _Example(keras).LogReg()
    model({key: value[:2] for key, value in data.items()})  # changed: built, so that Keras's weights fit
    return model


def _fit_subclassed(keras, weights):
    data = _data(2)
    model = _built_log_reg(keras, data)
    model.set_weights(weights)  # changed: Keras's initial weights in both

    model.compile(keras.optimizers.Adam(1e-3))
    history = model.fit(data, epochs=2, shuffle=False, verbose=0)  # changed: History kept, same batches
    return model, history


def test_the_subclassed_endpoint_model_fits_as_keras():
    k = keras_module()
    weights = _built_log_reg(k, _data(2)).get_weights()
    theirs, h_theirs = _fit_subclassed(k, weights)
    ours, h_ours = _fit_subclassed(kerasish, weights)
    assert list(h_ours.history) == list(h_theirs.history) == ["accuracy", "loss"]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-5, atol=1e-6)
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-6)
