"""keras-io's example "DCGAN to generate face images" (`examples/generative/dcgan_overriding_train_step.py`),
run on kerasish.

The example is written for TensorFlow (`tf.GradientTape`, `tf.random`, `tf.concat`); Keras 3 on the torch
backend cannot run that step, so its `train_step` is written in the torch form of keras-io's guide
"Customizing what happens in fit() with PyTorch" (its GAN section): `self.zero_grad()`, `loss.backward()`,
the gradients read from `v.value.grad`, `optimizer.apply(...)` under `torch.no_grad()`, and the noise drawn
by `keras.random` from a `SeedGenerator(1337)` that the model owns (with `self.built = True`, as the guide
has it). The rest of the example's code is kept as written; the only changes are the imports
(`import kerasish as keras`) and the lines marked `# changed:`: small synthetic images (32x32, random
pixels) stand in for the CelebA download (64x64), so the first Dense layer reshapes to 4x4 instead of 8x8,
and the filters are divided by 4 or 8, so that the test takes seconds on a CPU; the `tf.data` pipeline
becomes an array (its batch size goes to `fit`); two epochs of two batches; the monitor saves three
images, drawn from its own seeded generator, into a temporary folder; Keras's initial weights are copied
in and `shuffle=False` is passed. Keras 3 (torch backend, `tests/keras_parity.py`) runs the same code:
the summaries, the History of the custom step (its two trackers reset each epoch), the weights after
training (the example's `Dropout(0.2)` included: a layer called without `training` inside a custom
`train_step` does not drop in Keras 3) and the saved images are compared.

One difference is Keras's, not kerasish's: the example's noisy labels reach 1.05, and Keras 3 on torch
computes `BinaryCrossentropy` with torch's `binary_cross_entropy`, which refuses targets above 1
("all elements of target should be between 0 and 1"); Keras's TensorFlow backend, the example's own,
computes the formula. kerasish computes the formula too, so for the comparison Keras's torch function is
replaced, in the Keras run only, by the same formula without the check.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword",
                                        "ignore:.*alpha.*deprecated")

latent_dim = 128


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def _dataset():
    rng = np.random.default_rng(0)  # changed: synthetic pixels in place of the CelebA download
    dataset = rng.integers(0, 256, size=(64, 32, 32, 3)).astype("float32")  # changed: 32x32, 64 images
    dataset = dataset / 255.0  # changed: dataset.map(lambda x: x / 255.0) on an array
    return dataset


class _Example:
    """The example's models and classes, written against `keras` (either library)."""

    def __init__(self, keras):
        layers, ops = keras.layers, keras.ops
        keras.backend.clear_session()  # changed: names restart in both libraries

        discriminator = keras.Sequential(
            [
                keras.Input(shape=(32, 32, 3)),  # changed: 64x64 images
                layers.Conv2D(16, kernel_size=4, strides=2, padding="same"),  # changed: 64 filters
                layers.LeakyReLU(alpha=0.2),
                layers.Conv2D(32, kernel_size=4, strides=2, padding="same"),  # changed: 128 filters
                layers.LeakyReLU(alpha=0.2),
                layers.Conv2D(32, kernel_size=4, strides=2, padding="same"),  # changed: 128 filters
                layers.LeakyReLU(alpha=0.2),
                layers.Flatten(),
                layers.Dropout(0.2),
                layers.Dense(1, activation="sigmoid"),
            ],
            name="discriminator",
        )

        generator = keras.Sequential(
            [
                keras.Input(shape=(latent_dim,)),
                layers.Dense(4 * 4 * 32),  # changed: 8 * 8 * 128
                layers.Reshape((4, 4, 32)),  # changed: (8, 8, 128)
                layers.Conv2DTranspose(16, kernel_size=4, strides=2, padding="same"),  # changed: 128 filters
                layers.LeakyReLU(alpha=0.2),
                layers.Conv2DTranspose(32, kernel_size=4, strides=2, padding="same"),  # changed: 256 filters
                layers.LeakyReLU(alpha=0.2),
                layers.Conv2DTranspose(64, kernel_size=4, strides=2, padding="same"),  # changed: 512 filters
                layers.LeakyReLU(alpha=0.2),
                layers.Conv2D(3, kernel_size=5, padding="same", activation="sigmoid"),
            ],
            name="generator",
        )

        class GAN(keras.Model):
            def __init__(self, discriminator, generator, latent_dim):
                super(GAN, self).__init__()
                self.discriminator = discriminator
                self.generator = generator
                self.latent_dim = latent_dim
                self.seed_generator = keras.random.SeedGenerator(1337)  # changed: keras.random, as the guide
                self.built = True  # changed: as the torch guide (the GAN has no call() to build it)

            def compile(self, d_optimizer, g_optimizer, loss_fn):
                super(GAN, self).compile()
                self.d_optimizer = d_optimizer
                self.g_optimizer = g_optimizer
                self.loss_fn = loss_fn
                self.d_loss_metric = keras.metrics.Mean(name="d_loss")
                self.g_loss_metric = keras.metrics.Mean(name="g_loss")

            @property
            def metrics(self):
                return [self.d_loss_metric, self.g_loss_metric]

            def train_step(self, real_images):
                # Sample random points in the latent space
                batch_size = ops.shape(real_images)[0]  # changed: tf.shape -> ops.shape
                random_latent_vectors = keras.random.normal(
                    shape=(batch_size, self.latent_dim), seed=self.seed_generator
                )  # changed: tf.random.normal -> keras.random.normal with the model's seed generator

                # Decode them to fake images
                generated_images = self.generator(random_latent_vectors)

                # Combine them with real images
                combined_images = ops.concatenate([generated_images, real_images], axis=0)  # changed: tf.concat

                # Assemble labels discriminating real from fake images
                labels = ops.concatenate(
                    [ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0
                )  # changed: tf -> ops
                # Add random noise to the labels - important trick!
                labels += 0.05 * keras.random.uniform(
                    ops.shape(labels), seed=self.seed_generator
                )  # changed: tf.random.uniform -> keras.random.uniform

                # Train the discriminator
                self.zero_grad()  # changed: torch autograd in place of tf.GradientTape
                predictions = self.discriminator(combined_images)
                d_loss = self.loss_fn(labels, predictions)
                d_loss.backward()  # changed: tape.gradient -> backward
                grads = [v.value.grad for v in self.discriminator.trainable_weights]  # changed: the torch way
                with torch.no_grad():  # changed: the torch way
                    self.d_optimizer.apply(grads, self.discriminator.trainable_weights)  # changed: apply

                # Sample random points in the latent space
                random_latent_vectors = keras.random.normal(
                    shape=(batch_size, self.latent_dim), seed=self.seed_generator
                )  # changed: tf.random.normal -> keras.random.normal

                # Assemble labels that say "all real images"
                misleading_labels = ops.zeros((batch_size, 1))  # changed: tf.zeros -> ops.zeros

                # Train the generator (note that we should *not* update the weights
                # of the discriminator)!
                self.zero_grad()  # changed: torch autograd in place of tf.GradientTape
                predictions = self.discriminator(self.generator(random_latent_vectors))
                g_loss = self.loss_fn(misleading_labels, predictions)
                g_loss.backward()  # changed: tape.gradient -> backward
                grads = [v.value.grad for v in self.generator.trainable_weights]  # changed: the torch way
                with torch.no_grad():  # changed: the torch way
                    self.g_optimizer.apply(grads, self.generator.trainable_weights)  # changed: apply

                # Update metrics
                self.d_loss_metric.update_state(d_loss)
                self.g_loss_metric.update_state(g_loss)
                return {
                    "d_loss": self.d_loss_metric.result(),
                    "g_loss": self.g_loss_metric.result(),
                }

        class GANMonitor(keras.callbacks.Callback):
            def __init__(self, num_img=3, latent_dim=128):
                self.num_img = num_img
                self.latent_dim = latent_dim
                self.seed_generator = keras.random.SeedGenerator(42)  # changed: seeded draws

            def on_epoch_end(self, epoch, logs=None):
                random_latent_vectors = keras.random.normal(
                    shape=(self.num_img, self.latent_dim), seed=self.seed_generator
                )  # changed: tf.random.normal -> keras.random.normal
                generated_images = self.model.generator(random_latent_vectors)
                generated_images *= 255
                generated_images = ops.convert_to_numpy(generated_images)  # changed: .numpy() of a torch tensor
                for i in range(self.num_img):
                    img = keras.preprocessing.image.array_to_img(generated_images[i])
                    img.save("generated_img_%03d_%d.png" % (epoch, i))

        self.discriminator, self.generator, self.GAN, self.GANMonitor = discriminator, generator, GAN, GANMonitor


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_the_discriminator_and_generator_summaries_are_keras_summaries():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        ex = _Example(lib)
        texts[lib] = [(_summary(m), m.count_params()) for m in (ex.discriminator, ex.generator)]
    assert "Total params: 25,937" in texts[kerasish][0][0]
    assert "Total params: 120,115" in texts[kerasish][1][0]
    assert texts[kerasish] == texts[k]


def test_a_layer_called_without_training_in_a_custom_step_keeps_its_inference_behaviour():
    # The example calls `self.discriminator(...)` without `training` in its train_step: in Keras 3 its
    # Dropout does not drop there (fit runs a custom step outside any call); `training=True` drops.
    k = keras_module()
    seen = {}
    for lib in (k, kerasish):
        seen[lib] = []

        class Probe(lib.layers.Layer):
            def call(self, x, training=None):
                seen[lib].append(training)
                return x

        class Stepper(lib.Model):
            def __init__(self):
                super().__init__()
                self.probe, self.dropout = Probe(), lib.layers.Dropout(0.5)
                self.built = self.probe.built = self.dropout.built = True

            def train_step(self, data):
                data = data[0] if isinstance(data, tuple) else data
                self.probe(data)
                for out in (self.dropout(data), self.dropout(data, training=True)):
                    seen[lib].append(bool((lib.ops.convert_to_numpy(out) == 0).any()))
                return {}

        model = Stepper()
        model.compile()
        model.fit(np.ones((64, 4), "float32"), batch_size=64, verbose=0)
        model.train_on_batch(np.ones((64, 4), "float32"))
    assert seen[kerasish] == seen[k] == [None, False, True] * 2


def _train(keras, dataset, weights, folder, monkeypatch):
    ex = _Example(keras)
    ex.discriminator.set_weights(weights[0])  # changed: Keras's initial weights in both
    ex.generator.set_weights(weights[1])
    epochs = 2  # changed: 1, to see the trackers reset

    gan = ex.GAN(discriminator=ex.discriminator, generator=ex.generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0001),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0001),
        loss_fn=keras.losses.BinaryCrossentropy(),
    )
    monkeypatch.chdir(folder)  # changed: the images go to a temporary folder
    history = gan.fit(
        dataset, epochs=epochs, callbacks=[ex.GANMonitor(num_img=3, latent_dim=latent_dim)],  # changed: 10 images
        batch_size=32, shuffle=False, verbose=0,  # changed: the tf.data batches; the same batches; quiet
    )
    return gan, history


