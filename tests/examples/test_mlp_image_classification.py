"""keras-io's example "Image classification with modern MLP models"
(`examples/vision/mlp_image_classification.py`, the Keras 3 text), its MLP-Mixer part run on kerasish.

`examples/keras_recipes/sklearn_metric_callbacks.py` was the first choice; it writes its metric
with `tf.summary` (TensorFlow), so this example stands in. The example's code is kept as written;
the only changes are the imports (`import kerasish as keras`) and the lines marked `# changed:`:
seeded synthetic images and labels with CIFAR-100's shapes and dtypes stand in for the download,
the sizes are shrunk (16-pixel resized images, 4-pixel patches, 32 hidden units, 2 mixer blocks, 6
epochs, patiences of 1 and 2) and the dropout rate is 0 (the two libraries' dropout masks
differ); Keras's initial weights are copied in, both libraries are seeded alike and `shuffle=False`
is passed. The augmentation (Normalization adapted on the data, Resizing, RandomFlip, RandomZoom)
stays on: seeded alike, kerasish's random layers draw Keras's flips and zooms. Keras 3 (torch
backend, `tests/keras_parity.py`) runs the same code: the custom `Patches` layer
(`keras.ops.image.extract_patches`), the `MLPMixerLayer` (`keras.ops.transpose`, gelu Dense layers,
a shared LayerNormalization) under AdamW, ReduceLROnPlateau and EarlyStopping(restore_best_weights);
the summary, the History, the printed lines and the test scores are compared.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.examples.printed_lines import text_and_numbers
from tests.keras_parity import assert_close, keras_module, to_numpy

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

num_classes = 100
input_shape = (32, 32, 3)

weight_decay = 0.0001
batch_size = 128
num_epochs = 6  # changed: 50, for speed
dropout_rate = 0.2
image_size = 16  # changed: 64, for speed
patch_size = 4  # changed: 8, for speed
num_patches = (image_size // patch_size) ** 2  # Size of the data array.
embedding_dim = 32  # changed: 256, for speed
num_blocks = 2  # changed: 4, for speed
learning_rate = 0.005


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def load_data(seed=0):  # changed: synthetic arrays in place of keras.datasets.cifar100.load_data()
    rng = np.random.default_rng(seed)

    def split(n):
        # Noise and labels that have nothing to do with it: the validation loss soon rises, so that
        # ReduceLROnPlateau and EarlyStopping(restore_best_weights) act within a few epochs.
        x = rng.integers(0, 256, size=(n,) + input_shape).astype("uint8")
        y = rng.integers(0, num_classes, size=(n, 1))
        return x, y

    return split(320), split(64)


class _Example:
    """The example's layers, written against `keras` (either library)."""

    def __init__(self, keras):
        layers = keras.layers

        class Patches(layers.Layer):
            def __init__(self, patch_size, **kwargs):
                super().__init__(**kwargs)
                self.patch_size = patch_size

            def call(self, x):
                patches = keras.ops.image.extract_patches(x, self.patch_size)
                batch_size = keras.ops.shape(patches)[0]
                num_patches = keras.ops.shape(patches)[1] * keras.ops.shape(patches)[2]
                patch_dim = keras.ops.shape(patches)[3]
                out = keras.ops.reshape(patches, (batch_size, num_patches, patch_dim))
                return out

        class MLPMixerLayer(layers.Layer):
            def __init__(
                self, num_patches, hidden_units, dropout_rate, *args, **kwargs
            ):
                super().__init__(*args, **kwargs)

                self.mlp1 = keras.Sequential(
                    [
                        layers.Dense(units=num_patches, activation="gelu"),
                        layers.Dense(units=num_patches),
                        layers.Dropout(rate=dropout_rate),
                    ]
                )
                self.mlp2 = keras.Sequential(
                    [
                        layers.Dense(units=num_patches, activation="gelu"),
                        layers.Dense(units=hidden_units),
                        layers.Dropout(rate=dropout_rate),
                    ]
                )
                self.normalize = layers.LayerNormalization(epsilon=1e-6)

            def build(self, input_shape):
                return super().build(input_shape)

            def call(self, inputs):
                # Apply layer normalization.
                x = self.normalize(inputs)
                # Transpose inputs from [num_batches, num_patches, hidden_units] to [num_batches, hidden_units, num_patches].
                x_channels = keras.ops.transpose(x, axes=(0, 2, 1))
                # Apply mlp1 on each channel independently.
                mlp1_outputs = self.mlp1(x_channels)
                # Transpose mlp1_outputs from [num_batches, hidden_dim, num_patches] to [num_batches, num_patches, hidden_units].
                mlp1_outputs = keras.ops.transpose(mlp1_outputs, axes=(0, 2, 1))
                # Add skip connection.
                x = mlp1_outputs + inputs
                # Apply layer normalization.
                x_patches = self.normalize(x)
                # Apply mlp2 on each patch independtenly.
                mlp2_outputs = self.mlp2(x_patches)
                # Add skip connection.
                x = x + mlp2_outputs
                return x

        self.Patches, self.MLPMixerLayer = Patches, MLPMixerLayer


