"""Errors have Keras 3's types where Keras raises one, so code that catches Keras's exception catches ours."""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.keras_parity import keras_module

X, Y = np.zeros((4, 3), "float32"), np.zeros(4)


def _model(keras, compiled):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    if compiled:
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("call", [
    lambda m: m.fit(X, Y, verbose=0),
    lambda m: m.evaluate(X, Y, verbose=0),
    lambda m: m.train_on_batch(X, Y),
])
def test_using_a_model_before_compile_is_a_value_error_as_in_keras(call):
    k = keras_module()
    with pytest.raises((ValueError, AttributeError)):  # Keras's evaluate fails with an AttributeError
        call(_model(k, compiled=False))
    with pytest.raises(ValueError, match=r"compile your model before calling \w+\(\)"):
        call(_model(kerasish, compiled=False))
    with pytest.raises(RuntimeError):  # what kerasish raised before; still caught by such code
        call(_model(kerasish, compiled=False))


@pytest.mark.parametrize("call", [
    lambda m: m.fit(X, Y, sample_weight=np.ones(4), class_weight={0: 1.0, 1: 2.0}, verbose=0),
    lambda m: m.train_on_batch(X, Y, sample_weight=np.ones(4), class_weight={0: 1.0, 1: 2.0}),
])
def test_class_weight_with_sample_weight_is_refused_as_in_keras(call):
    k = keras_module()
    with pytest.raises(ValueError, match="class_weight"):
        call(_model(k, compiled=True))
    model = _model(kerasish, compiled=True)
    before = model.get_weights()
    with pytest.raises(ValueError, match="both class_weight and sample_weight.* pass only sample_weight"):
        call(model)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_unknown_layer_argument_is_keras_value_error_and_pythons_type_error():
    k = keras_module()
    with pytest.raises(ValueError, match="Unrecognized keyword arguments"):
        k.layers.Dense(2, bogus=1)
    for caught in (ValueError, TypeError):
        with pytest.raises(caught, match=r"Dense\(\) got unexpected keyword argument\(s\) \['bogus'\]"):
            kerasish.layers.Dense(2, bogus=1)
