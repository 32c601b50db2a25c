"""The extension API against Keras 3 itself: same classes, same weights, same numbers.

Each class is written once against a module `K` and instantiated for both kerasish and
Keras (torch backend); Keras's initial weights are copied into kerasish with
`set_weights`, then outputs, `losses`, gradients and fit's History are compared.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import assert_close, copy_weights, grads, keras_module, to_numpy

# Keras 3.15's own numpy-2 deprecation notices, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*")


@pytest.fixture
def keras():
    k = keras_module()
    k.utils.set_random_seed(0)
    k.backend.clear_session()  # Keras's layer and variable name counters start again
    return k


def linear_class(K):
    class Linear(K.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return torch.matmul(inputs, self.w) + self.b  # Keras's guide: ops.matmul

    return Linear


def linear_with_loss_class(K):
    Linear = linear_class(K)

    class LinearWithLoss(Linear):
        """Linear plus an activity penalty added with add_loss."""

        def call(self, inputs):
            out = super().call(inputs)
            self.add_loss(1e-2 * torch.mean(torch.square(out)))
            return out

    return LinearWithLoss


def _x(shape=(5, 3), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _twins(keras, make, x):
    """The same layer in Keras and kerasish, built on x, with Keras's weights in both."""
    k_layer, s_layer = make(keras), make(kerasish)
    k_layer(torch.from_numpy(x))
    s_layer(torch.from_numpy(x))
    copy_weights(k_layer, s_layer)
    return k_layer, s_layer


def _forward_backward(layer, x):
    out = layer(torch.from_numpy(x))
    total = out.sum() + sum(layer.losses) if layer.losses else out.sum()
    for v in layer.trainable_weights:
        getattr(v, "value", v).grad = None
    total.backward()
    return out, [to_numpy(loss) for loss in layer.losses], grads(layer.trainable_weights)


def test_linear_with_add_weight_matches_keras(keras):
    x = _x()
    k_layer, s_layer = _twins(keras, lambda K: linear_class(K)(4), x)
    k_out, k_losses, k_grads = _forward_backward(k_layer, x)
    s_out, s_losses, s_grads = _forward_backward(s_layer, x)
    assert_close(s_out, k_out)
    assert s_losses == k_losses == []
    assert_close(s_grads, k_grads)


def test_layer_with_add_loss_matches_keras(keras):
    x = _x()
    k_layer, s_layer = _twins(keras, lambda K: linear_with_loss_class(K)(4), x)
    k_out, k_losses, k_grads = _forward_backward(k_layer, x)
    s_out, s_losses, s_grads = _forward_backward(s_layer, x)
    assert_close(s_out, k_out)
    assert len(s_losses) == len(k_losses) == 1
    assert_close(s_losses, k_losses)
    assert_close(s_grads, k_grads)


def test_dense_with_activity_regularizer_matches_keras(keras):
    x = _x()
    make = lambda K: K.layers.Dense(3, activity_regularizer=K.regularizers.L2(0.1))  # noqa: E731
    k_layer, s_layer = _twins(keras, make, x)
    k_out, k_losses, k_grads = _forward_backward(k_layer, x)
    s_out, s_losses, s_grads = _forward_backward(s_layer, x)
    assert_close(s_out, k_out)
    assert len(s_losses) == len(k_losses) == 1
    assert_close(s_losses, k_losses)  # Keras 3 divides the penalty by the batch size
    assert_close(s_grads, k_grads)


def test_dense_with_weight_regularizers_matches_keras(keras):
    x = _x()
    make = lambda K: K.layers.Dense(  # noqa: E731
        3, kernel_regularizer=K.regularizers.L2(1e-2), bias_regularizer=K.regularizers.L1(1e-2),
        bias_initializer="ones")
    k_layer, s_layer = _twins(keras, make, x)
    k_out, k_losses, k_grads = _forward_backward(k_layer, x)
    s_out, s_losses, s_grads = _forward_backward(s_layer, x)
    assert len(s_losses) == len(k_losses) == 2
    assert_close(sorted(float(v) for v in s_losses), sorted(float(v) for v in k_losses))
    assert_close(s_grads, k_grads)


def test_add_weight_names_and_paths_match_keras(keras):
    k_layer, s_layer = linear_class(keras)(4), linear_class(kerasish)(4)
    k_layer(torch.ones((1, 3)))
    s_layer(torch.ones((1, 3)))
    # Layer names depend on how many 'linear' layers earlier tests made (in both libraries).
    k_paths = [v.path.replace(k_layer.name, "<layer>", 1) for v in k_layer.weights]
    assert k_paths == ["<layer>/variable", "<layer>/variable_1"]
    assert [v.path.replace(s_layer.name, "<layer>", 1) for v in s_layer.weights] == k_paths
    assert [v.name for v in s_layer.weights] == [v.name for v in k_layer.weights]


