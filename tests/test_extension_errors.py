"""Bad input to the extension API: each raise names what was wrong and how to fix it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish as keras


def _functional(cls=keras.Model):
    inputs = keras.Input(shape=(3,))
    return cls(inputs, keras.layers.Dense(1)(inputs))


def _data(n=8):
    rng = np.random.default_rng(0)
    return rng.random((n, 3)).astype("float32"), rng.random((n, 1)).astype("float32")


def test_add_weight_with_an_unknown_dimension():
    class Bad(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(None, 4))

        def call(self, inputs):
            return inputs

    layer = Bad()
    with pytest.raises(ValueError, match=r"received shape=\(None, 4\).*known non-negative ints"):
        layer(torch.ones((2, 3)))
    assert layer.weights == []


def test_add_weight_with_an_unknown_initializer_lists_the_valid_names():
    layer = keras.layers.Layer()
    with pytest.raises(ValueError, match=r"random_normall.*random_normal"):
        layer.add_weight(shape=(2,), initializer="random_normall")
    assert layer.weights == []


def test_train_step_returning_a_list():
    class ListStep(keras.Model):
        def train_step(self, data):
            x, y = data
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
            return [loss]

    model = _functional(ListStep)
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    with pytest.raises(TypeError, match=r"train_step\(\) must return a dict.*received list"):
        model.fit(x, y, verbose=0)


def test_test_step_returning_a_number():
    class NumberStep(keras.Model):
        def test_step(self, data):
            return 1.0

    model = _functional(NumberStep)
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    with pytest.raises(TypeError, match=r"test_step\(\) must return a dict.*received float"):
        model.evaluate(x, y, verbose=0)


def test_fit_without_any_loss():
    model = _functional()
    model.compile(optimizer="sgd")
    x, y = _data()
    before = [w.numpy() for w in model.weights]
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(x, y, verbose=0)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))


def test_compute_loss_without_any_loss_in_a_custom_train_step():
    class Step(keras.Model):
        def train_step(self, data):
            x, y = data
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
            return {"loss": loss}

    model = _functional(Step)
    model.compile(optimizer="sgd")
    x, y = _data()
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(x, y, verbose=0)


def test_optimizer_apply_with_mismatched_counts():
    model = _functional()
    optimizer = keras.optimizers.SGD()
    variables = model.trainable_weights
    with pytest.raises(ValueError, match=r"received 1 gradients for 2 variables"):
        optimizer.apply([torch.zeros_like(variables[0])], variables)


def test_variable_assign_with_the_wrong_shape():
    layer = keras.layers.Layer()
    v = layer.add_weight(shape=(2, 3), initializer="zeros")
    with pytest.raises(ValueError, match=r"has shape \(2, 3\); assign\(\) received a value of shape \(3, 2\)"):
        v.assign(np.ones((3, 2), "float32"))
    np.testing.assert_array_equal(v.numpy(), np.zeros((2, 3)))


def test_add_loss_with_a_string():
    class Bad(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss("l2")
            return inputs

    with pytest.raises(TypeError, match=r"add_loss\(\) expects a scalar tensor.*received str"):
        Bad()(torch.ones((2, 2)))


@pytest.mark.parametrize("value, message", [
    (torch.ones(3), r"result 'loss' has shape \(3,\); logs hold scalars"),
    ("low", r"result 'loss' is 'low' of type str; logs hold numbers"),
])
def test_train_step_returning_a_non_scalar_value_names_the_key(value, message):
    class Odd(keras.Model):
        def train_step(self, data):
            return {"loss": value, "compile_metrics": {"extra": 1.0}}

    model = _functional(Odd)
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=message):
        model.fit(*_data(), verbose=0)


def test_train_step_logs_mix_floats_tensors_and_nested_results():
    class Mixed(keras.Model):
        def train_step(self, data):
            return {"loss": torch.tensor(0.5), "compile_metrics": {"extra": 2}, "rate": 0.25}

    model = _functional(Mixed)
    model.compile("sgd", "mse")
    assert model.fit(*_data(), verbose=0).history == {"loss": [0.5], "extra": [2.0], "rate": [0.25]}
