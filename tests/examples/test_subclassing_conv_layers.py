"""keras-io's example "Customizing the convolution operation of a Conv2D layer"
(`examples/keras_recipes/subclassing_conv_layers.py`, the Keras 3 text), run on kerasish.

The example's code is kept as written; the only changes are the imports (`import kerasish as keras`)
and the lines marked `# changed:`: its TensorFlow calls are written with `keras.ops` (`tf.nn.moments`
is `ops.moments`, `tf.nn.conv2d` is `ops.conv`, `tf.sqrt` is `ops.sqrt`); Fashion-MNIST read from disk
stands in for the MNIST download, sliced to a few hundred images; the Dropout rate is 0 for the
comparison (the two libraries draw different masks); Keras's initial weights are copied in and
`shuffle=False` is passed. The example leaves its `compile`/`fit` inside a string; they are run here
for two epochs. Keras 3 (torch backend, `tests/keras_parity.py`) runs the same code.

The example's first layer ignores its `activation="relu"` (its `call` never applies it) and standardizes
every filter to unit variance, so the softmax saturates from the first batch. There kerasish's built-in
`"categorical_crossentropy"` (computed from the last layer's logits) and Keras's (probabilities clipped
at 1e-7) differ by design (docs/coming-from-keras.md, "Cross-entropy heads"): the loss is given as a
function of the probabilities instead, which both libraries compute alike.

Both ways of the example are compared: a `Conv2D` subclass that overrides `convolution_op(inputs,
kernel)` (Keras's hook: the kernel arrives in Keras's layout), and one whose `call` reads `self.kernel`
(standardized per filter over `axes=[0, 1, 2]`, Keras's `(kh, kw, in, filters)` layout) and calls
`self.convolution_op` itself.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")



@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


class _Example:
    """The example's two layers and its model, written against `keras` (either library)."""

    def __init__(self, keras):
        layers, ops = keras.layers, keras.ops
        keras.backend.clear_session()  # changed: names restart in both libraries

        class StandardizedConv2DWithOverride(layers.Conv2D):
            def convolution_op(self, inputs, kernel):
                mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)  # changed: tf.nn.moments
                return ops.conv(  # changed: tf.nn.conv2d (and no `name=`)
                    inputs,
                    (kernel - mean) / ops.sqrt(var + 1e-10),  # changed: tf.sqrt
                    padding="valid",
                    strides=list(self.strides),
                )

        class StandardizedConv2DWithCall(layers.Conv2D):
            def call(self, inputs):
                mean, var = ops.moments(self.kernel, axes=[0, 1, 2], keepdims=True)  # changed: tf.nn.moments
                result = self.convolution_op(
                    inputs, (self.kernel - mean) / ops.sqrt(var + 1e-10)  # changed: tf.sqrt
                )
                if self.use_bias:
                    result = result + self.bias
                return result

        self.keras = keras
        self.WithOverride, self.WithCall = StandardizedConv2DWithOverride, StandardizedConv2DWithCall

    def model(self, num_classes=10, input_shape=(28, 28, 1), rate=0.5):
        keras, layers = self.keras, self.keras.layers
        model = keras.Sequential(
            [
                keras.layers.Input(shape=input_shape),
                self.WithCall(32, kernel_size=(3, 3), activation="relu"),
                layers.MaxPooling2D(pool_size=(2, 2)),
                self.WithOverride(
                    64, kernel_size=(3, 3), activation="relu"
                ),
                layers.MaxPooling2D(pool_size=(2, 2)),
                layers.Flatten(),
                layers.Dropout(rate),  # changed: 0.5 -> `rate` (0 for the comparison)
                layers.Dense(num_classes, activation="softmax"),
            ]
        )
        return model


def _the_data(keras, fashion_dir, monkeypatch):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))  # changed: the files on disk
    # Model / data parameters
    num_classes = 10

    # the data, split between train and test sets
    (x_train, y_train), (x_test, y_test) = kerasish.datasets.fashion_mnist.load_data()  # changed: offline
    x_train, y_train, x_test, y_test = x_train[:256], y_train[:256], x_test[:64], y_test[:64]  # changed: a slice

    # Scale images to the [0, 1] range
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    print("x_train shape:", x_train.shape)
    print(x_train.shape[0], "train samples")
    print(x_test.shape[0], "test samples")

    # convert class vectors to binary class matrices
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    return (x_train, y_train), (x_test, y_test)


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def _same_layer_pair(k, cls_name, x):
    layers = {}
    for lib in (k, kerasish):
        layers[lib] = getattr(_Example(lib), cls_name)(8, kernel_size=(3, 3), activation="relu")
    layers[k](x)
    layers[kerasish].build(x.shape)
    layers[kerasish].set_weights(layers[k].get_weights())
    return layers


def test_the_convolution_op_override_standardizes_as_keras():
    k = keras_module()
    x = np.random.default_rng(0).random((2, 12, 12, 3)).astype("float32")
    layers = _same_layer_pair(k, "WithOverride", x)
    ours, theirs = layers[kerasish](x), layers[k](x)
    assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    # The standardized kernel, not the plain one: a plain Conv2D with the same weights differs.
    plain = kerasish.layers.Conv2D(8, kernel_size=(3, 3), activation="relu")
    plain.build(x.shape)
    plain.set_weights(layers[k].get_weights())
    assert not np.allclose(plain(x).detach().numpy(), ours.detach().numpy(), atol=1e-3)