def _data_augmentation(keras, x_train, seed=1):  # changed: keras, x_train, seed
    # Unseeded, the two random layers take their seeds from Python's `random` when they are made,
    # as Keras's do; but Keras's unseeded initializers and Dropout layers take one there too, and
    # kerasish's do not, so after the mixer blocks are made the two libraries' seeds differ (see
    # test_unseeded_random_layers_made_after_dense_layers_draw_as_keras). Seeded, they draw alike.
    layers = keras.layers
    data_augmentation = keras.Sequential(
        [
            layers.Normalization(),
            layers.Resizing(image_size, image_size),
            layers.RandomFlip("horizontal", seed=seed),  # changed: seed (see _data_augmentation's note)
            layers.RandomZoom(height_factor=0.2, width_factor=0.2, seed=seed),  # changed: seed
        ],
        name="data_augmentation",
    )
    # Compute the mean and the variance of the training data for normalization.
    data_augmentation.layers[0].adapt(x_train)
    return data_augmentation


def build_classifier(keras, blocks, data_augmentation, positional_encoding=False, rate=dropout_rate):  # changed: keras,
    # the augmentation and the rate passed in
    layers = keras.layers
    inputs = layers.Input(shape=input_shape)
    # Augment data.
    augmented = data_augmentation(inputs)
    # Create patches.
    patches = _Example(keras).Patches(patch_size)(augmented)
    # Encode patches to generate a [batch_size, num_patches, embedding_dim] tensor.
    x = layers.Dense(units=embedding_dim)(patches)
    # Process x using the module blocks.
    x = blocks(x)
    # Apply global average pooling to generate a [batch_size, embedding_dim] representation tensor.
    representation = layers.GlobalAveragePooling1D()(x)
    # Apply dropout.
    representation = layers.Dropout(rate=rate)(representation)  # changed: dropout_rate -> rate
    # Compute logits outputs.
    logits = layers.Dense(num_classes)(representation)
    # Create the Keras model.
    return keras.Model(inputs=inputs, outputs=logits)


def _mlpmixer_classifier(keras, x_train, rate=dropout_rate):
    keras.backend.clear_session()  # changed: names restart in both libraries
    keras.utils.set_random_seed(1337)  # changed: the augmentation's draws alike in both libraries
    mlpmixer_blocks = keras.Sequential(
        [
            _Example(keras).MLPMixerLayer(num_patches, embedding_dim, rate)  # changed: dropout_rate -> rate
            for _ in range(num_blocks)
        ]
    )
    return build_classifier(keras, mlpmixer_blocks, _data_augmentation(keras, x_train), rate=rate)


