"""Keras's guide "The Sequential model" (keras-io `guides/sequential_model.py`), run on kerasish.

Each test is one section of the guide. The guide's code is kept as written; the only changes are
the imports (`import kerasish as keras`, `from kerasish import layers, ops`) and the lines marked
`# changed:` (`tf.ones` becomes `ops.ones`: TensorFlow is not here). Keras 3 on its torch backend
runs the same code as the oracle (`tests/keras_parity.py`): outputs, `summary()` text and weights
are compared with what Keras gives.
"""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, keras_module


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def _fresh(lib):
    lib.backend.clear_session()  # names restart at 'dense', 'sequential' ... in both libraries
    return lib


def _summary(model):
    """The summary text; Keras's `print_fn` receives its captured console text, which ends in a
    newline that kerasish's does not have (the only difference, and not a visible one)."""
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def test_when_to_use_a_sequential_model():
    k = keras_module()
    outs = {}
    for lib in (k, kerasish):
        keras, layers, ops = _fresh(lib), lib.layers, lib.ops
        # Define Sequential model with 3 layers
        model = keras.Sequential(
            [
                layers.Dense(2, activation="relu", name="layer1"),
                layers.Dense(3, activation="relu", name="layer2"),
                layers.Dense(4, name="layer3"),
            ]
        )
        # Call model on a test input
        x = ops.ones((3, 3))  # changed: tf.ones
        y = model(x)
        if lib is kerasish:
            model.set_weights(outs[k][0].get_weights())
            y = model(x)
        # Create 3 layers
        layer1 = layers.Dense(2, activation="relu", name="layer1")
        layer2 = layers.Dense(3, activation="relu", name="layer2")
        layer3 = layers.Dense(4, name="layer3")
        # Call layers on a test input
        x = ops.ones((3, 3))  # changed: tf.ones
        y2 = layer3(layer2(layer1(x)))
        for layer, source in zip((layer1, layer2, layer3), model.layers):
            layer.set_weights(source.get_weights())
        y2 = layer3(layer2(layer1(x)))
        outs[lib] = (model, y, y2)
    assert tuple(outs[kerasish][1].shape) == (3, 4)
    assert_close(outs[kerasish][1], outs[k][1])
    assert_close(outs[kerasish][2], outs[kerasish][1])  # "is equivalent to this function"


def test_creating_a_sequential_model_add_pop_and_name():
    k = keras_module()
    seen = {}
    for lib in (k, kerasish):
        keras, layers = _fresh(lib), lib.layers
        model = keras.Sequential(
            [
                layers.Dense(2, activation="relu"),
                layers.Dense(3, activation="relu"),
                layers.Dense(4),
            ]
        )
        names = [layer.name for layer in model.layers]
        model = keras.Sequential()
        model.add(layers.Dense(2, activation="relu"))
        model.add(layers.Dense(3, activation="relu"))
        model.add(layers.Dense(4))
        model.pop()
        popped = len(model.layers)  # 2
        model = keras.Sequential(name="my_sequential")
        model.add(layers.Dense(2, activation="relu", name="layer1"))
        model.add(layers.Dense(3, activation="relu", name="layer2"))
        model.add(layers.Dense(4, name="layer3"))
        seen[lib] = (names, popped, model.name, [layer.name for layer in model.layers])
    assert seen[kerasish] == seen[k]
    assert seen[kerasish][1] == 2


def test_specifying_the_input_shape_in_advance():
    k = keras_module()
    seen = {}
    for lib in (k, kerasish):
        keras, layers, ops = _fresh(lib), lib.layers, lib.ops
        layer = layers.Dense(3)
        before = list(layer.weights)  # Empty
        x = ops.ones((1, 4))  # changed: tf.ones
        y = layer(x)
        after = [tuple(w.shape) for w in layer.weights]  # (4, 3) and (3,)
        model = keras.Sequential(
            [
                layers.Dense(2, activation="relu"),
                layers.Dense(3, activation="relu"),
                layers.Dense(4),
            ]
        )  # No weights at this stage!
        unbuilt = _summary(model)
        x = ops.ones((1, 4))  # changed: tf.ones
        y = model(x)
        n_weights = len(model.weights)  # 6
        model = keras.Sequential()
        model.add(keras.Input(shape=(4,)))
        model.add(layers.Dense(2, activation="relu"))
        with_input = _summary(model)
        listed = [type(layer).__name__ for layer in model.layers]  # the Input is not a layer
        model = keras.Sequential()
        model.add(layers.Dense(2, activation="relu", input_shape=(4,)))
        with_input_shape = _summary(model)
        seen[lib] = (before, after, tuple(y.shape), n_weights, unbuilt, with_input, listed, with_input_shape)
    assert seen[kerasish][0] == [] and seen[kerasish][1] == [(4, 3), (3,)] and seen[kerasish][3] == 6
    assert "0 (unbuilt)" in seen[kerasish][4]
    assert seen[kerasish][6] == ["Dense"]
    assert seen[kerasish] == seen[k]


def test_summary_after_the_first_call_shows_the_batch_size_keras_shows():
    k = keras_module()
    texts = []
    for lib in (k, kerasish):
        keras, layers, ops = _fresh(lib), lib.layers, lib.ops
        model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"),
                                  layers.Dense(4)])
        model(ops.ones((1, 4)))  # changed: tf.ones
        texts.append(_summary(model))
    assert texts[1] == texts[0]


