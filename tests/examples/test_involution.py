"""keras-io's example "Involutional neural networks" (`examples/vision/involution.py`), run on kerasish.

The example is written for TensorFlow: its `Involution` layer calls `tf.image.extract_patches`,
`tf.multiply`, `tf.reduce_sum` and `tf.identity`. Its Keras 3 form uses `keras.ops` for them
(`ops.image.extract_patches(x, size, strides, dilation_rate, padding="same")`, `ops.multiply`,
`ops.sum`, and a plain `lambda x: x` for the identity), which is what runs here on both libraries: a
custom layer that makes its sublayers (a Sequential, Reshapes, a pooling layer) in `build`, returns two
tensors, and is called on symbolic inputs in a functional model whose `get_layer(name).output` then
feeds a second model with nested outputs. (The brief's fallback, `mlp_image_classification.py`, is
TensorFlow-only too: `tensorflow_addons`' AdamW and GELU.)

The rest of the example's code is kept as written; the only changes are the imports
(`import kerasish as keras`) and the lines marked `# changed:`: the layer test runs on a batch of 4
images of 32x32 (32 of 256x256), small synthetic arrays of CIFAR-10's shapes and dtypes stand in for
the download, the `tf.data` pipeline becomes arrays (its batch size goes to `fit`), two epochs (20),
`tf.random.set_seed` becomes `keras.utils.set_random_seed`, the plots are left out, Keras's initial
weights are copied in and `shuffle=False` is passed. Keras 3 (torch backend, `tests/keras_parity.py`)
runs the same code: the printed lines, the involution outputs from the same weights, the summaries
after training (optimizer params included), History and the visualised kernels are compared.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword",
                                        "ignore:Do not pass an `input_shape`")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def _involution_class(keras):
    ops = keras.ops

    class Involution(keras.layers.Layer):
        def __init__(
            self, channel, group_number, kernel_size, stride, reduction_ratio, name
        ):
            super().__init__(name=name)

            # Initialize the parameters.
            self.channel = channel
            self.group_number = group_number
            self.kernel_size = kernel_size
            self.stride = stride
            self.reduction_ratio = reduction_ratio

        def build(self, input_shape):
            # Get the shape of the input.
            (_, height, width, num_channels) = input_shape

            # Scale the height and width with respect to the strides.
            height = height // self.stride
            width = width // self.stride

            # Define a layer that average pools the input tensor
            # if stride is more than 1.
            self.stride_layer = (
                keras.layers.AveragePooling2D(
                    pool_size=self.stride, strides=self.stride, padding="same"
                )
                if self.stride > 1
                else lambda x: x  # changed: tf.identity
            )
            # Define the kernel generation layer.
            self.kernel_gen = keras.Sequential(
                [
                    keras.layers.Conv2D(
                        filters=self.channel // self.reduction_ratio, kernel_size=1
                    ),
                    keras.layers.BatchNormalization(),
                    keras.layers.ReLU(),
                    keras.layers.Conv2D(
                        filters=self.kernel_size * self.kernel_size * self.group_number,
                        kernel_size=1,
                    ),
                ]
            )
            # Define reshape layers
            self.kernel_reshape = keras.layers.Reshape(
                target_shape=(
                    height,
                    width,
                    self.kernel_size * self.kernel_size,
                    1,
                    self.group_number,
                )
            )
            self.input_patches_reshape = keras.layers.Reshape(
                target_shape=(
                    height,
                    width,
                    self.kernel_size * self.kernel_size,
                    num_channels // self.group_number,
                    self.group_number,
                )
            )
            self.output_reshape = keras.layers.Reshape(
                target_shape=(height, width, num_channels)
            )

        def call(self, x):
            # Generate the kernel with respect to the input tensor.
            # B, H, W, K*K*G
            kernel_input = self.stride_layer(x)
            kernel = self.kernel_gen(kernel_input)

            # reshape the kerenl
            # B, H, W, K*K, 1, G
            kernel = self.kernel_reshape(kernel)

            # Extract input patches.
            # B, H, W, K*K*C
            input_patches = ops.image.extract_patches(
                x,
                size=self.kernel_size,
                strides=self.stride,
                dilation_rate=1,
                padding="same",
            )  # changed: tf.image.extract_patches(sizes=[1, k, k, 1], strides=[1, s, s, 1], ...)

            # Reshape the input patches to align with later operations.
            # B, H, W, K*K, C//G, G
            input_patches = self.input_patches_reshape(input_patches)

            # Compute the multiply-add operation of kernels and patches.
            # B, H, W, K*K, C//G, G
            output = ops.multiply(kernel, input_patches)  # changed: tf.multiply
            # B, H, W, C//G, G
            output = ops.sum(output, axis=3)  # changed: tf.reduce_sum

            # Reshape the output kernel.
            # B, H, W, C
            output = self.output_reshape(output)

            # Return the output tensor and the kernel.
            return output, kernel

    return Involution


def _testing_the_layer(keras):
    Involution = _involution_class(keras)
    keras.utils.set_random_seed(42)  # changed: tf.random.set_seed(42)
    # Define the input tensor.
    input_tensor = keras.random.normal((4, 32, 32, 3))  # changed: (32, 256, 256, 3), for speed

    layers = []
    # Compute involution with stride 1.
    layers.append(Involution(
        channel=3, group_number=1, kernel_size=5, stride=1, reduction_ratio=1, name="inv_1"
    ))  # changed: kept, to compare
    output_tensor, _ = layers[-1](input_tensor)
    print(f"with stride 1 ouput shape: {output_tensor.shape}")

    # Compute involution with stride 2.
    layers.append(Involution(
        channel=3, group_number=1, kernel_size=5, stride=2, reduction_ratio=1, name="inv_2"
    ))  # changed: kept, to compare
    output_tensor, _ = layers[-1](input_tensor)
    print(f"with stride 2 ouput shape: {output_tensor.shape}")

    # Compute involution with stride 1, channel 16 and reduction ratio 2.
    layers.append(Involution(
        channel=16, group_number=1, kernel_size=5, stride=1, reduction_ratio=2, name="inv_3"
    ))  # changed: kept, to compare
    output_tensor, _ = layers[-1](input_tensor)
    print(
        "with channel 16 and reduction ratio 2 ouput shape: {}".format(output_tensor.shape)
    )
    return input_tensor, layers


def test_testing_the_involution_layer_prints_and_computes_as_keras(capsys):
    k = keras_module()
    runs = {}
    for lib in (k, kerasish):
        runs[lib] = _testing_the_layer(lib) + (capsys.readouterr().out.splitlines(),)
    assert runs[kerasish][2] == runs[k][2] == [
        "with stride 1 ouput shape: torch.Size([4, 32, 32, 3])",
        "with stride 2 ouput shape: torch.Size([4, 16, 16, 3])",
        "with channel 16 and reduction ratio 2 ouput shape: torch.Size([4, 32, 32, 3])",
    ]
    x = runs[k][0]
    assert_close(runs[kerasish][0], x)  # the seeded draw
    for ours, theirs in zip(runs[kerasish][1], runs[k][1]):
        assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
        ours.set_weights(theirs.get_weights())
        assert_close(ours(x), theirs(x), atol=1e-5)
        assert_close(ours(x, training=True), theirs(x, training=True), atol=1e-5)  # BatchNormalization


def _cifar():
    rng = np.random.default_rng(0)  # changed: synthetic arrays of CIFAR-10's shapes and dtypes
    train_images = rng.integers(0, 256, size=(64, 32, 32, 3), dtype="uint8")  # changed
    train_labels = rng.integers(0, 10, size=(64, 1), dtype="uint8")  # changed
    test_images = rng.integers(0, 256, size=(32, 32, 32, 3), dtype="uint8")  # changed
    test_labels = rng.integers(0, 10, size=(32, 1), dtype="uint8")  # changed
    # Normalize pixel values to be between 0 and 1.
    (train_images, test_images) = (train_images / 255.0, test_images / 255.0)
    return (train_images, train_labels), (test_images, test_labels)


def _conv_model(keras):
    keras.backend.clear_session()  # changed: names restart in both libraries
    # Build the conv model.
    print("building the convolution model...")
    conv_model = keras.Sequential(
        [
            keras.layers.Conv2D(32, (3, 3), input_shape=(32, 32, 3), padding="same"),
            keras.layers.ReLU(name="relu1"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Conv2D(64, (3, 3), padding="same"),
            keras.layers.ReLU(name="relu2"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Conv2D(64, (3, 3), padding="same"),
            keras.layers.ReLU(name="relu3"),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    return conv_model


def _inv_model(keras):
    keras.backend.clear_session()  # changed: names restart in both libraries
    Involution = _involution_class(keras)
    # Build the involution model.
    print("building the involution model...")

    inputs = keras.Input(shape=(32, 32, 3))
    x, _ = Involution(
        channel=3, group_number=1, kernel_size=3, stride=1, reduction_ratio=2, name="inv_1"
    )(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D((2, 2))(x)
    x, _ = Involution(
        channel=3, group_number=1, kernel_size=3, stride=1, reduction_ratio=2, name="inv_2"
    )(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D((2, 2))(x)
    x, _ = Involution(
        channel=3, group_number=1, kernel_size=3, stride=1, reduction_ratio=2, name="inv_3"
    )(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(10)(x)

    inv_model = keras.Model(inputs=[inputs], outputs=[outputs], name="inv_model")
    return inv_model


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def _fit(keras, model, name, data, weights):
    (train_images, train_labels), (test_images, test_labels) = data
    model.set_weights(weights)  # changed: Keras's initial weights in both
    # Compile the mode with the necessary loss function and optimizer.
    print(f"compiling the {name} model...")
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(f"{name} model training...")
    return model.fit(train_images, train_labels, batch_size=32, epochs=2,  # changed: the tf.data batches; 20
                     validation_data=(test_images, test_labels), shuffle=False,  # changed: the same batches
                     verbose=2)  # changed: one line an epoch


def _train_both(keras, weights):
    data = _cifar()
    conv_model = _conv_model(keras)
    conv_hist = _fit(keras, conv_model, "conv", data, weights[0])  # changed: the example's lines in _fit
    inv_model = _inv_model(keras)
    inv_hist = _fit(keras, inv_model, "inv", data, weights[1])  # changed: the example's lines in _fit
    summaries = (_summary(conv_model), _summary(inv_model))  # changed: conv_model.summary(), inv_model.summary()

    layer_names = ["inv_1", "inv_2", "inv_3"]
    outputs = [inv_model.get_layer(name).output for name in layer_names]
    vis_model = keras.Model(inv_model.input, outputs)

    kernels = []
    for test_image in data[1][0][:2]:  # changed: two images, no plots
        (inv1_out, inv2_out, inv3_out) = vis_model.predict(test_image[None, ...], verbose=0)  # changed: quiet

        _, inv1_kernel = inv1_out
        _, inv2_kernel = inv2_out
        _, inv3_kernel = inv3_out

        inv1_kernel = keras.ops.sum(inv1_kernel, axis=[-1, -2, -3])  # changed: tf.reduce_sum
        inv2_kernel = keras.ops.sum(inv2_kernel, axis=[-1, -2, -3])  # changed: tf.reduce_sum
        inv3_kernel = keras.ops.sum(inv3_kernel, axis=[-1, -2, -3])  # changed: tf.reduce_sum
        kernels.append((inv1_kernel, inv2_kernel, inv3_kernel))
    return conv_hist, inv_hist, summaries, kernels, inv_model, vis_model


def test_the_kernel_visualisation_model_has_nested_outputs_as_keras(capsys):
    # `[inv_model.get_layer(name).output for name in layer_names]`: a list of [output, kernel] pairs, as
    # the model's outputs; predict returns the same nesting.
    k = keras_module()
    image = _cifar()[1][0][:2]
    results = {}
    for lib in (k, kerasish):
        inv_model = _inv_model(lib)
        if lib is kerasish:
            inv_model.set_weights(weights)
        weights = inv_model.get_weights()
        layer_names = ["inv_1", "inv_2", "inv_3"]
        outputs = [inv_model.get_layer(name).output for name in layer_names]
        vis_model = lib.Model(inv_model.input, outputs)
        results[lib] = vis_model.predict(image, verbose=0)
        assert isinstance(vis_model.outputs, list) and len(vis_model.outputs) == 6
    capsys.readouterr()
    ours, theirs = results[kerasish], results[k]
    assert [type(pair) for pair in ours] == [type(pair) for pair in theirs] == [list] * 3
    assert [tuple(t.shape) for pair in ours for t in pair] == [tuple(t.shape) for pair in theirs for t in pair]
    assert_close([t for pair in ours for t in pair], [t for pair in theirs for t in pair], atol=1e-5)


@pytest.mark.slow  # about 20-30 s on two shared CPU cores
def test_the_convolution_and_involution_models_train_as_keras(capsys):
    k = keras_module()
    weights = (_conv_model(k).get_weights(), _inv_model(k).get_weights())
    capsys.readouterr()
    runs = {}
    for lib in (k, kerasish):
        runs[lib] = _train_both(lib, weights) + (text_and_numbers(capsys.readouterr().out.splitlines()),)
    ours, theirs = runs[kerasish], runs[k]
    for h_ours, h_theirs in zip(ours[:2], theirs[:2]):
        assert list(h_ours.history) == list(h_theirs.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        for key in h_ours.history:
            np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6)
    assert ours[2] == theirs[2]
    assert "Optimizer params: 638,358" in ours[2][0]  # Adam after fit: 2 x 319,178 + step and rate
    assert 'Model: "inv_model"' in ours[2][1]
    # The kernels after training: each 1x1 convolution before a BatchNormalization has a bias whose gradient
    # is zero up to rounding (the normalisation subtracts the batch mean); Adam divides that rounding noise
    # by its own size, so the bias moves by up to the learning rate a step in a direction set by rounding,
    # which differs between the libraries, and shifts the kernels at inference by a few 1e-4.
    for k_ours, k_theirs in zip(ours[3], theirs[3]):
        assert tuple(k_ours[0].shape) == (1, 32, 32) and tuple(k_ours[2].shape) == (1, 8, 8)
        assert_close(k_ours, k_theirs, atol=5e-3, rtol=1e-3)
    # From the same weights, the visualisation model's nested outputs agree exactly.
    ours[4].set_weights(theirs[4].get_weights())
    image = _cifar()[1][0][:3]
    nested_ours, nested_theirs = ours[5].predict(image, verbose=0), theirs[5].predict(image, verbose=0)
    assert [len(pair) for pair in nested_ours] == [2, 2, 2] and nested_ours[2][1].shape == (3, 8, 8, 9, 1, 1)
    assert_close([t for pair in nested_ours for t in pair], [t for pair in nested_theirs for t in pair], atol=1e-5)
    (text_ours, numbers_ours), (text_theirs, numbers_theirs) = ours[6], theirs[6]
    assert text_ours == text_theirs
    assert text_ours[:3] == ["building the convolution model...", "compiling the conv model...",
                             "conv model training..."]
    np.testing.assert_allclose(numbers_ours, numbers_theirs, rtol=1e-4, atol=1.5e-4)