def run_experiment(keras, model, data):  # changed: keras and the data passed in
    (x_train, y_train), (x_test, y_test) = data
    # Create Adam optimizer with weight decay.
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
    )
    # Compile the model.
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="acc"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5-acc"),
        ],
    )
    # Create a learning rate scheduler callback.
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=1  # changed: patience 5
    )
    # Create an early stopping callback.
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=2, restore_best_weights=True  # changed: patience 10
    )
    # Fit the model.
    history = model.fit(
        x=x_train,
        y=y_train,
        batch_size=batch_size,
        epochs=num_epochs,
        validation_split=0.1,
        callbacks=[early_stopping, reduce_lr],
        shuffle=False,  # changed: the same batches in both libraries
        verbose=2,  # changed: 'auto'; one line an epoch, without the progress bar's timings
    )

    _, accuracy, top_5_accuracy = model.evaluate(x_test, y_test, verbose=2)  # changed: verbose=2
    print(f"Test accuracy: {round(accuracy * 100, 2)}%")
    print(f"Test top 5 accuracy: {round(top_5_accuracy * 100, 2)}%")

    # Return history to plot learning curves.
    return history


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_the_printed_data_and_hyperparameters_are_keras_lines(capsys):
    (x_train, y_train), (x_test, y_test) = load_data()
    print(f"x_train shape: {x_train.shape} - y_train shape: {y_train.shape}")
    print(f"x_test shape: {x_test.shape} - y_test shape: {y_test.shape}")
    print(f"Image size: {image_size} X {image_size} = {image_size ** 2}")
    print(f"Patch size: {patch_size} X {patch_size} = {patch_size ** 2} ")
    print(f"Patches per image: {num_patches}")
    print(f"Elements per patch (3 channels): {(patch_size ** 2) * 3}")
    assert capsys.readouterr().out.splitlines() == [
        "x_train shape: (320, 32, 32, 3) - y_train shape: (320, 1)",
        "x_test shape: (64, 32, 32, 3) - y_test shape: (64, 1)",
        "Image size: 16 X 16 = 256",
        "Patch size: 4 X 4 = 16 ",
        "Patches per image: 16",
        "Elements per patch (3 channels): 48",
    ]
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64  # CIFAR-100's, as load_data gives them


def test_the_classifier_summary_is_keras_summary():
    k = keras_module()
    x_train = load_data()[0][0]
    texts = {}
    for lib in (k, kerasish):
        model = _mlpmixer_classifier(lib, x_train)
        texts[lib] = (_summary(model), model.count_params())
    assert "(None, 16, 48)" in texts[kerasish][0]  # Patches: 16 patches of 4 x 4 x 3
    assert texts[kerasish] == texts[k]


def test_the_custom_layers_give_keras_outputs():
    k = keras_module()
    x = load_data()[0][0][:4].astype("float32") / 255
    outs = {}
    for lib in (k, kerasish):
        lib.backend.clear_session()
        ex = _Example(lib)
        patches = ex.Patches(patch_size)(x)
        mixer = ex.MLPMixerLayer(patches.shape[1], 48, 0.0)
        outs[lib] = (patches, mixer, mixer(patches))
    ours, theirs = outs[kerasish], outs[k]
    assert tuple(ours[0].shape) == (4, 64, 48)  # 8 x 8 patches of the 32-pixel images
    assert_close(ours[0], theirs[0], atol=0, rtol=0)
    ours[1].set_weights(theirs[1].get_weights())
    assert [w.path for w in ours[1].weights] == [w.path for w in theirs[1].weights]
    assert_close(ours[1](ours[0]), theirs[2], atol=1e-5)


def test_the_augmentation_draws_keras_flips_and_zooms():
    # Seeded alike, the random layers draw the same flips and zooms as Keras's, call after call.
    # RandomZoom with a width_factor (and RandomTranslation) drew the second factor from the
    # first one's stream; Keras seeds each draw afresh from the layer's seed generator.
    k = keras_module()
    x_train = load_data()[0][0]
    outs = {}
    for lib in (k, kerasish):
        lib.utils.set_random_seed(7)  # before the layers are made: an unseeded layer takes its seed then
        augmentation = _data_augmentation(lib, x_train)
        translate = lib.layers.RandomTranslation(0.2, 0.3, seed=3)
        outs[lib] = [to_numpy(augmentation(x_train[:8], training=True)) for _ in range(2)]
        outs[lib] += [to_numpy(translate(outs[lib][0], training=True))]
    assert_close(outs[kerasish], outs[k], atol=1e-5)
    assert np.abs(outs[kerasish][0] - outs[kerasish][1]).max() > 0.1  # a new draw each call


