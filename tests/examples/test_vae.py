"""keras-io's example "Variational AutoEncoder" (`examples/generative/vae.py`, the Keras 3 text), run on
kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`)
and the lines marked `# changed:`: Fashion-MNIST read from disk stands in for the MNIST download,
sliced to a few hundred images and two epochs; the `tf.GradientTape` step is written the torch way
(Keras's guide "Customizing what happens in fit() with PyTorch": `zero_grad`, `backward`,
`optimizer.apply`); Keras's initial weights are copied in and `shuffle=False` is passed. Keras 3
(torch backend, `tests/keras_parity.py`) runs the same code: the Sampling layer's
`SeedGenerator(1337)` draws the same noise in both, so the History of the custom `train_step`, with
its three trackers, is compared number for number, as are the summaries and the predictions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


class _Example:
    """The example's classes and models, written against `keras` (either library)."""

    def __init__(self, keras):
        ops, layers = keras.ops, keras.layers
        keras.backend.clear_session()  # changed: names restart at 'conv2d' in both libraries

        class Sampling(layers.Layer):
            """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.seed_generator = keras.random.SeedGenerator(1337)

            def call(self, inputs):
                z_mean, z_log_var = inputs
                batch = ops.shape(z_mean)[0]
                dim = ops.shape(z_mean)[1]
                epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
                return z_mean + ops.exp(0.5 * z_log_var) * epsilon

        latent_dim = 2

        encoder_inputs = keras.Input(shape=(28, 28, 1))
        x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
        x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
        x = layers.Flatten()(x)
        x = layers.Dense(16, activation="relu")(x)
        z_mean = layers.Dense(latent_dim, name="z_mean")(x)
        z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
        z = Sampling()([z_mean, z_log_var])
        encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

        latent_inputs = keras.Input(shape=(latent_dim,))
        x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
        x = layers.Reshape((7, 7, 64))(x)
        x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
        x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
        decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
        decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")

        class VAE(keras.Model):
            def __init__(self, encoder, decoder, **kwargs):
                super().__init__(**kwargs)
                self.encoder = encoder
                self.decoder = decoder
                self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
                self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
                self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

            @property
            def metrics(self):
                return [
                    self.total_loss_tracker,
                    self.reconstruction_loss_tracker,
                    self.kl_loss_tracker,
                ]

            def train_step(self, data):
                self.zero_grad()  # changed: torch autograd in place of tf.GradientTape
                z_mean, z_log_var, z = self.encoder(data)
                reconstruction = self.decoder(z)
                reconstruction_loss = ops.mean(
                    ops.sum(
                        keras.losses.binary_crossentropy(data, reconstruction),
                        axis=(1, 2),
                    )
                )
                kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
                kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
                total_loss = reconstruction_loss + kl_loss
                total_loss.backward()  # changed: tape.gradient -> backward
                grads = [v.value.grad for v in self.trainable_weights]  # changed: the torch way
                with torch.no_grad():  # changed: the torch way
                    self.optimizer.apply(grads, self.trainable_weights)  # changed: apply_gradients(zip(...))
                self.total_loss_tracker.update_state(total_loss)
                self.reconstruction_loss_tracker.update_state(reconstruction_loss)
                self.kl_loss_tracker.update_state(kl_loss)
                return {
                    "loss": self.total_loss_tracker.result(),
                    "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                    "kl_loss": self.kl_loss_tracker.result(),
                }

            def call(self, x):
                z_mean, z_log_var, z = self.encoder(x)
                return self.decoder(z)

        self.Sampling, self.VAE, self.encoder, self.decoder = Sampling, VAE, encoder, decoder


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def _digits(fashion_dir, monkeypatch):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))  # changed: the files on disk
    (x_train, _), (x_test, _) = kerasish.datasets.fashion_mnist.load_data()  # changed: offline
    x_train, x_test = x_train[:192], x_test[:64]  # changed: a slice, for speed
    mnist_digits = np.concatenate([x_train, x_test], axis=0)
    mnist_digits = np.expand_dims(mnist_digits, -1).astype("float32") / 255
    return mnist_digits


def test_the_encoder_and_decoder_summaries_are_keras_summaries():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        ex = _Example(lib)
        texts[lib] = [(_summary(m), m.count_params()) for m in (ex.encoder, ex.decoder)]
    assert "Total params: 69,076" in texts[kerasish][0][0]
    assert "Total params: 65,089" in texts[kerasish][1][0]
    assert texts[kerasish] == texts[k]


def test_the_sampling_layer_draws_keras_noise():
    k = keras_module()
    rng = np.random.default_rng(0)
    z_mean = rng.normal(size=(5, 2)).astype("float32")
    z_log_var = rng.normal(size=(5, 2)).astype("float32")
    draws = {}
    for lib in (k, kerasish):
        sampling = _Example(lib).Sampling()
        draws[lib] = [sampling([z_mean, z_log_var]) for _ in range(2)]
    assert_close(draws[kerasish], draws[k])
    assert not np.allclose(draws[kerasish][0].numpy(), draws[kerasish][1].numpy())  # the seed moves on


def _train(keras, digits, weights):
    ex = _Example(keras)
    vae = ex.VAE(ex.encoder, ex.decoder)
    vae.encoder.set_weights(weights[0])  # changed: Keras's initial weights in both
    vae.decoder.set_weights(weights[1])
    vae.compile(optimizer=keras.optimizers.Adam())
    history = vae.fit(digits, epochs=2, batch_size=128, shuffle=False,
                      verbose=2)  # changed: 30 epochs; History kept, same batches, one line an epoch
    return vae, history


def test_the_custom_train_step_fits_as_keras(fashion_dir, monkeypatch, capsys):
    k = keras_module()
    digits = _digits(fashion_dir, monkeypatch)
    ex = _Example(k)
    weights = (ex.encoder.get_weights(), ex.decoder.get_weights())
    capsys.readouterr()
    runs, printed = {}, {}
    for lib in (k, kerasish):
        runs[lib] = _train(lib, digits, weights)
        printed[lib] = text_and_numbers(capsys.readouterr().out.splitlines())
    (ours, h_ours), (theirs, h_theirs) = runs[kerasish], runs[k]
    # The progress lines: the trackers' names in Keras's order, the same numbers.
    assert printed[kerasish][0] == printed[k][0]
    assert printed[kerasish][0][:2] == ["Epoch #/#", "#/# - <time> - <time>/step - kl_loss: # - loss: # - "
                                                     "reconstruction_loss: #"]
    np.testing.assert_allclose(printed[kerasish][1], printed[k][1], rtol=1e-4, atol=1.5e-4)
    assert list(h_ours.history) == list(h_theirs.history) == ["kl_loss", "loss", "reconstruction_loss"]
    assert h_ours.epoch == [0, 1]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6)
    assert h_ours.history["loss"][1] < h_ours.history["loss"][0]
    assert [m.name for m in ours.metrics] == [m.name for m in theirs.metrics]
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-5, rtol=1e-4)
    # The example's plots: the decoder on a grid of latent points, the encoder's z_mean on the digits.
    z_sample = np.array([[x, y] for y in np.linspace(1.0, -1.0, 3) for x in np.linspace(-1.0, 1.0, 3)])
    assert_close(ours.decoder.predict(z_sample, verbose=0), theirs.decoder.predict(z_sample, verbose=0),
                 atol=1e-5, rtol=1e-4)
    z_mean, _, _ = ours.encoder.predict(digits[:64], verbose=0)
    assert_close(z_mean, theirs.encoder.predict(digits[:64], verbose=0)[0], atol=1e-5, rtol=1e-4)