def _keras_bce_without_the_target_check(keras, monkeypatch):
    from keras.src.backend.torch import nn as keras_torch_nn

    def binary_crossentropy(target, output, from_logits=False):
        assert not from_logits
        output = torch.clip(output, keras.backend.epsilon(), 1.0 - keras.backend.epsilon())
        return -(target * torch.log(output) + (1.0 - target) * torch.log1p(-output))

    monkeypatch.setattr(keras_torch_nn, "binary_crossentropy", binary_crossentropy)


def test_binary_crossentropy_takes_the_noisy_labels_above_one():
    labels = np.array([[1.03], [0.02]], "float32")
    predictions = np.array([[0.7], [0.2]], "float32")
    loss = kerasish.losses.BinaryCrossentropy()(labels, predictions)
    expected = -np.mean([1.03 * np.log(0.7) + (1 - 1.03) * np.log(0.3), 0.02 * np.log(0.2) + 0.98 * np.log(0.8)])
    assert_close(loss, expected, atol=1e-6)


def test_the_custom_train_step_fits_as_keras(tmp_path, monkeypatch):
    k = keras_module()
    _keras_bce_without_the_target_check(k, monkeypatch)
    dataset = _dataset()
    ex = _Example(k)
    weights = (ex.discriminator.get_weights(), ex.generator.get_weights())
    runs = {}
    for lib in (k, kerasish):
        folder = tmp_path / lib.__name__
        folder.mkdir()
        runs[lib] = _train(lib, dataset, weights, folder, monkeypatch) + (folder,)
    (ours, h_ours, f_ours), (theirs, h_theirs, f_theirs) = runs[kerasish], runs[k]
    assert list(h_ours.history) == list(h_theirs.history) == ["d_loss", "g_loss"]
    assert h_ours.epoch == [0, 1]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6)
    assert [m.name for m in ours.metrics] == ["d_loss", "g_loss"]
    assert ours.d_optimizer.iterations == theirs.d_optimizer.iterations == 4
    assert_close(ours.discriminator.get_weights(), theirs.discriminator.get_weights(), atol=1e-5, rtol=1e-4)
    assert_close(ours.generator.get_weights(), theirs.generator.get_weights(), atol=1e-5, rtol=1e-4)
    # The monitor's images: the same files, the same pixels (up to one level of rounding).
    names = sorted(p.name for p in f_ours.iterdir())
    assert names == sorted(p.name for p in f_theirs.iterdir())
    assert names[0] == "generated_img_000_0.png" and len(names) == 6
    from PIL import Image

    for name in names:
        a = np.asarray(Image.open(f_ours / name), "int16")
        b = np.asarray(Image.open(f_theirs / name), "int16")
        assert a.shape == (32, 32, 3) and np.abs(a - b).max() <= 1


def test_a_callback_calling_the_model_during_a_built_in_fit_gets_inference_behaviour():
    k = keras_module()
    seen = {}
    for lib in (k, kerasish):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(4), lib.layers.Dropout(0.5)])
        seen[lib] = []

        class Monitor(lib.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None, lib=lib):
                out = lib.ops.convert_to_numpy(self.model(np.ones((64, 4), "float32")))
                seen[lib].append(bool((out == 0).any()))

        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.ones((8, 4), "float32"), np.ones((8, 4), "float32"), verbose=0, callbacks=[Monitor()])
    assert seen[k] == [False]
    assert seen[kerasish] == seen[k]