def test_train_and_evaluate_as_keras(capsys):
    k = keras_module()
    data = load_data()
    weights = _mlpmixer_classifier(k, data[0][0], rate=0.0).get_weights()
    capsys.readouterr()
    runs = {}
    for lib in (k, kerasish):
        model = _mlpmixer_classifier(lib, data[0][0], rate=0.0)  # changed: no dropout, to compare the numbers
        model.set_weights(weights)  # changed: Keras's initial weights in both
        history = run_experiment(lib, model, data)
        runs[lib] = (history, model, capsys.readouterr().out.splitlines())
    (h_ours, m_ours, out_ours), (h_theirs, m_theirs, out_theirs) = runs[kerasish], runs[k]
    assert list(h_ours.history) == list(h_theirs.history) == [
        "acc", "loss", "top5-acc", "val_acc", "val_loss", "val_top5-acc", "learning_rate"]
    assert h_ours.epoch == h_theirs.epoch and len(h_ours.epoch) < num_epochs  # EarlyStopping stopped both
    assert h_ours.history["learning_rate"][-1] < h_ours.history["learning_rate"][0]  # and the rate was cut
    for key in h_ours.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-3, atol=1e-5)
    text_ours, numbers_ours = text_and_numbers(out_ours)
    text_theirs, numbers_theirs = text_and_numbers(out_theirs)
    assert text_ours == text_theirs
    # ReduceLROnPlateau's learning_rate is on the epoch's line, after the logged metrics, as in Keras.
    assert text_ours[1] == ("#/# - <time> - <time>/step - acc: # - loss: # - top#-acc: # - val_acc: # - val_loss: # - "
                            "val_top#-acc: # - learning_rate: #")
    assert text_ours[-2:] == ["Test accuracy: #%", "Test top # accuracy: #%"]
    np.testing.assert_allclose(numbers_ours, numbers_theirs, rtol=1e-3, atol=1.5e-4)
    x_test = data[1][0]  # the restored best weights predict alike
    assert_close(m_ours.predict(x_test, verbose=0), m_theirs.predict(x_test, verbose=0), atol=1e-3, rtol=1e-3)


@pytest.mark.xfail(strict=True, reason=(
    "Keras's unseeded random initializers (Dense's glorot_uniform kernel) and Dropout layers each take a "
    "seed from Python's `random` when they are made (keras.random.make_default_seed); kerasish's take "
    "none (they draw from torch's generator), so an unseeded RandomFlip made after a Dense layer gets "
    "another seed than in Keras after the same set_random_seed"))
def test_unseeded_random_layers_made_after_dense_layers_draw_as_keras():
    k = keras_module()
    x = load_data()[0][0][:8].astype("float32")
    outs = {}
    for lib in (k, kerasish):
        lib.utils.set_random_seed(0)
        lib.layers.Dense(4)
        outs[lib] = to_numpy(lib.layers.RandomFlip("horizontal")(x, training=True))
    assert_close(outs[kerasish], outs[k], atol=0, rtol=0)


def test_unseeded_random_layers_draw_as_keras_after_the_same_seed():
    # What holds today: made first, after the same set_random_seed, they draw Keras's flips.
    k = keras_module()
    x = load_data()[0][0][:8].astype("float32")
    outs = {}
    for lib in (k, kerasish):
        lib.utils.set_random_seed(0)
        layer = lib.layers.RandomFlip("horizontal")
        outs[lib] = [to_numpy(layer(x, training=True)) for _ in range(3)]
    assert_close(outs[kerasish], outs[k], atol=0, rtol=0)
    assert not all(np.array_equal(a, x) for a in outs[kerasish])  # something was flipped
