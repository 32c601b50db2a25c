"""keras-io's example "WGAN-GP overriding `Model.train_step`" (`examples/generative/wgan_gp.py`), run on
kerasish.

The example is written for TensorFlow (`tf.GradientTape`, nested for the gradient penalty, `tf.random`,
`tf.reduce_mean`); Keras 3 on the torch backend cannot run that step, so its `train_step` is written in
the torch form of keras-io's guide "Customizing what happens in fit() with PyTorch" (its GAN section):
`self.zero_grad()`, `loss.backward()`, the gradients read from `v.value.grad`, `optimizer.apply(...)` under
`torch.no_grad()`, the noise drawn by `keras.random` from a `SeedGenerator(1337)` that the model owns (with
`self.built = True`, as the guide has it), and the penalty's inner tape as
`torch.autograd.grad(..., create_graph=True)`, so that the critic is trained through the gradient norm.
The rest of the example's code is kept as written; the only changes are the imports
(`import kerasish as keras`) and the lines marked `# changed:`: Fashion-MNIST is read from disk (the
example downloads it), 32 images in batches of 32 (512) for two epochs (20); for training, the filters
are divided by 8 (the summaries are compared at the example's sizes) and the dropout rates are 0, so that
both libraries train on the same numbers (the example passes `training=True`, so its dropout is active,
and the two libraries' masks differ); the monitor saves its images, drawn from its own seeded generator,
into a temporary folder; Keras's initial weights are copied in and `shuffle=False` is passed. Keras 3
(torch backend, `tests/keras_parity.py`) runs the same code: the summaries, the printed epoch lines, the
History of the custom step (the last batch's losses, as the step returns plain tensors), the weights
after training (the generator's BatchNormalization statistics included) and the saved images are
compared.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

IMG_SHAPE = (28, 28, 1)
BATCH_SIZE = 32  # changed: 512, for speed

# Size of the noise vector
noise_dim = 128


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


@pytest.fixture
def train_images(fashion_dir, monkeypatch, capsys):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))  # changed: the files on disk
    fashion_mnist = kerasish.datasets.fashion_mnist  # changed: offline
    (train_images, train_labels), (test_images, test_labels) = fashion_mnist.load_data()
    train_images = train_images[:32]  # changed: a slice, for speed
    print(f"Number of examples: {len(train_images)}")
    print(f"Shape of the images in the dataset: {train_images.shape[1:]}")

    # Reshape each sample to (28, 28, 1) and normalize the pixel values in the [-1, 1] range
    train_images = train_images.reshape(train_images.shape[0], *IMG_SHAPE).astype("float32")
    train_images = (train_images - 127.5) / 127.5
    assert capsys.readouterr().out.splitlines() == ["Number of examples: 32",
                                                    "Shape of the images in the dataset: (28, 28)"]
    return train_images


class _Example:
    """The example's models and classes, written against `keras` (either library); `shrink` divides the
    filters and `drop` scales the dropout rates (1 and 1.0: the example's own models)."""

    def __init__(self, keras, shrink=1, drop=1.0):
        layers, ops = keras.layers, keras.ops
        keras.backend.clear_session()  # changed: names restart in both libraries

        def conv_block(
            x,
            filters,
            activation,
            kernel_size=(3, 3),
            strides=(1, 1),
            padding="same",
            use_bias=True,
            use_bn=False,
            use_dropout=False,
            drop_value=0.5,
        ):
            x = layers.Conv2D(
                filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias
            )(x)
            if use_bn:
                x = layers.BatchNormalization()(x)
            x = activation(x)
            if use_dropout:
                x = layers.Dropout(drop_value * drop)(x)  # changed: * drop
            return x

        def get_discriminator_model():
            img_input = layers.Input(shape=IMG_SHAPE)
            # Zero pad the input to make the input images size to (32, 32, 1).
            x = layers.ZeroPadding2D((2, 2))(img_input)
            x = conv_block(
                x,
                64 // shrink,  # changed: // shrink
                kernel_size=(5, 5),
                strides=(2, 2),
                use_bn=False,
                use_bias=True,
                activation=layers.LeakyReLU(0.2),
                use_dropout=False,
                drop_value=0.3,
            )
            x = conv_block(
                x,
                128 // shrink,  # changed: // shrink
                kernel_size=(5, 5),
                strides=(2, 2),
                use_bn=False,
                activation=layers.LeakyReLU(0.2),
                use_bias=True,
                use_dropout=True,
                drop_value=0.3,
            )
            x = conv_block(
                x,
                256 // shrink,  # changed: // shrink
                kernel_size=(5, 5),
                strides=(2, 2),
                use_bn=False,
                activation=layers.LeakyReLU(0.2),
                use_bias=True,
                use_dropout=True,
                drop_value=0.3,
            )
            x = conv_block(
                x,
                512 // shrink,  # changed: // shrink
                kernel_size=(5, 5),
                strides=(2, 2),
                use_bn=False,
                activation=layers.LeakyReLU(0.2),
                use_bias=True,
                use_dropout=False,
                drop_value=0.3,
            )

            x = layers.Flatten()(x)
            x = layers.Dropout(0.2 * drop)(x)  # changed: * drop
            x = layers.Dense(1)(x)

            d_model = keras.models.Model(img_input, x, name="discriminator")
            return d_model

        def upsample_block(
            x,
            filters,
            activation,
            kernel_size=(3, 3),
            strides=(1, 1),
            up_size=(2, 2),
            padding="same",
            use_bn=False,
            use_bias=True,
            use_dropout=False,
            drop_value=0.3,
        ):
            x = layers.UpSampling2D(up_size)(x)
            x = layers.Conv2D(
                filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias
            )(x)

            if use_bn:
                x = layers.BatchNormalization()(x)

            if activation:
                x = activation(x)
            if use_dropout:
                x = layers.Dropout(drop_value * drop)(x)  # changed: * drop
            return x

        def get_generator_model():
            noise = layers.Input(shape=(noise_dim,))
            x = layers.Dense(4 * 4 * 256 // shrink, use_bias=False)(noise)  # changed: // shrink
            x = layers.BatchNormalization()(x)
            x = layers.LeakyReLU(0.2)(x)

            x = layers.Reshape((4, 4, 256 // shrink))(x)  # changed: // shrink
            x = upsample_block(
                x,
                128 // shrink,  # changed: // shrink
                layers.LeakyReLU(0.2),
                strides=(1, 1),
                use_bias=False,
                use_bn=True,
                padding="same",
                use_dropout=False,
            )
            x = upsample_block(
                x,
                64 // shrink,  # changed: // shrink
                layers.LeakyReLU(0.2),
                strides=(1, 1),
                use_bias=False,
                use_bn=True,
                padding="same",
                use_dropout=False,
            )
            x = upsample_block(
                x, 1, layers.Activation("tanh"), strides=(1, 1), use_bias=False, use_bn=True
            )
            # At this point, we have an output which has the same shape as the input, (32, 32, 1).
            # We will use a Cropping2D layer to make it (28, 28, 1).
            x = layers.Cropping2D((2, 2))(x)

            g_model = keras.models.Model(noise, x, name="generator")
            return g_model

        class WGAN(keras.Model):
            def __init__(
                self,
                discriminator,
                generator,
                latent_dim,
                discriminator_extra_steps=3,
                gp_weight=10.0,
            ):
                super(WGAN, self).__init__()
                self.discriminator = discriminator
                self.generator = generator
                self.latent_dim = latent_dim
                self.d_steps = discriminator_extra_steps
                self.gp_weight = gp_weight
                self.seed_generator = keras.random.SeedGenerator(1337)  # changed: keras.random, as the guide
                self.built = True  # changed: as the torch guide (the WGAN has no call() to build it)

            def compile(self, d_optimizer, g_optimizer, d_loss_fn, g_loss_fn):
                super(WGAN, self).compile()
                self.d_optimizer = d_optimizer
                self.g_optimizer = g_optimizer
                self.d_loss_fn = d_loss_fn
                self.g_loss_fn = g_loss_fn

            def gradient_penalty(self, batch_size, real_images, fake_images):
                """Calculates the gradient penalty.

                This loss is calculated on an interpolated image
                and added to the discriminator loss.
                """
                # Get the interpolated image
                alpha = keras.random.normal(
                    (batch_size, 1, 1, 1), 0.0, 1.0, seed=self.seed_generator
                )  # changed: tf.random.normal -> keras.random.normal
                diff = fake_images - real_images
                interpolated = real_images + alpha * diff

                # 1. Get the discriminator output for this interpolated image.
                pred = self.discriminator(interpolated, training=True)

                # 2. Calculate the gradients w.r.t to this interpolated image.
                grads = torch.autograd.grad(
                    pred, [interpolated], grad_outputs=ops.ones_like(pred), create_graph=True
                )[0]  # changed: the inner tf.GradientTape; create_graph trains the critic through the norm
                # 3. Calculate the norm of the gradients.
                norm = ops.sqrt(ops.sum(ops.square(grads), axis=[1, 2, 3]))  # changed: tf -> ops
                gp = ops.mean((norm - 1.0) ** 2)  # changed: tf.reduce_mean -> ops.mean
                return gp

            def train_step(self, real_images):
                if isinstance(real_images, tuple):
                    real_images = real_images[0]

                # Get the batch size
                batch_size = ops.shape(real_images)[0]  # changed: tf.shape -> ops.shape

                for i in range(self.d_steps):
                    # Get the latent vector
                    random_latent_vectors = keras.random.normal(
                        shape=(batch_size, self.latent_dim), seed=self.seed_generator
                    )  # changed: tf.random.normal -> keras.random.normal
                    self.zero_grad()  # changed: torch autograd in place of tf.GradientTape
                    # Generate fake images from the latent vector
                    fake_images = self.generator(random_latent_vectors, training=True)
                    # Get the logits for the fake images
                    fake_logits = self.discriminator(fake_images, training=True)
                    # Get the logits for the real images
                    real_logits = self.discriminator(real_images, training=True)

                    # Calculate the discriminator loss using the fake and real image logits
                    d_cost = self.d_loss_fn(real_img=real_logits, fake_img=fake_logits)
                    # Calculate the gradient penalty
                    gp = self.gradient_penalty(batch_size, real_images, fake_images)
                    # Add the gradient penalty to the original discriminator loss
                    d_loss = d_cost + gp * self.gp_weight

                    # Get the gradients w.r.t the discriminator loss
                    d_loss.backward()  # changed: tape.gradient -> backward
                    d_gradient = [v.value.grad for v in self.discriminator.trainable_variables]  # changed
                    # Update the weights of the discriminator using the discriminator optimizer
                    with torch.no_grad():  # changed: the torch way
                        self.d_optimizer.apply(
                            d_gradient, self.discriminator.trainable_variables
                        )  # changed: apply_gradients(zip(...)) -> apply

                # Train the generator
                # Get the latent vector
                random_latent_vectors = keras.random.normal(
                    shape=(batch_size, self.latent_dim), seed=self.seed_generator
                )  # changed: tf.random.normal -> keras.random.normal
                self.zero_grad()  # changed: torch autograd in place of tf.GradientTape
                # Generate fake images using the generator
                generated_images = self.generator(random_latent_vectors, training=True)
                # Get the discriminator logits for fake images
                gen_img_logits = self.discriminator(generated_images, training=True)
                # Calculate the generator loss
                g_loss = self.g_loss_fn(gen_img_logits)

                # Get the gradients w.r.t the generator loss
                g_loss.backward()  # changed: tape.gradient -> backward
                gen_gradient = [v.value.grad for v in self.generator.trainable_variables]  # changed
                # Update the weights of the generator using the generator optimizer
                with torch.no_grad():  # changed: the torch way
                    self.g_optimizer.apply(
                        gen_gradient, self.generator.trainable_variables
                    )  # changed: apply_gradients(zip(...)) -> apply
                return {"d_loss": d_loss, "g_loss": g_loss}

        class GANMonitor(keras.callbacks.Callback):
            def __init__(self, num_img=6, latent_dim=128):
                self.num_img = num_img
                self.latent_dim = latent_dim
                self.seed_generator = keras.random.SeedGenerator(42)  # changed: seeded draws

            def on_epoch_end(self, epoch, logs=None):
                random_latent_vectors = keras.random.normal(
                    shape=(self.num_img, self.latent_dim), seed=self.seed_generator
                )  # changed: tf.random.normal -> keras.random.normal
                generated_images = self.model.generator(random_latent_vectors)
                generated_images = (generated_images * 127.5) + 127.5
                generated_images = ops.convert_to_numpy(generated_images)  # changed: a host copy, once

                for i in range(self.num_img):
                    img = generated_images[i]  # changed: .numpy() done above
                    img = keras.preprocessing.image.array_to_img(img)
                    img.save("generated_img_{i}_{epoch}.png".format(i=i, epoch=epoch))

        # Define the loss functions for the discriminator,
        # which should be (fake_loss - real_loss).
        # We will add the gradient penalty later to this loss function.
        def discriminator_loss(real_img, fake_img):
            real_loss = ops.mean(real_img)  # changed: tf.reduce_mean -> ops.mean
            fake_loss = ops.mean(fake_img)  # changed: tf.reduce_mean -> ops.mean
            return fake_loss - real_loss

        # Define the loss functions for the generator.
        def generator_loss(fake_img):
            return -ops.mean(fake_img)  # changed: tf.reduce_mean -> ops.mean

        self.d_model = get_discriminator_model()
        self.g_model = get_generator_model()
        self.WGAN, self.GANMonitor = WGAN, GANMonitor
        self.discriminator_loss, self.generator_loss = discriminator_loss, generator_loss


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_the_critic_and_generator_summaries_are_keras_summaries():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        ex = _Example(lib)
        texts[lib] = [(_summary(m), m.count_params()) for m in (ex.d_model, ex.g_model)]
    assert "Total params: 4,305,409" in texts[kerasish][0][0]
    assert "Total params: 910,660" in texts[kerasish][1][0]
    assert texts[kerasish] == texts[k]


def _train(keras, train_images, weights, folder, monkeypatch):
    ex = _Example(keras, shrink=8, drop=0.0)  # changed: narrower, no dropout
    ex.d_model.set_weights(weights[0])  # changed: Keras's initial weights in both
    ex.g_model.set_weights(weights[1])
    # Instantiate the optimizer for both networks
    # (learning_rate=0.0002, beta_1=0.5 are recommended)
    generator_optimizer = keras.optimizers.Adam(
        learning_rate=0.0002, beta_1=0.5, beta_2=0.9
    )
    discriminator_optimizer = keras.optimizers.Adam(
        learning_rate=0.0002, beta_1=0.5, beta_2=0.9
    )
    # Set the number of epochs for trainining.
    epochs = 2  # changed: 20, for speed

    # Instantiate the customer `GANMonitor` Keras callback.
    cbk = ex.GANMonitor(num_img=3, latent_dim=noise_dim)

    # Get the wgan model
    wgan = ex.WGAN(
        discriminator=ex.d_model,
        generator=ex.g_model,
        latent_dim=noise_dim,
        discriminator_extra_steps=3,
    )

    # Compile the wgan model
    wgan.compile(
        d_optimizer=discriminator_optimizer,
        g_optimizer=generator_optimizer,
        g_loss_fn=ex.generator_loss,
        d_loss_fn=ex.discriminator_loss,
    )

    monkeypatch.chdir(folder)  # changed: the images go to a temporary folder
    # Start training
    history = wgan.fit(train_images, batch_size=BATCH_SIZE, epochs=epochs, callbacks=[cbk],
                       shuffle=False, verbose=2)  # changed: the same batches; one line an epoch
    return wgan, history


@pytest.mark.slow  # about 20-30 s on two shared CPU cores
def test_the_gradient_penalty_step_fits_as_keras(train_images, tmp_path, monkeypatch, capsys):
    k = keras_module()
    ex = _Example(k, shrink=8, drop=0.0)
    weights = (ex.d_model.get_weights(), ex.g_model.get_weights())
    capsys.readouterr()
    runs = {}
    for lib in (k, kerasish):
        folder = tmp_path / lib.__name__
        folder.mkdir()
        runs[lib] = _train(lib, train_images, weights, folder, monkeypatch) + (folder,)
        runs[lib] += (text_and_numbers(capsys.readouterr().out.splitlines()),)
    (ours, h_ours, f_ours, out_ours), (theirs, h_theirs, f_theirs, out_theirs) = runs[kerasish], runs[k]
    assert list(h_ours.history) == list(h_theirs.history) == ["d_loss", "g_loss"]
    assert h_ours.epoch == [0, 1]
    # The critic's gradient penalty amplifies rounding: Keras against itself with one or two torch threads
    # differs by up to 2e-3 in g_loss after four steps, hence the tolerances (a penalty without its
    # second-order term, for one, is off by far more).
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-3, atol=1e-5)
    assert out_ours[0] == out_theirs[0]
    assert out_ours[0][:2] == ["Epoch #/#", "#/# - <time> - <time>/step - d_loss: # - g_loss: #"]
    np.testing.assert_allclose(out_ours[1], out_theirs[1], rtol=1e-3, atol=1.5e-4)
    # Three critic updates a batch, one generator update.
    assert ours.d_optimizer.iterations == theirs.d_optimizer.iterations == 6
    assert ours.g_optimizer.iterations == theirs.g_optimizer.iterations == 2
    assert_close(ours.discriminator.get_weights(), theirs.discriminator.get_weights(), atol=1e-4, rtol=1e-3)
    assert_close(ours.generator.get_weights(), theirs.generator.get_weights(), atol=1e-4, rtol=1e-3)
    names = sorted(p.name for p in f_ours.iterdir())
    assert names == sorted(p.name for p in f_theirs.iterdir()) and len(names) == 6
    from PIL import Image

    for name in names:
        a = np.asarray(Image.open(f_ours / name), "int16")
        b = np.asarray(Image.open(f_theirs / name), "int16")
        assert a.shape == (28, 28) and np.abs(a - b).max() <= 1
