"""keras-io's "Image classification from scratch" and "Text classification from scratch" flows,
on folders the tests generate, with only the imports changed (`keras` -> `kerasish`, `tf.data`
calls -> the dataset's own `map`/`prefetch`, `tf.expand_dims` -> `keras.ops.expand_dims`).
The models are the tutorials' with smaller widths so that they train in seconds on a CPU."""

import os

import numpy as np
import pytest
import torch

import kerasish as keras
from kerasish import layers

PIL = pytest.importorskip("PIL.Image")


def _write_images(root, n_per_class=64, size=24):
    """Two classes a small convnet can tell apart: bright top vs bright bottom (a horizontal flip
    and a small rotation, the tutorial's augmentation, keep the class)."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(["Cat", "Dog"]):
        folder = root / "PetImages" / name
        folder.mkdir(parents=True)
        for i in range(n_per_class):
            img = rng.integers(0, 60, (size, size, 3)).astype("uint8")
            half = slice(0, size // 2) if label == 0 else slice(size // 2, size)
            img[half, :] += 150
            ext = "jpg" if i % 2 else "png"
            PIL.fromarray(img).save(folder / f"{i}.{ext}")
    return root / "PetImages"


def make_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x
    for size in [16, 32]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    x = layers.GlobalAveragePooling2D()(x)
    if num_classes == 2:
        activation, units = "sigmoid", 1
    else:
        activation, units = "softmax", num_classes
    x = layers.Dropout(0.25)(x)
    outputs = layers.Dense(units, activation=activation)(x)
    return keras.Model(inputs, outputs)


def test_image_classification_from_scratch_flow(tmp_path, capsys):
    keras.utils.set_random_seed(1337)
    folder = _write_images(tmp_path)
    image_size = (24, 24)
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        str(folder), validation_split=0.2, subset="both", seed=1337, image_size=image_size, batch_size=8,
    )
    printed = capsys.readouterr().out
    assert "Found 128 files belonging to 2 classes." in printed
    assert train_ds.class_names == ["Cat", "Dog"]

    data_augmentation = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    for images, _ in train_ds.take(1):
        augmented = data_augmentation(images, training=True)
        assert augmented.shape == images.shape and not torch.equal(augmented, images)

    # Option 1 of the tutorial (augmentation inside the model) ...
    model = make_model(input_shape=image_size + (3,), num_classes=2)
    inputs = keras.Input(shape=image_size + (3,))
    augmented_model = keras.Model(inputs, model(data_augmentation(inputs)))
    # ... and option 2 (on the dataset) both train.
    train_mapped = train_ds.map(lambda img, label: (data_augmentation(img, training=True), label)).prefetch(4)

    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train_mapped, epochs=12, validation_data=val_ds, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert max(history.history["val_accuracy"]) > 0.8
    loss, acc = model.evaluate(val_ds, verbose=0)
    assert acc > 0.7
    augmented_model.compile(optimizer="adam", loss="binary_crossentropy")
    augmented_model.fit(train_ds, epochs=1, verbose=0)

    img = keras.utils.load_img(str(folder / "Cat" / "1.jpg"), target_size=image_size)
    img_array = keras.utils.img_to_array(img)
    img_array = keras.ops.expand_dims(img_array, 0)
    predictions = model.predict(img_array, verbose=0)
    score = float(predictions[0][0])
    assert 0.0 <= score <= 1.0
    print(f"This image is {100 * (1 - score):.2f}% cat and {100 * score:.2f}% dog.")


def _write_texts(root, n_per_class=40):
    rng = np.random.default_rng(0)
    good = ["great", "wonderful", "loved", "superb", "fun"]
    bad = ["awful", "boring", "hated", "dull", "terrible"]
    filler = ["the", "movie", "was", "a", "plot", "and", "actors", "really"]
    for label, words in (("neg", bad), ("pos", good)):
        folder = root / "aclImdb" / "train" / label
        folder.mkdir(parents=True)
        for i in range(n_per_class):
            tokens = list(rng.choice(filler, 8)) + list(rng.choice(words, 2))
            rng.shuffle(tokens)
            (folder / f"{i}.txt").write_text(" ".join(tokens) + " <br />", encoding="utf-8")
    return root / "aclImdb" / "train"


def test_text_classification_from_scratch_flow(tmp_path):
    keras.utils.set_random_seed(1337)
    folder = _write_texts(tmp_path)
    raw_train_ds = keras.utils.text_dataset_from_directory(
        str(folder), batch_size=16, validation_split=0.25, subset="training", seed=1337, verbose=False)
    raw_val_ds = keras.utils.text_dataset_from_directory(
        str(folder), batch_size=16, validation_split=0.25, subset="validation", seed=1337, verbose=False)
    assert raw_train_ds.class_names == ["neg", "pos"]
    vectorize_layer = layers.TextVectorization(max_tokens=100, output_mode="int", output_sequence_length=12)
    vectorize_layer.adapt(raw_train_ds.map(lambda x, y: x))

    def vectorize_text(text, label):
        return vectorize_layer(text), label

    train_ds = raw_train_ds.map(vectorize_text)
    val_ds = raw_val_ds.map(vectorize_text)
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(100, 16)(inputs)
    x = layers.Dropout(0.2)(x)
    x = layers.Conv1D(16, 3, padding="valid", activation="relu", strides=1)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(16, activation="relu")(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    model = keras.Model(inputs, predictions)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(train_ds, validation_data=val_ds, epochs=15, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert max(history.history["val_accuracy"]) > 0.8

    # The end-to-end model takes raw strings, as in the tutorial.
    end_to_end = keras.Sequential([vectorize_layer, model])
    end_to_end.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    loss, acc = end_to_end.evaluate(raw_val_ds, verbose=0)
    assert acc > 0.7
