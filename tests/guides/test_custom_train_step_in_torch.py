"""Keras's guide "Customizing what happens in `fit()` with PyTorch" (keras-io
`guides/custom_train_step_in_torch.py`, the Keras 3 text), run on kerasish.

Each test is one section of the guide, its code kept as written. The only changes are the imports
(`import kerasish as keras`, `from kerasish import layers`) and the lines marked `# changed:`:
seeded arrays (fewer rows) instead of `np.random.random`, synthetic digits of MNIST's shape
instead of the download, `verbose=0` and `shuffle=False` (in order, so that both libraries see
the same batches), and the weights copied from the Keras twin (`tests/keras_parity.py`). Keras 3
on its torch backend runs the same code; History values and keys, `evaluate`'s results and the
models' `metrics` are compared with it.

When a step returns `{m.name: m.result() for m in self.metrics}` with compiled metrics, Keras 3
sorts the step's own keys and lists the nested `compile_metrics` entries where that key sorts, so
History reads `['mae', 'loss']`; the tests hold kerasish to that order.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import assert_close, keras_module

pytestmark = [
    # Keras 3's own NumPy 2 deprecation notice, printed on every conversion of its variables.
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    # The GAN's `torch.tensor(real_images)` on a batch that is already a tensor, which torch remarks on.
    pytest.mark.filterwarnings("ignore:To copy construct from a tensor"),
    # Both libraries remark that fit's default shuffle=True does not reorder a DataLoader.
    pytest.mark.filterwarnings("ignore:`shuffle=True` was passed, but will be ignored"),
    pytest.mark.filterwarnings("ignore:fit\\(shuffle=True\\) is ignored for x of type DataLoader"),
]


def _fresh(lib):
    lib.backend.clear_session()
    return lib


def _arrays(n=256, seed=0):
    rng = np.random.default_rng(seed)  # changed: np.random.random -> a seeded generator, 256 rows
    x = rng.random((n, 32))
    y = rng.random((n, 1))
    sw = rng.random((n, 1))
    return x, y, sw


def _functional(keras, model_class, weights):
    # Construct an instance of CustomModel
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = model_class(inputs, outputs)
    if weights:  # changed: added, the Keras model's initial weights, copied into kerasish's
        model.set_weights(weights[0])
    else:
        weights.append(model.get_weights())
    return model


def _run_both(run):
    """`run(keras, weights)` in Keras 3 first, then in kerasish (from the Keras weights)."""
    k = keras_module()
    weights = []
    theirs = run(_fresh(k), weights)
    ours = run(_fresh(kerasish), weights)
    return ours, theirs


def _assert_same_history(ours, theirs, rel=1e-5):
    assert list(ours) == list(theirs)  # the keys, in Keras's order
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=rel), key


# ----------------------------------------------------------------------------- A first simple example


def _first_custom_model(keras):
    class CustomModel(keras.Model):
        def train_step(self, data):
            # Unpack the data. Its structure depends on your model and
            # on what you pass to `fit()`.
            x, y = data

            # Call torch.nn.Module.zero_grad() to clear the leftover gradients
            # for the weights from the previous train step.
            self.zero_grad()

            # Compute loss
            y_pred = self(x, training=True)  # Forward pass
            loss = self.compute_loss(y=y, y_pred=y_pred)

            # Call torch.Tensor.backward() on the loss to compute gradients
            # for the weights.
            loss.backward()

            trainable_weights = [v for v in self.trainable_weights]
            gradients = [v.value.grad for v in trainable_weights]

            # Update weights
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)

            # Update metrics (includes the metric that tracks the loss)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)

            # Return a dict mapping metric names to current value
            # Note that it will include the loss (tracked in self.metrics).
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


def test_a_first_simple_example_trains_as_keras():
    def run(keras, weights):
        # Construct and compile an instance of CustomModel
        model = _functional(keras, _first_custom_model(keras), weights)
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        names = [m.name for m in model.metrics]  # changed: added, what the train_step iterates over

        # Just use `fit` as usual
        x, y, _ = _arrays()
        history = model.fit(x, y, epochs=3, shuffle=False, verbose=0)  # changed: in order, quiet
        return names, [m.name for m in model.metrics], history.history, model.get_weights()

    ours, theirs = _run_both(run)
    assert ours[0] == theirs[0] == ["loss", "compile_metrics"]
    assert ours[1] == theirs[1]
    assert list(ours[2]) == ["mae", "loss"]  # 'compile_metrics' flattened where it sorts, before 'loss'
    _assert_same_history(ours[2], theirs[2])
    assert_close(ours[3], theirs[3], atol=1e-5)


# ----------------------------------------------------------------------------- Going lower-level


def test_going_lower_level_with_own_metric_trackers():
    def run(keras, weights):
        class CustomModel(keras.Model):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.loss_tracker = keras.metrics.Mean(name="loss")
                self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
                self.loss_fn = keras.losses.MeanSquaredError()

            def train_step(self, data):
                x, y = data

                # Call torch.nn.Module.zero_grad() to clear the leftover gradients
                # for the weights from the previous train step.
                self.zero_grad()

                # Compute loss
                y_pred = self(x, training=True)  # Forward pass
                loss = self.loss_fn(y, y_pred)

                # Call torch.Tensor.backward() on the loss to compute gradients
                # for the weights.
                loss.backward()

                trainable_weights = [v for v in self.trainable_weights]
                gradients = [v.value.grad for v in trainable_weights]

                # Update weights
                with torch.no_grad():
                    self.optimizer.apply(gradients, trainable_weights)

                # Compute our own metrics
                self.loss_tracker.update_state(loss)
                self.mae_metric.update_state(y, y_pred)
                return {
                    "loss": self.loss_tracker.result(),
                    "mae": self.mae_metric.result(),
                }

            @property
            def metrics(self):
                # We list our `Metric` objects here so that `reset_states()` can be
                # called automatically at the start of each epoch
                # or at the start of `evaluate()`.
                return [self.loss_tracker, self.mae_metric]

        model = _functional(keras, CustomModel, weights)

        # We don't pass a loss or metrics here.
        model.compile(optimizer="adam")

        # Just use `fit` as usual -- you can use callbacks, etc.
        x, y, _ = _arrays()
        history = model.fit(x, y, epochs=5, shuffle=False, verbose=0)  # changed: in order, quiet
        return history.history

    ours, theirs = _run_both(run)
    assert list(ours) == ["loss", "mae"]
    _assert_same_history(ours, theirs)  # reset every epoch: per-epoch means, as Keras's


# ----------------------------------------------------------------------------- sample_weight


def test_supporting_sample_weight_and_class_weight():
    def run(keras, weights):
        class CustomModel(keras.Model):
            def train_step(self, data):
                # Unpack the data. Its structure depends on your model and
                # on what you pass to `fit()`.
                if len(data) == 3:
                    x, y, sample_weight = data
                else:
                    sample_weight = None
                    x, y = data

                # Call torch.nn.Module.zero_grad() to clear the leftover gradients
                # for the weights from the previous train step.
                self.zero_grad()

                # Compute loss
                y_pred = self(x, training=True)  # Forward pass
                loss = self.compute_loss(
                    y=y,
                    y_pred=y_pred,
                    sample_weight=sample_weight,
                )

                # Call torch.Tensor.backward() on the loss to compute gradients
                # for the weights.
                loss.backward()

                trainable_weights = [v for v in self.trainable_weights]
                gradients = [v.value.grad for v in trainable_weights]

                # Update weights
                with torch.no_grad():
                    self.optimizer.apply(gradients, trainable_weights)

                # Update metrics (includes the metric that tracks the loss)
                for metric in self.metrics:
                    if metric.name == "loss":
                        metric.update_state(loss)
                    else:
                        metric.update_state(y, y_pred, sample_weight=sample_weight)

                # Return a dict mapping metric names to current value
                # Note that it will include the loss (tracked in self.metrics).
                return {m.name: m.result() for m in self.metrics}

        # Construct and compile an instance of CustomModel
        model = _functional(keras, CustomModel, weights)
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])

        # You can now use sample_weight argument
        x, y, sw = _arrays()
        history = model.fit(x, y, sample_weight=sw, epochs=3, shuffle=False, verbose=0)  # changed: as above
        return history.history

    ours, theirs = _run_both(run)
    assert list(ours) == ["mae", "loss"]  # the compiled metrics sort under "compile_metrics"
    _assert_same_history(ours, theirs)


# ----------------------------------------------------------------------------- test_step


def test_providing_your_own_evaluation_step():
    def run(keras, weights):
        class CustomModel(keras.Model):
            def test_step(self, data):
                # Unpack the data
                x, y = data
                # Compute predictions
                y_pred = self(x, training=False)
                # Updates the metrics tracking the loss
                loss = self.compute_loss(y=y, y_pred=y_pred)
                # Update the metrics.
                for metric in self.metrics:
                    if metric.name == "loss":
                        metric.update_state(loss)
                    else:
                        metric.update_state(y, y_pred)
                # Return a dict mapping metric names to current value.
                # Note that it will include the loss (tracked in self.metrics).
                return {m.name: m.result() for m in self.metrics}

        # Construct an instance of CustomModel
        model = _functional(keras, CustomModel, weights)
        model.compile(loss="mse", metrics=["mae"])

        # Evaluate with our custom test_step
        x, y, _ = _arrays()
        result = model.evaluate(x, y, verbose=0)  # changed: quiet, the result kept
        again = model.evaluate(x, y, verbose=0, return_dict=True)  # changed: added, fresh metrics each call
        return result, again

    ours, theirs = _run_both(run)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-5)  # [loss, mae], in Keras's order
    assert list(ours[1]) == list(theirs[1]) == ["mae", "loss"]  # (key order: see the module docstring)
    assert [ours[1]["loss"], ours[1]["mae"]] == pytest.approx(ours[0], rel=1e-6)


# ----------------------------------------------------------------------------- GAN


def _gan_parts(keras):
    layers = keras.layers
    # Create the discriminator
    discriminator = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )

    # Create the generator
    latent_dim = 128
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            # We want to generate 128 coefficients to reshape into a 7x7x128 map
            layers.Dense(7 * 7 * 128),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((7, 7, 128)),
            layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    return discriminator, generator, latent_dim


def _gan_class(keras):
    class GAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
            self.seed_generator = keras.random.SeedGenerator(1337)
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
            device = "cuda" if torch.cuda.is_available() else "cpu"
            # changed: `tuple` -> `(tuple, list)`; Keras 3 hands the DataLoader's batch over as the list
            # torch collates (kerasish as Keras's `(x, y)` tuple), and the guide's check misses a list
            if isinstance(real_images, (tuple, list)):
                real_images = real_images[0]
            # Sample random points in the latent space
            batch_size = real_images.shape[0]
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )

            # Decode them to fake images
            generated_images = self.generator(random_latent_vectors)

            # Combine them with real images
            real_images = torch.tensor(real_images, device=device)
            combined_images = torch.concat([generated_images, real_images], axis=0)

            # Assemble labels discriminating real from fake images
            labels = torch.concat(
                [
                    torch.ones((batch_size, 1), device=device),
                    torch.zeros((batch_size, 1), device=device),
                ],
                axis=0,
            )
            # Add random noise to the labels - important trick!
            labels += 0.05 * keras.random.uniform(labels.shape, seed=self.seed_generator)

            # Train the discriminator
            self.zero_grad()
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
            d_loss.backward()
            grads = [v.value.grad for v in self.discriminator.trainable_weights]
            with torch.no_grad():
                self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

            # Sample random points in the latent space
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )

            # Assemble labels that say "all real images"
            misleading_labels = torch.zeros((batch_size, 1), device=device)

            # Train the generator (note that we should *not* update the weights
            # of the discriminator)!
            self.zero_grad()
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
            grads = g_loss.backward()
            grads = [v.value.grad for v in self.generator.trainable_weights]
            with torch.no_grad():
                self.g_optimizer.apply(grads, self.generator.trainable_weights)

            # Update metrics and return their value.
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {
                "d_loss": self.d_loss_tracker.result(),
                "g_loss": self.g_loss_tracker.result(),
            }

    return GAN


def test_wrapping_up_an_end_to_end_gan_trains_as_keras():
    rng = np.random.default_rng(0)  # changed: synthetic digits of MNIST's shape (no download here)
    digits = rng.integers(0, 256, (128, 28, 28)).astype("uint8")

    def run(keras, weights):
        discriminator, generator, latent_dim = _gan_parts(keras)
        if weights:  # changed: added, the Keras networks' initial weights, copied into kerasish's
            discriminator.set_weights(weights[0])
            generator.set_weights(weights[1])
        else:
            weights += [discriminator.get_weights(), generator.get_weights()]
        GAN = _gan_class(keras)

        # Prepare the dataset. We use both the training & test MNIST digits.
        batch_size = 64
        all_digits = digits  # changed: np.concatenate([x_train, x_test]) of the download
        all_digits = all_digits.astype("float32") / 255.0
        all_digits = np.reshape(all_digits, (-1, 28, 28, 1))

        # Create a TensorDataset
        dataset = torch.utils.data.TensorDataset(
            torch.from_numpy(all_digits), torch.from_numpy(all_digits)
        )
        # Create a DataLoader
        dataloader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)  # changed: in order

        gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
        gan.compile(
            d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
            g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
            loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
        )

        history = gan.fit(dataloader, epochs=1, verbose=0)  # changed: quiet
        steps = (int(gan.d_optimizer.iterations), int(gan.g_optimizer.iterations))  # changed: added
        return history.history, generator.get_weights(), discriminator.get_weights(), steps

    ours, theirs = _run_both(run)
    assert list(ours[0]) == ["d_loss", "g_loss"]
    _assert_same_history(ours[0], theirs[0], rel=1e-4)
    assert_close(ours[1], theirs[1], atol=1e-4)  # each optimizer moved its own network, as Keras's did
    assert_close(ours[2], theirs[2], atol=1e-4)
    assert ours[3] == theirs[3] == (2, 2)  # one apply per batch on each optimizer


def test_sample_weight_of_shape_n_1_is_one_weight_per_sample_and_wider_is_refused():
    # The guide's `sw = np.random.random((1000, 1))`: one weight per sample, in a column. A weight
    # per output column is something else; kerasish refuses it with the way out.
    keras = _fresh(kerasish)
    inputs = keras.Input(shape=(32,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    x, y, sw = _arrays(n=32)
    column = model.fit(x, y, sample_weight=sw, batch_size=32, verbose=0).history["loss"]
    flat = model.fit(x, y, sample_weight=sw[:, 0], batch_size=32, verbose=0).history["loss"]
    assert column == pytest.approx(flat, rel=1e-6)
    with pytest.raises(ValueError, match=r"must be 1-D, one weight per sample: shape \(n,\) or \(n, 1\); received shape \(32, 2\)"):
        model.fit(x, y, sample_weight=np.ones((32, 2)), verbose=0)