def test_a_common_debugging_workflow_add_and_summary():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        keras, layers = _fresh(lib), lib.layers
        out = []
        model = keras.Sequential()
        model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
        model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.MaxPooling2D(3))
        out.append(_summary(model))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.MaxPooling2D(3))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.Conv2D(32, 3, activation="relu"))
        model.add(layers.MaxPooling2D(2))
        out.append(_summary(model))
        model.add(layers.GlobalMaxPooling2D())
        model.add(layers.Dense(10))
        out.append(_summary(model))
        texts[lib] = out
    assert "(None, 40, 40, 32)" in texts[kerasish][0] and "(None, 4, 4, 32)" in texts[kerasish][1]
    assert "│ global_max_pooling2d" in texts[kerasish][2]  # the long name wraps as in Keras
    assert texts[kerasish] == texts[k]


def _feature_extractors(lib):
    keras, layers = _fresh(lib), lib.layers
    initial_model = keras.Sequential(
        [
            keras.Input(shape=(250, 250, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    return initial_model, feature_extractor


def test_feature_extraction_with_a_sequential_model():
    k = keras_module()
    theirs_model, theirs = _feature_extractors(k)
    ours_model, ours = _feature_extractors(kerasish)
    ours_model.set_weights(theirs_model.get_weights())
    x = np.ones((1, 250, 250, 3), "float32")  # changed: tf.ones
    features, expected = ours(x), theirs(x)
    assert [tuple(f.shape) for f in features] == [(1, 123, 123, 32), (1, 121, 121, 32), (1, 119, 119, 32)]
    assert_close(features, expected, atol=1e-4)
    # A chain of layers: Keras draws it without the "Connected to" column, and so does kerasish.
    assert "Connected to" not in _summary(ours)
    assert _summary(ours).replace(ours.name, "?") == _summary(theirs).replace(theirs.name, "?")


def test_feature_extraction_from_one_layer():
    k = keras_module()
    out = {}
    for lib in (k, kerasish):
        keras, layers, ops = _fresh(lib), lib.layers, lib.ops
        initial_model = keras.Sequential(
            [
                keras.Input(shape=(250, 250, 3)),
                layers.Conv2D(32, 5, strides=2, activation="relu"),
                layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
                layers.Conv2D(32, 3, activation="relu"),
            ]
        )
        feature_extractor = keras.Model(
            inputs=initial_model.inputs,
            outputs=initial_model.get_layer(name="my_intermediate_layer").output,
        )
        if lib is kerasish:
            initial_model.set_weights(out[k][0].get_weights())
        # Call feature extractor on test input.
        x = ops.ones((1, 250, 250, 3))  # changed: tf.ones
        features = feature_extractor(x)
        out[lib] = (initial_model, features)
    assert tuple(out[kerasish][1].shape) == (1, 121, 121, 32)
    assert_close(out[kerasish][1], out[k][1], atol=1e-4)


def test_transfer_learning_freezes_all_layers_but_the_last():
    k = keras_module()
    seen = {}
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 784)).astype("float32"), rng.integers(0, 10, 64)  # changed: data for fit(...)
    for lib in (k, kerasish):
        keras, layers = _fresh(lib), lib.layers
        model = keras.Sequential([
            keras.Input(shape=(784,)),  # changed: (784,) for (784): Keras 3 wants a tuple too
            layers.Dense(32, activation='relu'),
            layers.Dense(32, activation='relu'),
            layers.Dense(32, activation='relu'),
            layers.Dense(10),
        ])
        if lib is kerasish:
            model.set_weights(seen[k][0])
        start = [np.array(w) for w in model.get_weights()]
        # Freeze all layers except the last one.
        for layer in model.layers[:-1]:
            layer.trainable = False
        # Recompile and train (this will only update the weights of the last layer).
        model.compile(optimizer=lib.optimizers.SGD(0.1),  # changed: the elided compile(...)/fit(...) arguments
                      loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
        end = [np.asarray(w) for w in model.get_weights()]
        totals = [line for line in _summary(model).splitlines() if "params:" in line]
        seen[lib] = (start, end, totals, len(model.trainable_weights), len(model.non_trainable_weights))
    start, end, totals, n_trainable, n_frozen = seen[kerasish]
    assert (n_trainable, n_frozen) == (2, 6)
    assert all(np.array_equal(a, b) for a, b in zip(start[:6], end[:6]))  # frozen layers did not move
    assert not np.allclose(start[6], end[6])
    assert_close(end, seen[k][1], atol=1e-5)
    assert totals == seen[k][2]


def test_transfer_learning_stacks_a_frozen_base_model():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        keras, layers = _fresh(lib), lib.layers
        # changed: a small functional base in place of Xception(weights='imagenet') (no download here)
        inputs = keras.Input(shape=(32, 32, 3))
        base_model = keras.Model(inputs, layers.GlobalAveragePooling2D()(layers.Conv2D(8, 3)(inputs)),
                                 name="base")
        # Freeze the base model
        base_model.trainable = False
        # Use a Sequential model to add a trainable classifier on top
        model = keras.Sequential([
            base_model,
            layers.Dense(1000),
        ])
        model.build((None, 32, 32, 3))  # changed: built for summary(), which Xception's fixed shape gave
        texts[lib] = (_summary(model), len(model.trainable_weights))
    assert texts[kerasish][1] == 2
    assert "Non-trainable params: 224" in texts[kerasish][0]
    assert texts[kerasish] == texts[k]
