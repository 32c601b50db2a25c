"""Keras's guide "Making new layers and models via subclassing" (keras-io
`guides/making_new_layers_and_models_via_subclassing.py`, the Keras 3 text: `import keras`,
`from keras import ops, layers`, `keras.random`), run on kerasish.

Each test is one section of the guide, its code kept as written. The only changes are the imports
(`import kerasish as keras`) and the lines marked `# changed:`: synthetic arrays of MNIST's shapes
stand in for the download, the epochs are shortened, and the weights are copied from the Keras twin
(`tests/keras_parity.py`) so that Keras 3 on its torch backend runs the same code from the same
weights. What the guide prints, asserts, returns and trains is compared with Keras.

`CustomDropout` calls `keras.random.dropout` without a seed: Keras's torch backend then draws from
torch's global generator, kerasish from its global `SeedGenerator` (documented in
`kerasish.random.dropout`), so that section compares what the two masks have in common, not the
masks themselves.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, keras_module, to_numpy

pytestmark = [
    # Keras 3's own NumPy 2 deprecation notice, printed on every conversion of its variables.
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    # Keras's remark on the weightless model of the add_loss section.
    pytest.mark.filterwarnings("ignore:The model does not have any trainable weights"),
]


def _fresh(lib):
    lib.backend.clear_session()  # the same layer names (linear, linear_1 ...) in both libraries
    return lib


def _linear_in_init(keras):
    ops = keras.ops

    class Linear(keras.layers.Layer):
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(
                shape=(input_dim, units),
                initializer="random_normal",
                trainable=True,
            )
            self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    return Linear


def _linear_with_build(keras):
    ops = keras.ops

    class Linear(keras.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units),
                initializer="random_normal",
                trainable=True,
            )
            self.b = self.add_weight(
                shape=(self.units,), initializer="random_normal", trainable=True
            )

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    return Linear


def _activity_regularization_layer(keras):
    ops = keras.ops

    # A layer that creates an activity regularization loss
    class ActivityRegularizationLayer(keras.layers.Layer):
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.mean(inputs))
            return inputs

    return ActivityRegularizationLayer


# ----------------------------------------------------------------------------- The Layer class


def test_the_layer_class_prints_x_w_plus_b_as_keras(capsys):
    k = keras_module()
    printed, weights = [], None
    for lib in (k, kerasish):
        keras, ops = _fresh(lib), lib.ops
        Linear = _linear_in_init(keras)
        capsys.readouterr()
        x = ops.ones((2, 2))
        linear_layer = Linear(4, 2)
        if weights is None:  # changed: the Keras layer's random weights, copied into kerasish's
            weights = linear_layer.get_weights()
        linear_layer.set_weights(weights)
        y = linear_layer(x)
        print(y)
        printed.append(capsys.readouterr().out)

        assert linear_layer.weights == [linear_layer.w, linear_layer.b]
    assert printed[1].startswith("tensor([[")
    assert printed[1] == printed[0]  # the values and torch's grad_fn: the same computation


def test_layers_can_have_non_trainable_weights(capsys):
    k = keras_module()
    printed = []
    for lib in (k, kerasish):
        keras, ops = _fresh(lib), lib.ops

        class ComputeSum(keras.layers.Layer):
            def __init__(self, input_dim):
                super().__init__()
                self.total = self.add_weight(
                    initializer="zeros", shape=(input_dim,), trainable=False
                )

            def call(self, inputs):
                self.total.assign_add(ops.sum(inputs, axis=0))
                return self.total

        capsys.readouterr()
        x = ops.ones((2, 2))
        my_sum = ComputeSum(2)
        y = my_sum(x)
        print(y.numpy())
        y = my_sum(x)
        print(y.numpy())

        print("weights:", len(my_sum.weights))
        print("non-trainable weights:", len(my_sum.non_trainable_weights))

        # It's not included in the trainable weights:
        print("trainable_weights:", my_sum.trainable_weights)
        printed.append(capsys.readouterr().out.splitlines())
    assert printed[1] == ["[2. 2.]", "[4. 4.]", "weights: 1", "non-trainable weights: 1", "trainable_weights: []"]
    assert printed[1] == printed[0]


def test_deferring_weight_creation_until_the_input_shape_is_known():
    k = keras_module()
    seen, weights = [], None
    for lib in (k, kerasish):
        keras, ops = _fresh(lib), lib.ops
        Linear = _linear_with_build(keras)
        x = ops.ones((2, 2))

        # At instantiation, we don't know on what inputs this is going to get called
        linear_layer = Linear(32)
        built_before = (linear_layer.built, len(linear_layer.weights))  # changed: added, what the reader sees

        # The layer's weights are created dynamically the first time the layer is called
        y = linear_layer(x)
        if weights is None:  # changed: the same weights in both, then the call again
            weights = linear_layer.get_weights()
        linear_layer.set_weights(weights)
        y = linear_layer(x)
        seen.append((built_before, linear_layer.built, [tuple(w.shape) for w in linear_layer.weights], to_numpy(y)))
    assert seen[1][:3] == ((False, 0), True, [(2, 32), (32,)])
    assert seen[1][:3] == seen[0][:3]
    assert_close(seen[1][3], seen[0][3])


def test_layers_are_recursively_composable(capsys):
    k = keras_module()
    printed, outputs, weights = [], [], None
    for lib in (k, kerasish):
        keras, ops = _fresh(lib), lib.ops
        Linear = _linear_with_build(keras)

        class MLPBlock(keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.linear_1 = Linear(32)
                self.linear_2 = Linear(32)
                self.linear_3 = Linear(1)

            def call(self, inputs):
                x = self.linear_1(inputs)
                x = keras.activations.relu(x)
                x = self.linear_2(x)
                x = keras.activations.relu(x)
                return self.linear_3(x)

        capsys.readouterr()
        mlp = MLPBlock()
        y = mlp(ops.ones(shape=(3, 64)))  # The first call to the `mlp` will create the weights
        print("weights:", len(mlp.weights))
        print("trainable weights:", len(mlp.trainable_weights))
        printed.append(capsys.readouterr().out.splitlines())
        if weights is None:  # changed: added, the nested weights in Keras's order, copied across
            weights = mlp.get_weights()
        mlp.set_weights(weights)
        outputs.append(mlp(ops.ones(shape=(3, 64))))
    assert printed[1] == ["weights: 6", "trainable weights: 6"]
    assert printed[1] == printed[0]
    assert_close(outputs[1], outputs[0])


# ----------------------------------------------------------------------------- The add_loss() method


def test_add_loss_layer_losses_hold_the_last_forward_pass_only():
    k = keras_module()
    counts = []
    for lib in (k, kerasish):
        keras, ops = _fresh(lib), lib.ops
        ActivityRegularizationLayer = _activity_regularization_layer(keras)

        class OuterLayer(keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.activity_reg = ActivityRegularizationLayer(1e-2)

            def call(self, inputs):
                return self.activity_reg(inputs)

        layer = OuterLayer()
        assert len(layer.losses) == 0  # No losses yet since the layer has never been called

        _ = layer(ops.zeros((1, 1)))
        assert len(layer.losses) == 1  # We created one loss value

        # `layer.losses` gets reset at the start of each __call__
        _ = layer(ops.ones((1, 1)))  # changed: ones instead of zeros, so the value shows which call made it
        assert len(layer.losses) == 1  # This is the loss created during the call above
        counts.append(to_numpy(layer.losses[0]))
    assert_close(counts[1], 1e-2)
    assert_close(counts[1], counts[0])


def test_add_loss_includes_the_kernel_regularizer_of_an_inner_dense():
    k = keras_module()
    losses, weights = [], None
    for lib in (k, kerasish):
        keras, ops = _fresh(lib), lib.ops

        class OuterLayerWithKernelRegularizer(keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.dense = keras.layers.Dense(
                    32, kernel_regularizer=keras.regularizers.l2(1e-3)
                )

            def call(self, inputs):
                return self.dense(inputs)

        layer = OuterLayerWithKernelRegularizer()
        _ = layer(ops.zeros((1, 1)))
        if weights is None:  # changed: the same kernel in both, then the call again
            weights = layer.get_weights()
        layer.set_weights(weights)
        _ = layer(ops.zeros((1, 1)))

        # This is `1e-3 * sum(layer.dense.kernel ** 2)`,
        # created by the `kernel_regularizer` above.
        print(layer.losses)
        losses.append([to_numpy(v) for v in layer.losses])
    assert len(losses[1]) == 1
    assert_close(losses[1][0], 1e-3 * (weights[0] ** 2).sum())
    assert_close(losses[1], losses[0])


def test_add_loss_with_fit_with_and_without_a_compiled_loss():
    k = keras_module()
    histories = []
    for lib in (k, kerasish):
        keras = _fresh(lib)
        ActivityRegularizationLayer = _activity_regularization_layer(keras)
        rng = np.random.default_rng(0)  # changed: np.random.random -> a seeded generator, the same data

        inputs = keras.Input(shape=(3,))
        outputs = ActivityRegularizationLayer()(inputs)
        model = keras.Model(inputs, outputs)

        # If there is a loss passed in `compile`, the regularization
        # losses get added to it
        model.compile(optimizer="adam", loss="mse")
        first = model.fit(rng.random((2, 3)), rng.random((2, 3)), verbose=0)  # changed: verbose=0, kept History

        # It's also possible not to pass any loss in `compile`,
        # since the model already has a loss to minimize, via the `add_loss`
        # call during the forward pass!
        model.compile(optimizer="adam")
        second = model.fit(rng.random((2, 3)), rng.random((2, 3)), verbose=0)  # changed: as above

        # changed: added, a model compiled only once without a loss: the add_loss term alone
        fresh = keras.Model(inputs, outputs)
        fresh.compile(optimizer="adam")
        third = fresh.fit(rng.random((2, 3)), rng.random((2, 3)), verbose=0)
        histories.append([first.history, second.history, third.history])
    rng = np.random.default_rng(0)
    x1, y1, x2, y2, x3 = (rng.random((2, 3)) for _ in range(5))
    ours = histories[1]
    assert ours[0]["loss"][0] == pytest.approx(((x1 - y1) ** 2).mean() + 1e-2 * x1.mean(), rel=1e-5)
    # Keras's compile() keeps the loss of an earlier compile when given none: the guide's second fit
    # still trains on the mean squared error, plus the add_loss term.
    assert ours[1]["loss"][0] == pytest.approx(((x2 - y2) ** 2).mean() + 1e-2 * x2.mean(), rel=1e-5)
    assert ours[2]["loss"][0] == pytest.approx(1e-2 * x3.mean(), rel=1e-5)
    for mine, theirs in zip(ours, histories[0]):
        assert mine.keys() == theirs.keys()
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-5)


# ----------------------------------------------------------------------------- Serialization


def test_serialization_get_config_prints_as_keras(capsys):
    k = keras_module()
    printed = []
    for lib in (k, kerasish):
        keras, ops = _fresh(lib), lib.ops

        class Linear(keras.layers.Layer):
            def __init__(self, units=32):
                super().__init__()
                self.units = units

            def build(self, input_shape):
                self.w = self.add_weight(
                    shape=(input_shape[-1], self.units),
                    initializer="random_normal",
                    trainable=True,
                )
                self.b = self.add_weight(
                    shape=(self.units,), initializer="random_normal", trainable=True
                )

            def call(self, inputs):
                return ops.matmul(inputs, self.w) + self.b

            def get_config(self):
                return {"units": self.units}

        capsys.readouterr()
        # Now you can recreate the layer from its config:
        layer = Linear(64)
        config = layer.get_config()
        print(config)
        new_layer = Linear.from_config(config)
        print(new_layer.units)  # changed: added, what from_config rebuilt

        class Linear(keras.layers.Layer):
            def __init__(self, units=32, **kwargs):
                super().__init__(**kwargs)
                self.units = units

            def build(self, input_shape):
                self.w = self.add_weight(
                    shape=(input_shape[-1], self.units),
                    initializer="random_normal",
                    trainable=True,
                )
                self.b = self.add_weight(
                    shape=(self.units,), initializer="random_normal", trainable=True
                )

            def call(self, inputs):
                return ops.matmul(inputs, self.w) + self.b

            def get_config(self):
                config = super().get_config()
                config.update({"units": self.units})
                return config

        layer = Linear(64)
        config = layer.get_config()
        print(config)
        new_layer = Linear.from_config(config)
        print(new_layer.get_config())  # changed: added, the rebuilt layer's config
        printed.append(capsys.readouterr().out.splitlines())
    assert printed[1][:2] == ["{'units': 64}", "64"]
    assert printed[1][2].startswith("{'name': 'linear_2', 'trainable': True, 'dtype': {'module': 'keras'")
    assert printed[1] == printed[0]


# ----------------------------------------------------------------------------- The training argument


def test_privileged_training_argument_in_call():
    k = keras_module()
    seen = []
    for lib in (k, kerasish):
        keras, ops = _fresh(lib), lib.ops

        class CustomDropout(keras.layers.Layer):
            def __init__(self, rate, **kwargs):
                super().__init__(**kwargs)
                self.rate = rate

            def call(self, inputs, training=None):
                if training:
                    return keras.random.dropout(inputs, rate=self.rate)
                return inputs

        keras.utils.set_random_seed(0)  # changed: added
        layer = CustomDropout(0.5)  # changed: added, the layer used in training and inference
        x = ops.ones((64, 64))
        dropped = to_numpy(layer(x, training=True))
        seen.append((to_numpy(layer(x)), to_numpy(layer(x, training=False)), sorted(set(dropped.ravel()))))
        kept = (dropped != 0).mean()
        assert 0.4 < kept < 0.6  # about half of the entries survive
        # changed: added, inside fit the model passes training=True down; predict does not drop
        inputs = keras.Input(shape=(64,))
        model = keras.Model(inputs, CustomDropout(0.5)(inputs))
        assert_close(model.predict(np.ones((4, 64), "float32"), verbose=0), np.ones((4, 64)))
    ours, theirs = seen[1], seen[0]
    assert_close(ours[0], np.ones((64, 64)))
    assert_close(ours[1], np.ones((64, 64)))
    assert ours[2] == theirs[2] == [0.0, 2.0]  # dropped, or scaled by 1 / (1 - rate)


# ----------------------------------------------------------------------------- End-to-end VAE


def _vae_classes(keras):
    ops, layers = keras.ops, keras.layers

    class Sampling(layers.Layer):
        """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            epsilon = keras.random.normal(shape=(batch, dim))
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class Encoder(layers.Layer):
        """Maps MNIST digits to a triplet (z_mean, z_log_var, z)."""

        def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_mean = layers.Dense(latent_dim)
            self.dense_log_var = layers.Dense(latent_dim)
            self.sampling = Sampling()

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean = self.dense_mean(x)
            z_log_var = self.dense_log_var(x)
            z = self.sampling((z_mean, z_log_var))
            return z_mean, z_log_var, z

    class Decoder(layers.Layer):
        """Converts z, the encoded digit vector, back into a readable digit."""

        def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_output = layers.Dense(original_dim, activation="sigmoid")

        def call(self, inputs):
            x = self.dense_proj(inputs)
            return self.dense_output(x)

    class VariationalAutoEncoder(keras.Model):
        """Combines the encoder and decoder into an end-to-end model for training."""

        def __init__(
            self,
            original_dim,
            intermediate_dim=64,
            latent_dim=32,
            name="autoencoder",
            **kwargs
        ):
            super().__init__(name=name, **kwargs)
            self.original_dim = original_dim
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            # Add KL divergence regularization loss.
            kl_loss = -0.5 * ops.mean(
                z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1
            )
            self.add_loss(kl_loss)
            return reconstructed

    return VariationalAutoEncoder