def test_the_call_override_reads_the_kernel_in_keras_layout():
    k = keras_module()
    x = np.random.default_rng(1).random((2, 12, 12, 3)).astype("float32")
    layers = _same_layer_pair(k, "WithCall", x)
    assert tuple(layers[kerasish].kernel.shape) == tuple(layers[k].kernel.shape) == (3, 3, 3, 8)
    assert_close(layers[kerasish](x), layers[k](x), atol=1e-5, rtol=1e-5)
    assert [w.shape for w in layers[kerasish].get_weights()] == [(3, 3, 3, 8), (8,)]


def test_convolution_op_of_a_plain_conv2d_is_keras_conv():
    k = keras_module()
    x = np.random.default_rng(2).random((2, 9, 9, 3)).astype("float32")
    layers = {lib: lib.layers.Conv2D(4, 3, strides=2, padding="same") for lib in (k, kerasish)}
    layers[k](x)
    layers[kerasish].build(x.shape)
    layers[kerasish].set_weights(layers[k].get_weights())
    kernel = layers[k].get_weights()[0]
    assert_close(layers[kerasish].convolution_op(x, kernel), layers[k].convolution_op(x, kernel), atol=1e-5)
    # A built-in Conv2D keeps torch's layout: handing that kernel over names the way out.
    with pytest.raises(ValueError, match=r"received a kernel of shape \(4, 3, 3, 3\), torch's layout .* "
                                         r"expects Keras's layout \(3, 3, 3, 4\)"):
        layers[kerasish].convolution_op(x, layers[kerasish].kernel)


def test_the_model_summary_is_keras_summary():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        model = _Example(lib).model()
        texts[lib] = (_summary(model), model.count_params())
    assert "(StandardizedConv2DWithCall)" in texts[kerasish][0]  # the name wraps onto two lines
    assert texts[kerasish] == texts[k]


def _fit(keras, data, weights):
    (x_train, y_train), (x_test, y_test) = data
    model = _Example(keras).model(rate=0.0)
    model.set_weights(weights)  # changed: Keras's initial weights in both
    batch_size = 128
    epochs = 2  # changed: 5, for speed

    model.compile(
        loss=lambda y_true, y_pred: keras.losses.categorical_crossentropy(y_true, y_pred),  # changed: see below
        optimizer="adam", metrics=["accuracy"]
    )

    history = model.fit(
        x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,
        shuffle=False, verbose=2,  # changed: `epochs` (the example writes 5 again); same batches, one line an epoch
    )
    return model, history


def test_the_model_trains_as_keras(fashion_dir, monkeypatch, capsys):
    k = keras_module()
    data = _the_data(kerasish, fashion_dir, monkeypatch)
    assert capsys.readouterr().out.splitlines() == ["x_train shape: (256, 28, 28, 1)", "256 train samples",
                                                    "64 test samples"]
    weights = _Example(k).model().get_weights()
    runs, printed = {}, {}
    for lib in (k, kerasish):
        runs[lib] = _fit(lib, data, weights)
        printed[lib] = text_and_numbers(capsys.readouterr().out.splitlines())
    (ours, h_ours), (theirs, h_theirs) = runs[kerasish], runs[k]
    assert list(h_ours.history) == list(h_theirs.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4, atol=1e-6)
    assert printed[kerasish][0] == printed[k][0]
    np.testing.assert_allclose(printed[kerasish][1], printed[k][1], rtol=1e-4, atol=1.5e-4)
    # Adam's steps on a loss near 11 amplify rounding: a few weights of 34,826 differ in the fifth digit.
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-4, rtol=1e-3)
    x_test = data[1][0]
    assert_close(ours.predict(x_test, verbose=0), theirs.predict(x_test, verbose=0), atol=1e-5, rtol=1e-4)


def test_a_conv3d_subclass_convolution_op_runs_as_in_keras():
    # Keras's Conv3D routes its call through convolution_op too: the same weight-standardized subclass.
    k = keras_module()
    x = np.random.default_rng(3).random((2, 6, 6, 6, 2)).astype("float32")
    layers = {}
    for lib in (k, kerasish):
        ops = lib.ops

        class StandardizedConv3D(lib.layers.Conv3D):
            def convolution_op(self, inputs, kernel):
                mean, var = ops.moments(kernel, axes=[0, 1, 2, 3], keepdims=True)
                return ops.conv(inputs, (kernel - mean) / ops.sqrt(var + 1e-10), padding="valid",
                                strides=list(self.strides), dilation_rate=self.dilation_rate)

        layers[lib] = StandardizedConv3D(4, kernel_size=3)
    layers[k](x)
    layers[kerasish].build(x.shape)
    layers[kerasish].set_weights(layers[k].get_weights())
    assert tuple(layers[kerasish].kernel.shape) == (3, 3, 3, 2, 4)
    assert_close(layers[kerasish](x), layers[k](x), atol=1e-5, rtol=1e-5)
