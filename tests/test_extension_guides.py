"""The Keras 3 extension guides, run with only their imports changed.

Sources (keras-io/guides): making_new_layers_and_models_via_subclassing.py,
custom_train_step_in_torch.py and writing_a_custom_training_loop_in_torch.py. Each
class below is the guide's, with `import keras` replaced by `import kerasish as keras`.
kerasish has no `keras.ops` or `keras.random` yet; where a guide calls them, the torch
equivalent is used and a comment names the original. Sizes are shrunk (no MNIST) so the
module runs in seconds on a CPU; every test asserts what the guide's reader observes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import kerasish as keras
from kerasish import layers


def _data(n=64, features=8, outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, features)).astype("float32")
    y = rng.random((n, outputs)).astype("float32")
    return x, y


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


class ComputeSum(keras.layers.Layer):
    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(torch.sum(inputs, dim=0))  # guide: ops.sum(inputs, axis=0)
        return self.total


class MLPBlock(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.linear_1 = Linear(32)
        self.linear_2 = Linear(32)
        self.linear_3 = Linear(1)

    def call(self, inputs):
        x = self.linear_1(inputs)
        x = torch.relu(x)  # guide: keras.activations.relu
        x = self.linear_2(x)
        x = torch.relu(x)
        return self.linear_3(x)


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


def test_linear_with_add_weight_in_init_computes_x_w_plus_b():
    x = torch.ones((2, 2))
    linear_layer = LinearInInit(4, 2)
    y = linear_layer(x)
    assert tuple(y.shape) == (2, 4)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]
    # b starts at zeros, so each row is the column sums of w.
    np.testing.assert_allclose(y.detach().numpy(), np.tile(linear_layer.w.numpy().sum(0), (2, 1)), rtol=1e-6)
    assert tuple(linear_layer.w.shape) == (2, 4) and linear_layer.w.trainable
    np.testing.assert_array_equal(linear_layer.b.numpy(), np.zeros(4, "float32"))


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


def test_compute_sum_non_trainable_counter_accumulates():
    x = torch.ones((2, 2))
    my_sum = ComputeSum(2)
    y = my_sum(x)
    np.testing.assert_array_equal(y.numpy(), [2.0, 2.0])
    y = my_sum(x)
    np.testing.assert_array_equal(y.numpy(), [4.0, 4.0])
    assert len(my_sum.weights) == 1
    assert len(my_sum.non_trainable_weights) == 1
    assert my_sum.trainable_weights == []
    assert my_sum.total.trainable is False


def test_mlp_block_tracks_nested_weights():
    mlp = MLPBlock()
    y = mlp(torch.ones((3, 64)))
    assert tuple(y.shape) == (3, 1)
    assert len(mlp.weights) == 6
    assert len(mlp.trainable_weights) == 6
    assert [tuple(w.shape) for w in mlp.weights] == [(64, 32), (32,), (32, 32), (32,), (32, 1), (1,)]


def test_outer_layer_losses_hold_only_the_last_call():
    layer = OuterLayer()
    assert len(layer.losses) == 0
    _ = layer(torch.full((1, 1), 3.0))
    assert len(layer.losses) == 1
    assert float(layer.losses[0]) == pytest.approx(0.03)
    _ = layer(torch.full((1, 1), 5.0))
    assert len(layer.losses) == 1  # reset at the start of each __call__
    assert float(layer.losses[0]) == pytest.approx(0.05)


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


def test_add_loss_with_fit_is_added_to_the_compiled_loss():
    inputs = keras.Input(shape=(3,))
    outputs = ActivityRegularizationLayer()(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    x, y = np.random.random((2, 3)), np.random.random((2, 3))
    history = model.fit(x, y, verbose=0)
    expected = ((x - y) ** 2).mean() + 1e-2 * x.mean()
    assert history.history["loss"] == [pytest.approx(expected, rel=1e-5)]


def test_add_loss_with_fit_and_no_compiled_loss():
    inputs = keras.Input(shape=(3,))
    outputs = ActivityRegularizationLayer()(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam")
    x, y = np.random.random((2, 3)), np.random.random((2, 3))
    history = model.fit(x, y, verbose=0)
    assert history.history["loss"] == [pytest.approx(1e-2 * x.mean(), rel=1e-5)]


def test_custom_layer_config_round_trip():
    layer = Linear(64, name="my_linear")
    config = layer.get_config()
    assert config["units"] == 64 and config["name"] == "my_linear"
    new_layer = Linear.from_config(json.loads(json.dumps(config)))
    assert new_layer.units == 64 and new_layer.name == "my_linear"
    assert new_layer.get_config() == config
    assert tuple(new_layer(torch.ones((2, 3))).shape) == (2, 64)


def test_custom_dropout_follows_training():
    layer = CustomDropout(0.5)
    x = torch.ones((64, 64))
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())  # direct call: training=None
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    dropped = layer(x, training=True).numpy()
    assert set(np.unique(dropped)) == {0.0, 2.0}
    assert 0.3 < (dropped == 0).mean() < 0.7


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
# custom_train_step_in_torch
# =========================================================================================


class CountingModel(keras.Model):
    """The guide's first CustomModel (compute_loss + self.metrics), counting its steps."""

    train_step_calls = 0

    def train_step(self, data):
        CountingModel.train_step_calls += 1
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_train_step_with_compute_loss():
    CountingModel.train_step_calls = 0
    inputs = keras.Input(shape=(8,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CountingModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    assert [m.name for m in model.metrics] == ["loss", "compile_metrics"]
    x, y = _data()
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert CountingModel.train_step_calls == 3 * 2
    assert set(history.history) == {"loss", "mae"}  # the 'compile_metrics' dict is flattened
    assert len(history.history["loss"]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]


class OwnTrackersModel(keras.Model):
    """The guide's lower-level CustomModel: its own Mean trackers listed in `metrics`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = keras.losses.MeanSquaredError()
        self.batch_log = []  # (loss, mae) of each batch, recorded by this test

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.loss_fn(y, y_pred)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        self.batch_log.append((float(loss), float(torch.mean(torch.abs(y - y_pred.detach())))))
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


def test_train_step_with_own_trackers_reset_every_epoch():
    inputs = keras.Input(shape=(8,))
    outputs = keras.layers.Dense(1)(inputs)
    model = OwnTrackersModel(inputs, outputs)
    model.compile(optimizer="adam")
    x, y = _data()
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert set(history.history) == {"loss", "mae"}
    batches = np.array(model.batch_log).reshape(3, 4, 2)  # epochs x batches x (loss, mae)
    # Equal batch sizes: each epoch's value is the mean of that epoch's batches only.
    np.testing.assert_allclose(history.history["loss"], batches[:, :, 0].mean(1), rtol=1e-5)
    np.testing.assert_allclose(history.history["mae"], batches[:, :, 1].mean(1), rtol=1e-5)


class SampleWeightModel(keras.Model):
    """The guide's CustomModel supporting sample_weight."""

    seen_lengths = []

    def train_step(self, data):
        SampleWeightModel.seen_lengths.append(len(data))
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


def test_train_step_with_sample_weight():
    SampleWeightModel.seen_lengths = []
    inputs = keras.Input(shape=(8,))
    outputs = keras.layers.Dense(1)(inputs)
    model = SampleWeightModel(inputs, outputs)
    # learning_rate 0: the weights stay put, so the logs can be recomputed from predict.
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse", metrics=["mae"])
    x, y = _data(n=32)
    sw = np.random.default_rng(1).random(32).astype("float32")
    history = model.fit(x, y, sample_weight=sw, epochs=1, batch_size=32, verbose=0)
    assert SampleWeightModel.seen_lengths == [3]
    pred = model.predict(x, verbose=0)
    per_sample_mse = ((y - pred) ** 2).mean(-1)
    per_sample_mae = np.abs(y - pred).mean(-1)
    # The loss reduction divides the weighted sum by the batch size. 'mae' was given as
    # compile(metrics=...), not weighted_metrics, so Keras 3 ignores the weights there.
    assert history.history["loss"][0] == pytest.approx((per_sample_mse * sw).sum() / 32, rel=1e-5)
    assert history.history["mae"][0] == pytest.approx(per_sample_mae.mean(), rel=1e-5)


class TestStepModel(keras.Model):
    """The guide's CustomModel overriding test_step."""

    __test__ = False  # not a pytest class
    calls = 0

    def test_step(self, data):
        TestStepModel.calls += 1
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_test_step_override_with_evaluate():
    TestStepModel.calls = 0
    inputs = keras.Input(shape=(8,))
    outputs = keras.layers.Dense(1)(inputs)
    model = TestStepModel(inputs, outputs)
    model.compile(loss="mse", metrics=["mae"])
    x, y = _data(n=64)
    result = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert TestStepModel.calls == 4
    assert set(result) == {"loss", "mae"}
    pred = model.predict(x, verbose=0)
    assert result["loss"] == pytest.approx(((y - pred) ** 2).mean(), rel=1e-5)
    assert result["mae"] == pytest.approx(np.abs(y - pred).mean(), rel=1e-5)
    # A second evaluate starts from fresh metrics: same data, same numbers.
    again = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert again == pytest.approx(result)


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        # guide: self.seed_generator = keras.random.SeedGenerator(1337)
        self.built = True

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real_images):
        if isinstance(real_images, (tuple, list)):  # guide: tuple (Keras 3.15 passes a DataLoader's list)
            real_images = real_images[0]
        batch_size = real_images.shape[0]
        # guide: keras.random.normal(shape=..., seed=self.seed_generator)
        random_latent_vectors = torch.randn((batch_size, self.latent_dim))
        generated_images = self.generator(random_latent_vectors)
        combined_images = torch.concat([generated_images, real_images], axis=0)
        labels = torch.concat([torch.ones((batch_size, 1)), torch.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * torch.rand(labels.shape)  # guide: keras.random.uniform

        # Train the discriminator
        self.zero_grad()
        predictions = self.discriminator(combined_images)
        d_loss = self.loss_fn(labels, predictions)
        d_loss.backward()
        grads = [v.value.grad for v in self.discriminator.trainable_weights]
        with torch.no_grad():
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

        random_latent_vectors = torch.randn((batch_size, self.latent_dim))
        misleading_labels = torch.zeros((batch_size, 1))

        # Train the generator (the discriminator's weights must not move)
        self.zero_grad()
        predictions = self.discriminator(self.generator(random_latent_vectors))
        g_loss = self.loss_fn(misleading_labels, predictions)
        g_loss.backward()
        grads = [v.value.grad for v in self.generator.trainable_weights]
        with torch.no_grad():
            self.g_optimizer.apply(grads, self.generator.trainable_weights)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def _gan_parts(latent_dim=8, leaky=None):
    # The guide uses layers.LeakyReLU(negative_slope=0.2); kerasish has no LeakyReLU layer
    # yet. Activation("leaky_relu") is the same function (Keras's default slope, 0.2).
    leaky = leaky or (lambda: layers.Activation("leaky_relu"))
    discriminator = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same"),
            leaky(),
            layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"),
            leaky(),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            layers.Dense(2 * 2 * 8),
            leaky(),
            layers.Reshape((2, 2, 8)),
            layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"),
            leaky(),
            layers.Conv2DTranspose(8, (4, 4), strides=(2, 2), padding="same"),
            leaky(),
            layers.Conv2D(1, (3, 3), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    return discriminator, generator


def test_gan_with_overridden_compile_trains_from_a_dataloader():
    latent_dim = 8
    discriminator, generator = _gan_parts(latent_dim)
    assert tuple(generator(torch.zeros((2, latent_dim))).shape) == (2, 8, 8, 1)
    digits = torch.rand((24, 8, 8, 1))
    dataloader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(digits, digits), batch_size=8, shuffle=True)
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    d_before = [w.numpy() for w in discriminator.trainable_weights]
    g_before = [w.numpy() for w in generator.trainable_weights]
    history = gan.fit(dataloader, epochs=2, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert len(history.history["d_loss"]) == 2
    assert all(np.isfinite(history.history["d_loss"] + history.history["g_loss"]))
    # Both optimizers moved their own network.
    assert all(not np.array_equal(a, w.numpy()) for a, w in zip(d_before, discriminator.trainable_weights))
    assert all(not np.array_equal(a, w.numpy()) for a, w in zip(g_before, generator.trainable_weights))
    # One apply per batch on each optimizer: 2 epochs x 3 batches.
    assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 2 * 3


# =========================================================================================
# writing_a_custom_training_loop_in_torch
# =========================================================================================


def get_model(features=20, classes=4):
    inputs = keras.Input(shape=(features,), name="digits")
    x1 = keras.layers.Dense(16, activation="relu")(inputs)
    x2 = keras.layers.Dense(16, activation="relu")(x1)
    outputs = keras.layers.Dense(classes, name="predictions")(x2)
    return keras.Model(inputs=inputs, outputs=outputs)


def _loaders(n=128, features=20, classes=4, batch_size=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, features)).astype("float32")
    labels = (x @ rng.normal(size=(features, classes))).argmax(1)
    y = keras.utils.to_categorical(labels, classes).astype("float32")
    train = torch.utils.data.TensorDataset(torch.from_numpy(x[:96]), torch.from_numpy(y[:96]))
    val = torch.utils.data.TensorDataset(torch.from_numpy(x[96:]), torch.from_numpy(y[96:]))
    return (torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True),
            torch.utils.data.DataLoader(val, batch_size=batch_size, shuffle=False))


def _accuracy(targets, logits):
    return float((np.argmax(targets, -1) == np.argmax(logits, -1)).mean())


def test_hand_loop_with_optimizer_apply_and_categorical_accuracy():
    train_dataloader, val_dataloader = _loaders()
    model = get_model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    train_acc_metric = keras.metrics.CategoricalAccuracy()
    val_acc_metric = keras.metrics.CategoricalAccuracy()
    epoch_losses, train_accs, val_accs = [], [], []
    for epoch in range(5):
        seen_targets, seen_logits, batch_losses = [], [], []
        for step, (inputs, targets) in enumerate(train_dataloader):
            logits = model(inputs)
            loss = loss_fn(targets, logits)
            model.zero_grad()
            trainable_weights = [v for v in model.trainable_weights]
            loss.backward()
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                optimizer.apply(gradients, trainable_weights)
            train_acc_metric.update_state(targets, logits)
            seen_targets.append(targets.numpy())
            seen_logits.append(logits.detach().numpy())
            batch_losses.append(float(loss))
        train_acc = float(train_acc_metric.result())
        # The metric covers this epoch's batches only (reset at the end of the last one).
        assert train_acc == pytest.approx(_accuracy(np.concatenate(seen_targets), np.concatenate(seen_logits)))
        train_acc_metric.reset_state()
        assert float(train_acc_metric.result()) == 0.0
        val_targets, val_logits = [], []
        for x_batch_val, y_batch_val in val_dataloader:
            val_logits_batch = model(x_batch_val, training=False)
            val_acc_metric.update_state(y_batch_val, val_logits_batch)
            val_targets.append(y_batch_val.numpy())
            val_logits.append(val_logits_batch.detach().numpy())
        val_acc = float(val_acc_metric.result())
        assert val_acc == pytest.approx(_accuracy(np.concatenate(val_targets), np.concatenate(val_logits)))
        val_acc_metric.reset_state()
        epoch_losses.append(np.mean(batch_losses))
        train_accs.append(train_acc)
        val_accs.append(val_acc)
    assert int(optimizer.iterations) == 5 * 3
    assert epoch_losses[-1] < epoch_losses[0]
    assert train_accs[-1] > train_accs[0]


class LoopActivityRegularizationLayer(keras.layers.Layer):
    """The training-loop guide's ActivityRegularizationLayer."""

    def call(self, inputs):
        self.add_loss(1e-2 * torch.sum(inputs))
        return inputs


def test_hand_loop_adds_model_losses():
    train_dataloader, _ = _loaders()
    inputs = keras.Input(shape=(20,), name="digits")
    x = keras.layers.Dense(16, activation="relu")(inputs)
    x = LoopActivityRegularizationLayer()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    outputs = keras.layers.Dense(4, name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    first_kernel = model.layers[1].kernel

    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    reg_values = []
    for epoch in range(3):
        for inputs_batch, targets in train_dataloader:
            logits = model(inputs_batch)
            assert len(model.losses) == 1  # this forward pass's loss only
            reg_values.append(float(model.losses[0]))
            loss = loss_fn(targets, logits)
            if model.losses:
                loss = loss + torch.sum(*model.losses)
            model.zero_grad()
            trainable_weights = [v for v in model.trainable_weights]
            loss.backward()
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                optimizer.apply(gradients, trainable_weights)
    assert first_kernel.value.grad is not None
    # The activity penalty is minimised too: the first layer's activations shrink.
    assert np.mean(reg_values[-3:]) < np.mean(reg_values[:3])


def test_unpack_x_y_sample_weight():
    from kerasish.utils.tree import unpack_x_y_sample_weight

    x, y, w = torch.ones(2), torch.zeros(2), torch.full((2,), 0.5)
    assert unpack_x_y_sample_weight(x) == (x, None, None)
    assert unpack_x_y_sample_weight((x,)) == (x, None, None)
    assert unpack_x_y_sample_weight((x, y)) == (x, y, None)
    assert unpack_x_y_sample_weight([x, y, w]) == (x, y, w)
    with pytest.raises(ValueError, match="received a tuple of 4 items"):
        unpack_x_y_sample_weight((x, y, w, w))
