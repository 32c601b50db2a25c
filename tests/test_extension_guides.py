"""Checks on the Keras 3 extension guides beyond what their parity tests cover.

The guides themselves (keras-io `making_new_layers_and_models_via_subclassing.py`,
`custom_train_step_in_torch.py`, `writing_a_custom_training_loop_in_torch.py`) run section by
section against Keras 3 in `tests/guides/test_making_new_layers.py`,
`tests/guides/test_custom_train_step_in_torch.py` and
`tests/guides/test_custom_training_loop_in_torch.py`. What stays here goes further than a
section does: weight identity across calls, a JSON config round trip with a name, the dropout
layer inside fit/evaluate, the VAE's loss bookkeeping, a hand loop and a KL-only fit, and
`unpack_x_y_sample_weight`. The classes are the guide's; where it calls `keras.ops` or
`keras.random`, the torch equivalent is used and a comment names the original.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import kerasish as keras
from kerasish import layers


# =========================================================================================
# making_new_layers_and_models_via_subclassing
# =========================================================================================


class LinearInInit(keras.layers.Layer):
    def __init__(self, units=32, input_dim=32):
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return torch.matmul(inputs, self.w) + self.b  # guide: ops.matmul


class Linear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        return torch.matmul(inputs, self.w) + self.b  # guide: ops.matmul

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


class ActivityRegularizationLayer(keras.layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * torch.mean(inputs))  # guide: ops.mean
        return inputs


class OuterLayer(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.activity_reg = ActivityRegularizationLayer(1e-2)

    def call(self, inputs):
        return self.activity_reg(inputs)


class OuterLayerWithKernelRegularizer(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(32, kernel_regularizer=keras.regularizers.l2(1e-3))

    def call(self, inputs):
        return self.dense(inputs)


class CustomDropout(keras.layers.Layer):
    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs, training=None):
        if training:
            # guide: keras.random.dropout(inputs, rate=self.rate, seed=self.seed_generator)
            return torch.nn.functional.dropout(inputs, p=self.rate, training=True)
        return inputs


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        # guide: keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
        epsilon = torch.randn_like(z_mean)
        return z_mean + torch.exp(0.5 * z_log_var) * epsilon


class Encoder(layers.Layer):
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
    def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_output = layers.Dense(original_dim, activation="sigmoid")

    def call(self, inputs):
        x = self.dense_proj(inputs)
        return self.dense_output(x)


class VariationalAutoEncoder(keras.Model):
    def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.original_dim = original_dim
        self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
        self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

    def call(self, inputs):
        z_mean, z_log_var, z = self.encoder(inputs)
        reconstructed = self.decoder(z)
        # guide: ops.mean / ops.square / ops.exp
        kl_loss = -0.5 * torch.mean(z_log_var - torch.square(z_mean) - torch.exp(z_log_var) + 1)
        self.add_loss(kl_loss)
        return reconstructed


def test_add_weight_returns_a_kerasish_variable():
    layer = LinearInInit(4, 2)
    assert isinstance(layer.w, keras.Variable)
    assert isinstance(layer.w, torch.nn.Parameter)
    layer.w.assign(np.full((2, 4), 3.0, "float32"))
    np.testing.assert_array_equal(layer.w.value.detach().numpy(), np.full((2, 4), 3.0))


def test_linear_built_lazily_from_the_first_input_shape():
    linear_layer = Linear(32)
    assert linear_layer.weights == []
    y = linear_layer(torch.ones((2, 5)))
    assert tuple(y.shape) == (2, 32)
    assert [tuple(w.shape) for w in linear_layer.weights] == [(5, 32), (32,)]
    # The second call reuses the weights built by the first.
    w_before = linear_layer.w
    linear_layer(torch.ones((3, 5)))
    assert linear_layer.w is w_before and len(linear_layer.weights) == 2


def test_kernel_regularizer_loss_in_losses():
    layer = OuterLayerWithKernelRegularizer()
    _ = layer(torch.zeros((1, 1)))
    assert len(layer.losses) == 1
    expected = 1e-3 * float((layer.dense.kernel.numpy() ** 2).sum())
    assert float(layer.losses[0]) == pytest.approx(expected, rel=1e-5)
    # It is recomputed from the current kernel, and survives another call.
    layer.dense.kernel.assign(layer.dense.kernel.numpy() * 2.0)
    _ = layer(torch.zeros((1, 1)))
    assert len(layer.losses) == 1
    assert float(layer.losses[0]) == pytest.approx(4 * expected, rel=1e-5)


def test_custom_layer_config_round_trip():
    layer = Linear(64, name="my_linear")
    config = layer.get_config()
    assert config["units"] == 64 and config["name"] == "my_linear"
    new_layer = Linear.from_config(json.loads(json.dumps(config)))
    assert new_layer.units == 64 and new_layer.name == "my_linear"
    assert new_layer.get_config() == config
    assert tuple(new_layer(torch.ones((2, 3))).shape) == (2, 64)


def test_custom_dropout_is_active_in_fit_only():
    seen = []

    class Probe(keras.layers.Layer):
        def call(self, inputs):
            seen.append(float((inputs == 0).float().mean()))
            return inputs

    model = keras.Sequential([keras.Input((32,)), CustomDropout(0.5), Probe(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((16, 32), "float32"), np.zeros((16, 1), "float32")
    seen.clear()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    # The last two calls are fit's two batches (Keras may first run a shape-inference pass).
    assert len(seen) >= 2 and all(0.3 < s < 0.7 for s in seen[-2:])
    seen.clear()
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert seen == [0.0, 0.0]


def test_vae_losses_hold_the_kl_term():
    vae = VariationalAutoEncoder(16, 8, 4)
    x = torch.rand((5, 16))
    vae(x)  # builds the weights
    # z_mean and z_log_var do not depend on the sampling noise.
    with torch.no_grad():
        h = vae.encoder.dense_proj(x)
        z_mean, z_log_var = vae.encoder.dense_mean(h), vae.encoder.dense_log_var(h)
        expected = -0.5 * torch.mean(z_log_var - z_mean ** 2 - torch.exp(z_log_var) + 1)
    out = vae(x)
    assert tuple(out.shape) == (5, 16)
    assert len(vae.losses) == 1
    assert float(vae.losses[0]) == pytest.approx(float(expected), rel=1e-5)
    vae(x)
    assert len(vae.losses) == 1


def test_calling_another_layer_keeps_a_layers_losses():
    # Keras clears losses at the start of the outermost call of the SAME layer; a call
    # of an unrelated layer (here one of the model's own sublayers) leaves them alone.
    layer = OuterLayer()
    layer(torch.full((1, 1), 3.0))
    keras.layers.Dense(2)(torch.ones((1, 3)))
    assert len(layer.losses) == 1
    vae = VariationalAutoEncoder(16, 8, 4)
    x = torch.rand((5, 16))
    vae(x)
    vae.encoder.dense_proj(x)
    assert len(vae.losses) == 1


def test_vae_hand_written_loop_with_keras_optimizer_and_mean_metric():
    vae = VariationalAutoEncoder(16, 8, 4)
    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    mse_loss_fn = keras.losses.MeanSquaredError()
    loss_metric = keras.metrics.Mean()
    x_train = np.random.default_rng(0).random((64, 16)).astype("float32")
    loader = torch.utils.data.DataLoader(torch.from_numpy(x_train), batch_size=16, shuffle=True)
    epoch_means = []
    for _ in range(4):
        loss_metric.reset_state()
        for x_batch_train in loader:
            reconstructed = vae(x_batch_train)
            loss = mse_loss_fn(x_batch_train, reconstructed)
            loss = loss + sum(vae.losses)  # Add KLD regularization loss
            vae.zero_grad()
            loss.backward()
            grads = [v.value.grad for v in vae.trainable_weights]
            with torch.no_grad():
                optimizer.apply_gradients(zip(grads, vae.trainable_weights))
            loss_metric(loss)
        epoch_means.append(float(loss_metric.result()))
    assert epoch_means[-1] < epoch_means[0]


@pytest.mark.parametrize("compiled_loss", [True, False], ids=["mse_plus_kl", "kl_only"])
def test_vae_trains_with_fit(compiled_loss):
    vae = VariationalAutoEncoder(16, 8, 4)
    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    if compiled_loss:
        vae.compile(optimizer, loss=keras.losses.MeanSquaredError())
    else:
        vae.compile(optimizer)
    x_train = np.random.default_rng(0).random((64, 16)).astype("float32")
    history = vae.fit(x_train, x_train, epochs=5, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert list(history.history) == ["loss"]
    assert len(losses) == 5 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]


# =========================================================================================
# writing_a_custom_training_loop_in_torch
# =========================================================================================


def test_unpack_x_y_sample_weight():
    from kerasish.utils.tree import unpack_x_y_sample_weight

    x, y, w = torch.ones(2), torch.zeros(2), torch.full((2,), 0.5)
    assert unpack_x_y_sample_weight(x) == (x, None, None)
    assert unpack_x_y_sample_weight((x,)) == (x, None, None)
    assert unpack_x_y_sample_weight((x, y)) == (x, y, None)
    assert unpack_x_y_sample_weight([x, y, w]) == (x, y, w)
    with pytest.raises(ValueError, match="received a tuple of 4 items"):
        unpack_x_y_sample_weight((x, y, w, w))
