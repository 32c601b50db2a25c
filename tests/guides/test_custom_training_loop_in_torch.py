"""Keras's guide "Writing a training loop from scratch in PyTorch" (keras-io
`guides/writing_a_custom_training_loop_in_torch.py`, the Keras 3 text), run on kerasish.

Each test is one section of the guide, its code kept as written. The only changes are the imports
(`import kerasish as keras`) and the lines marked `# changed:`: synthetic arrays of MNIST's shapes
(512 training and 128 validation rows, not 60,000) instead of the download, two epochs, a log every
4 steps instead of every 100 (so that the short run prints), a training DataLoader in order (so
that both libraries see the same batches), and the initial weights copied from the Keras twin
(`tests/keras_parity.py`). Keras 3 on its torch backend runs the same loops; every line the guide
prints is compared with what Keras prints.

The guide's last section builds a model with `ActivityRegularizationLayer`, then trains a fresh
`get_model()` instead, so `model.losses` stays empty there; the test trains the model it built
(marked), which is what the section is about.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import keras_module

# Keras 3's own NumPy 2 deprecation notice, printed on every conversion of its variables.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

epochs = 2  # changed: 3 in the guide
batch_size = 32


def _get_model_fn(keras):
    # Let's consider a simple MNIST model
    def get_model():
        inputs = keras.Input(shape=(784,), name="digits")
        x1 = keras.layers.Dense(64, activation="relu")(inputs)
        x2 = keras.layers.Dense(64, activation="relu")(x1)
        outputs = keras.layers.Dense(10, name="predictions")(x2)
        model = keras.Model(inputs=inputs, outputs=outputs)
        return model

    return get_model


def _dataloaders(keras):
    rng = np.random.default_rng(0)  # changed: synthetic arrays of MNIST's shapes (no download here)
    x_train = rng.integers(0, 256, (640, 28, 28)).astype("uint8")
    y_train = rng.integers(0, 10, 640).astype("uint8")
    x_train = np.reshape(x_train, (-1, 784)).astype("float32") / 255  # changed: scaled, as other guides do
    y_train = keras.utils.to_categorical(y_train)

    # Reserve 10,000 samples for validation.
    x_val = x_train[-128:]  # changed: 128 rows
    y_val = y_train[-128:]
    x_train = x_train[:-128]
    y_train = y_train[:-128]

    # Create torch Datasets
    train_dataset = torch.utils.data.TensorDataset(
        torch.from_numpy(x_train), torch.from_numpy(y_train)
    )
    val_dataset = torch.utils.data.TensorDataset(
        torch.from_numpy(x_val), torch.from_numpy(y_val)
    )

    # Create DataLoaders for the Datasets
    train_dataloader = torch.utils.data.DataLoader(
        train_dataset, batch_size=batch_size, shuffle=False  # changed: in order
    )
    val_dataloader = torch.utils.data.DataLoader(
        val_dataset, batch_size=batch_size, shuffle=False
    )
    return train_dataloader, val_dataloader


def _run_both(capsys, run):
    """`run(keras, weights)` in Keras 3, then in kerasish from the Keras weights; the printed lines of each."""
    k = keras_module()
    weights = []
    printed = []
    for lib in (k, kerasish):
        lib.backend.clear_session()
        capsys.readouterr()
        run(lib, weights)
        printed.append(capsys.readouterr().out.splitlines())
    return printed[1], printed[0]


def _same_start(model, weights):
    # changed: added, the Keras model's initial weights, copied into kerasish's
    if weights:
        model.set_weights(weights[0])
    else:
        weights.append(model.get_weights())
    return model


def test_a_first_end_to_end_example_with_torch_optimizer_and_loss(capsys):
    def run(keras, weights):
        get_model = _get_model_fn(keras)
        train_dataloader, val_dataloader = _dataloaders(keras)
        # Instantiate a torch optimizer
        model = _same_start(get_model(), weights)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        # Instantiate a torch loss function
        loss_fn = torch.nn.CrossEntropyLoss()

        for epoch in range(epochs):
            for step, (inputs, targets) in enumerate(train_dataloader):
                # Forward pass
                logits = model(inputs)
                loss = loss_fn(logits, targets)

                # Backward pass
                model.zero_grad()
                loss.backward()

                # Optimizer variable updates
                optimizer.step()

                # Log every 100 batches.
                if step % 4 == 0:  # changed: every 4
                    print(
                        f"Training loss (for 1 batch) at step {step}: {loss.detach().numpy():.4f}"
                    )
                    print(f"Seen so far: {(step + 1) * batch_size} samples")

    ours, theirs = _run_both(capsys, run)
    assert len(ours) == 2 * 4 * 2 and ours[1] == "Seen so far: 32 samples"
    assert ours == theirs  # torch.optim.Adam over kerasish's parameters moves them as over Keras's


def test_a_keras_optimizer_and_a_keras_loss(capsys):
    def run(keras, weights):
        get_model = _get_model_fn(keras)
        train_dataloader, val_dataloader = _dataloaders(keras)
        model = _same_start(get_model(), weights)
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)
        loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)

        for epoch in range(epochs):
            print(f"\nStart of epoch {epoch}")
            for step, (inputs, targets) in enumerate(train_dataloader):
                # Forward pass
                logits = model(inputs)
                loss = loss_fn(targets, logits)

                # Backward pass
                model.zero_grad()
                trainable_weights = [v for v in model.trainable_weights]

                # Call torch.Tensor.backward() on the loss to compute gradients
                # for the weights.
                loss.backward()
                gradients = [v.value.grad for v in trainable_weights]

                # Update weights
                with torch.no_grad():
                    optimizer.apply(gradients, trainable_weights)

                # Log every 100 batches.
                if step % 4 == 0:  # changed: every 4
                    print(
                        f"Training loss (for 1 batch) at step {step}: {loss.detach().numpy():.4f}"
                    )
                    print(f"Seen so far: {(step + 1) * batch_size} samples")

    ours, theirs = _run_both(capsys, run)
    assert ours[:2] == ["", "Start of epoch 0"]
    assert ours == theirs


def _train_and_validate(keras, model, train_dataloader, val_dataloader, with_model_losses):
    # Instantiate an optimizer to train the model.
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    # Instantiate a loss function.
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)

    # Prepare the metrics.
    train_acc_metric = keras.metrics.CategoricalAccuracy()
    val_acc_metric = keras.metrics.CategoricalAccuracy()

    for epoch in range(epochs):
        print(f"\nStart of epoch {epoch}")
        for step, (inputs, targets) in enumerate(train_dataloader):
            # Forward pass
            logits = model(inputs)
            loss = loss_fn(targets, logits)
            if with_model_losses:  # changed: the metrics section's loop and the losses section's, in one
                if model.losses:
                    loss = loss + torch.sum(*model.losses)

            # Backward pass
            model.zero_grad()
            trainable_weights = [v for v in model.trainable_weights]

            # Call torch.Tensor.backward() on the loss to compute gradients
            # for the weights.
            loss.backward()
            gradients = [v.value.grad for v in trainable_weights]

            # Update weights
            with torch.no_grad():
                optimizer.apply(gradients, trainable_weights)

            # Update training metric.
            train_acc_metric.update_state(targets, logits)

            # Log every 100 batches.
            if step % 4 == 0:  # changed: every 4
                print(
                    f"Training loss (for 1 batch) at step {step}: {loss.detach().numpy():.4f}"
                )
                print(f"Seen so far: {(step + 1) * batch_size} samples")

        # Display metrics at the end of each epoch.
        train_acc = train_acc_metric.result()
        print(f"Training acc over epoch: {float(train_acc):.4f}")

        # Reset training metrics at the end of each epoch
        train_acc_metric.reset_state()

        # Run a validation loop at the end of each epoch.
        for x_batch_val, y_batch_val in val_dataloader:
            val_logits = model(x_batch_val, training=False)
            # Update val metrics
            val_acc_metric.update_state(y_batch_val, val_logits)
        val_acc = val_acc_metric.result()
        val_acc_metric.reset_state()
        print(f"Validation acc: {float(val_acc):.4f}")


def test_low_level_handling_of_metrics(capsys):
    def run(keras, weights):
        get_model = _get_model_fn(keras)
        train_dataloader, val_dataloader = _dataloaders(keras)
        # Get a fresh model
        model = _same_start(get_model(), weights)
        _train_and_validate(keras, model, train_dataloader, val_dataloader, with_model_losses=False)

    ours, theirs = _run_both(capsys, run)
    assert sum(line.startswith("Validation acc: ") for line in ours) == epochs
    assert sum(line.startswith("Training acc over epoch: ") for line in ours) == epochs
    assert ours == theirs


def test_low_level_handling_of_losses_tracked_by_the_model(capsys):
    def run(keras, weights):
        train_dataloader, val_dataloader = _dataloaders(keras)

        class ActivityRegularizationLayer(keras.layers.Layer):
            def call(self, inputs):
                self.add_loss(1e-2 * torch.sum(inputs))
                return inputs

        inputs = keras.Input(shape=(784,), name="digits")
        x = keras.layers.Dense(64, activation="relu")(inputs)
        # Insert activity regularization as a layer
        x = ActivityRegularizationLayer()(x)
        x = keras.layers.Dense(64, activation="relu")(x)
        outputs = keras.layers.Dense(10, name="predictions")(x)

        model = keras.Model(inputs=inputs, outputs=outputs)

        # Get a fresh model
        # changed: `model = get_model()` dropped, so the loop trains the model with the layer above
        model = _same_start(model, weights)
        first = next(iter(train_dataloader))[0]  # changed: added, the loss the layer adds in one call
        model(first)
        print(f"losses after a call: {len(model.losses)}, {float(model.losses[0].detach()):.4f}")
        _train_and_validate(keras, model, train_dataloader, val_dataloader, with_model_losses=True)

    ours, theirs = _run_both(capsys, run)
    assert ours[0].startswith("losses after a call: 1, ")
    assert ours == theirs