def test_putting_it_all_together_the_vae_trains_as_keras():
    k = keras_module()
    histories, weights = [], None
    rng = np.random.default_rng(0)  # changed: synthetic digits of MNIST's shape (no download here)
    x_train = rng.integers(0, 256, (256, 28, 28)).astype("uint8")
    for lib in (k, kerasish):
        keras = _fresh(lib)
        VariationalAutoEncoder = _vae_classes(keras)
        x = x_train.reshape(256, 784).astype("float32") / 255  # changed: 256 samples, not 60000

        original_dim = 784
        vae = VariationalAutoEncoder(784, 64, 32)
        vae(x[:2])  # changed: built now, so that both libraries start from the same weights
        if weights is None:
            weights = vae.get_weights()
        vae.set_weights(weights)
        keras.utils.set_random_seed(1)  # changed: added, the sampling noise drawn from a seeded generator

        optimizer = keras.optimizers.Adam(learning_rate=1e-3)
        vae.compile(optimizer, loss=keras.losses.MeanSquaredError())

        history = vae.fit(x, x, epochs=2, batch_size=64, shuffle=False, verbose=0)  # changed: same batches, quiet
        histories.append((history.history, [tuple(w.shape) for w in vae.weights]))
    ours, theirs = histories[1], histories[0]
    assert set(ours[0]) == {"loss"} == set(theirs[0])
    assert ours[1] == theirs[1]  # the same weights, in Keras's order and layout
    assert ours[0]["loss"] == pytest.approx(theirs[0]["loss"], rel=1e-3)