def test_named_add_weight_paths_match_keras(keras):
    def make(K):
        class Scale(K.layers.Layer):
            def build(self, input_shape):
                self.kernel = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="kernel")
                self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

            def call(self, inputs):
                return inputs * self.kernel

        return Scale(name="scale")

    k_layer, s_layer = make(keras), make(kerasish)
    k_layer(torch.ones((1, 3)))
    s_layer(torch.ones((1, 3)))
    assert [v.path for v in s_layer.weights] == [v.path for v in k_layer.weights] == ["scale/kernel", "scale/count"]
    assert [v.trainable for v in s_layer.weights] == [v.trainable for v in k_layer.weights] == [True, False]


def custom_model_class(K):
    class CustomModel(K.Model):
        """The train_step guide's compute_loss version (with sample_weight support)."""

        def train_step(self, data):
            if len(data) == 3:
                x, y, sample_weight = data
            else:
                sample_weight = None
                x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


def _custom_model(K):
    inputs = K.Input(shape=(6,))
    x = K.layers.Dense(4, activation="relu")(inputs)
    outputs = K.layers.Dense(1)(x)
    model = custom_model_class(K)(inputs, outputs)
    model.compile(optimizer=K.optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    return model


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "sample_weight"])
def test_custom_train_step_history_matches_keras(keras, weighted):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    sw = rng.random(32).astype("float32") if weighted else None
    k_model, s_model = _custom_model(keras), _custom_model(kerasish)
    s_model.set_weights(k_model.get_weights())
    assert_close(s_model.predict(x, verbose=0), k_model.predict(x, verbose=0))
    kwargs = dict(sample_weight=sw, batch_size=8, epochs=3, shuffle=False, verbose=0)
    k_hist = k_model.fit(x, y, **kwargs).history
    s_hist = s_model.fit(x, y, **kwargs).history
    assert set(s_hist) == set(k_hist) == {"loss", "mae"}
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-5, atol=1e-5, err_msg=key)
    assert_close(s_model.get_weights(), k_model.get_weights())


@pytest.mark.parametrize("training", [False, None])
def test_fit_sets_training_for_a_sub_model_recorded_with_training_false_as_keras_does(keras, training):
    # Keras 3 does not replay a `training=` given when the graph was built: the outer call's flag
    # (True in fit) reaches the sub-model, so BatchNormalization's moving statistics move either way.
    x = np.random.default_rng(0).random((32, 4)).astype("float32") + 5
    y = np.zeros((32, 1), "float32")
    moved = {}
    for name, K in (("keras", keras), ("kerasish", kerasish)):
        inp = K.Input((4,))
        inner = K.Sequential([K.Input((4,)), K.layers.BatchNormalization()])
        model = K.Model(inp, K.layers.Dense(1)(inner(inp, training=training)))
        model.compile("sgd", "mse")
        bn = inner.layers[0]
        before = to_numpy(bn.moving_mean).copy()
        model.fit(x, y, batch_size=8, verbose=0)
        moved[name] = not np.allclose(to_numpy(bn.moving_mean), before)
    assert moved == {"keras": True, "kerasish": True}


def test_mask_argument_reaches_the_first_layer_through_a_model_and_is_refused_without_a_mask_arg(keras):
    mask = np.array([[1, 0, 1], [1, 1, 0]], bool)
    x = np.ones((2, 3), "float32")
    for K in (keras, kerasish):
        class Recorder(K.layers.Layer):
            def call(self, inputs, mask=None):
                self.got = mask
                return inputs

        class NoMask(K.layers.Layer):
            def call(self, inputs):
                return inputs

        for build in ("functional", "sequential"):
            rec = Recorder()
            inp = K.Input((3,))
            model = K.Model(inp, rec(inp)) if build == "functional" else K.Sequential([K.Input((3,)), rec])
            model(x, mask=mask)
            np.testing.assert_array_equal(to_numpy(rec.got), mask)
        with pytest.raises(TypeError, match="mask"):
            NoMask()(x, mask=mask)


def test_model_metrics_and_keras2_batch_hooks_match_keras(keras):
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    seen = {}
    for name, K in (("keras", keras), ("kerasish", kerasish)):
        class Counting(K.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.begins = self.ends = 0

            def on_batch_begin(self, batch, logs=None):
                self.begins += 1

            def on_batch_end(self, batch, logs=None):
                self.ends += 1

        inp = K.Input((3,))
        model = K.Model(inp, K.layers.Dense(1)(inp))
        model.compile("sgd", "mse", metrics=["mae"])
        cb = Counting()
        history = model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[cb],
                            validation_data=(x, y))
        seen[name] = ([m.name for m in model.metrics], model.metrics_names, sorted(history.history),
                      sorted(model.get_metrics_result()), cb.begins, cb.ends)
    assert seen["kerasish"] == seen["keras"]
