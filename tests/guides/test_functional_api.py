"""Keras's guide "The Functional API" (keras-io `guides/functional_api.py`), run on kerasish.

Each test is one section of the guide. The guide's code is kept as written; the only changes are
the imports (`import kerasish as keras`, `from kerasish import layers, ops`) and the lines marked
`# changed:`: synthetic arrays of the guide's shapes stand in for MNIST and CIFAR-10 (no download
here), sizes and epochs are smaller, TensorFlow calls become `ops` calls, and `shuffle=False` lets
the History be compared. Keras 3 on its torch backend runs the same code as the oracle
(`tests/keras_parity.py`): summaries, outputs and History values from the same weights.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, keras_module


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # both summaries at their default width, whatever the terminal


def _fresh(lib):
    lib.backend.clear_session()  # names restart at 'dense', 'functional' ... in both libraries
    return lib


def _summary(model):
    """The summary text (Keras's `print_fn` text also ends in a newline; kerasish's does not)."""
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


def _mnist_model(lib):
    keras, layers = _fresh(lib), lib.layers
    inputs = keras.Input(shape=(784,))
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return inputs, keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def test_introduction_inputs_and_summary():
    k = keras_module()
    (_, theirs), (inputs, model) = _mnist_model(k), _mnist_model(kerasish)
    img_inputs = kerasish.Input(shape=(32, 32, 3))
    assert inputs.shape == (None, 784) and str(inputs.dtype) == "float32"
    assert img_inputs.shape == (None, 32, 32, 3)
    # A chain of layers: Keras prints it without the "Connected to" column.
    text = _summary(model)
    assert "Connected to" not in text and "│ dense (Dense)" in text and "50,240" in text
    assert text == _summary(theirs)


def test_plot_model_draws_without_pydot(tmp_path):
    _, model = _mnist_model(kerasish)
    keras = kerasish
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # changed: files under tmp_path
        keras.utils.plot_model(model, str(tmp_path / "my_first_model.png"))
        keras.utils.plot_model(model, str(tmp_path / "my_first_model_with_shape_info.png"), show_shapes=True)
    # Documented (plot_model's docstring): without pydot and Graphviz kerasish warns and draws with
    # matplotlib, where Keras prints an install hint and writes nothing.
    if importlib.util.find_spec("pydot") is None:
        assert any("drawn with matplotlib" in str(w.message) for w in caught)
    for name in ("my_first_model.png", "my_first_model_with_shape_info.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_evaluation_and_inference_match_keras():
    k = keras_module()
    rng = np.random.default_rng(0)
    # changed: synthetic arrays of MNIST's shapes (60000 -> 600 and 10000 -> 100 samples)
    x_train, y_train = rng.integers(0, 256, (600, 28, 28)).astype("uint8"), rng.integers(0, 10, 600)
    x_test, y_test = rng.integers(0, 256, (100, 28, 28)).astype("uint8"), rng.integers(0, 10, 100)
    x_train = x_train.reshape(600, 784).astype("float32") / 255  # changed: 600 for 60000
    x_test = x_test.reshape(100, 784).astype("float32") / 255  # changed: 100 for 10000
    results = {}
    for lib in (k, kerasish):
        keras = lib
        _, model = _mnist_model(lib)
        if lib is kerasish:
            model.set_weights(results[k][2])
        weights = model.get_weights()
        model.compile(
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            optimizer=keras.optimizers.RMSprop(),
            metrics=["accuracy"],
        )
        history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.2,
                            shuffle=False, verbose=0)  # changed: shuffle=False, verbose=0
        test_scores = model.evaluate(x_test, y_test, verbose=0)  # changed: verbose=0
        results[lib] = (history.history, test_scores, weights)
    ours, theirs = results[kerasish], results[k]
    assert list(ours[0]) == list(theirs[0]) == ["accuracy", "loss", "val_accuracy", "val_loss"]  # Keras sorts
    for key in theirs[0]:
        np.testing.assert_allclose(ours[0][key], theirs[0][key], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4, atol=1e-5)


def test_save_and_serialize(tmp_path):
    _, model = _mnist_model(kerasish)
    keras = kerasish
    x = np.random.default_rng(0).random((4, 784)).astype("float32")
    before = model.predict(x, verbose=0)
    # The guide's suffix-less path is refused, as Keras 3 refuses it, with the way out.
    with pytest.raises(ValueError, match=r"must end in one of '\.keras'.*received filepath=.*path_to_my_model"):
        model.save(str(tmp_path / "path_to_my_model"))
    model.save(str(tmp_path / "path_to_my_model.keras"))  # changed: the .keras suffix Keras 3 requires
    del model
    # Recreate the exact same model purely from the file:
    model = keras.models.load_model(str(tmp_path / "path_to_my_model.keras"))
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)


def _encoder(lib, input_name):
    keras, layers = lib, lib.layers
    encoder_input = keras.Input(shape=(28, 28, 1), name=input_name)
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    encoder_output = layers.GlobalMaxPooling2D()(x)
    return encoder_input, encoder_output


def _decoder_layers(lib, x):
    layers = lib.layers
    x = layers.Reshape((4, 4, 1))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    return layers.Conv2DTranspose(1, 3, activation="relu")(x)


def test_same_graph_of_layers_defines_several_models():
    k = keras_module()
    texts = {}
    for lib in (k, kerasish):
        keras = _fresh(lib)
        encoder_input, encoder_output = _encoder(lib, "img")
        encoder = keras.Model(encoder_input, encoder_output, name="encoder")
        decoder_output = _decoder_layers(lib, encoder_output)
        autoencoder = keras.Model(encoder_input, decoder_output, name="autoencoder")
        texts[lib] = (_summary(encoder), _summary(autoencoder), autoencoder.output_shape)
    assert texts[kerasish][2] == (None, 28, 28, 1)  # the input's shape again
    assert "│ conv2d_transpose_3 (Conv2DTranspose) │ (None, 28, 28, 1)" in texts[kerasish][1]
    assert texts[kerasish] == texts[k]


def _nested_autoencoder(lib):
    keras = _fresh(lib)
    encoder_input, encoder_output = _encoder(lib, "original_img")
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")
    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    decoder_output = _decoder_layers(lib, decoder_input)
    decoder = keras.Model(decoder_input, decoder_output, name="decoder")
    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    encoded_img = encoder(autoencoder_input)
    decoded_img = decoder(encoded_img)
    autoencoder = keras.Model(autoencoder_input, decoded_img, name="autoencoder")
    return decoder, autoencoder


def test_all_models_are_callable_just_like_layers():
    k = keras_module()
    their_decoder, theirs = _nested_autoencoder(k)
    our_decoder, ours = _nested_autoencoder(kerasish)
    assert _summary(our_decoder) == _summary(their_decoder)
    assert _summary(ours) == _summary(theirs)
    assert "│ encoder (Functional)" in _summary(ours) and "18,672" in _summary(ours)
    ours.set_weights(theirs.get_weights())
    img = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    assert_close(ours.predict(img, verbose=0), theirs.predict(img, verbose=0), atol=1e-5)


def _ensemble(lib):
    keras, layers = _fresh(lib), lib.layers

    def get_model():
        inputs = keras.Input(shape=(128,))
        outputs = layers.Dense(1)(inputs)
        return keras.Model(inputs, outputs)

    model1 = get_model()
    model2 = get_model()
    model3 = get_model()
    inputs = keras.Input(shape=(128,))
    y1 = model1(inputs)
    y2 = model2(inputs)
    y3 = model3(inputs)
    outputs = layers.average([y1, y2, y3])
    return keras.Model(inputs=inputs, outputs=outputs)


def test_ensembling_models_averages_their_predictions():
    k = keras_module()
    theirs, ours = _ensemble(k), _ensemble(kerasish)
    # Three branches: the "Connected to" column, its widths and wrapping as Keras draws them.
    assert "│ average (Average)" in _summary(ours) and "functional[0][0]," in _summary(ours)
    assert _summary(ours) == _summary(theirs)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).random((3, 128)).astype("float32")
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)


def _ticket_model(lib):
    keras, layers = _fresh(lib), lib.layers
    num_tags = 12  # Number of unique issue tags
    num_words = 10000  # Size of vocabulary obtained when preprocessing text data
    num_departments = 4  # Number of departments for predictions
    title_input = keras.Input(
        shape=(None,), name="title"
    )  # Variable-length sequence of ints
    body_input = keras.Input(shape=(None,), name="body")  # Variable-length sequence of ints
    tags_input = keras.Input(
        shape=(num_tags,), name="tags"
    )  # Binary vectors of size `num_tags`
    title_features = layers.Embedding(num_words, 64)(title_input)
    body_features = layers.Embedding(num_words, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    return keras.Model(
        inputs=[title_input, body_input, tags_input],
        outputs=[priority_pred, department_pred],
    )


def test_models_with_multiple_inputs_and_outputs():
    k = keras_module()
    num_words, num_tags, num_departments = 10000, 12, 4
    rng = np.random.RandomState(0)
    # Dummy input data (changed: 32 samples for 1280, bodies of 20 words for 100)
    title_data = rng.randint(num_words, size=(32, 10))
    body_data = rng.randint(num_words, size=(32, 20))
    tags_data = rng.randint(2, size=(32, num_tags)).astype("float32")
    # Dummy target data
    priority_targets = rng.random_sample(size=(32, 1))
    dept_targets = rng.randint(2, size=(32, num_departments))
    results = {}
    for lib in (k, kerasish):
        keras = lib
        model = _ticket_model(lib)
        if lib is kerasish:
            assert _summary(model) == results[k][1]
            model.set_weights(results[k][2])
        summary, weights = _summary(model), model.get_weights()
        model.compile(
            optimizer=keras.optimizers.RMSprop(1e-3),
            loss=[
                keras.losses.BinaryCrossentropy(from_logits=True),
                keras.losses.CategoricalCrossentropy(from_logits=True),
            ],
            loss_weights=[1.0, 0.2],
        )
        model.compile(
            optimizer=keras.optimizers.RMSprop(1e-3),
            loss={
                "priority": keras.losses.BinaryCrossentropy(from_logits=True),
                "department": keras.losses.CategoricalCrossentropy(from_logits=True),
            },
            loss_weights={"priority": 1.0, "department": 0.2},
        )
        history = model.fit(
            {"title": title_data, "body": body_data, "tags": tags_data},
            {"priority": priority_targets, "department": dept_targets},
            epochs=2,
            batch_size=32,
            shuffle=False, verbose=0,  # changed: shuffle=False, verbose=0
        )
        results[lib] = (history.history, summary, weights)
    ours, theirs = results[kerasish][0], results[k][0]
    assert list(ours) == list(theirs) == ["department_loss", "loss", "priority_loss"]
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=1e-5)


def _toy_resnet(lib):
    keras, layers = _fresh(lib), lib.layers
    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])
    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs, name="toy_resnet")


def test_a_toy_resnet_model():
    k = keras_module()
    theirs, model = _toy_resnet(k), _toy_resnet(kerasish)
    text = _summary(model)
    # A name too long for its cell ends in '…' in Keras's table rather than wrapping mid-word.
    assert "│ global_average_pooling2d[…" in text
    assert text == _summary(theirs)
    keras = kerasish
    rng = np.random.RandomState(0)
    # changed: 64 synthetic CIFAR-10-shaped images for keras.datasets.cifar10.load_data()
    x_train, y_train = rng.randint(0, 256, (64, 32, 32, 3)).astype("uint8"), rng.randint(0, 10, (64, 1))
    labels = y_train
    x_train = x_train.astype("float32") / 255.0
    y_train = keras.utils.to_categorical(y_train, 10)
    # Keras's values and dtype (float64 for NumPy labels).
    np.testing.assert_array_equal(y_train, k.utils.to_categorical(labels, 10))
    assert y_train.dtype == np.float64
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["acc"],
    )
    history = model.fit(x_train[:64], y_train[:64], batch_size=16, epochs=1, validation_split=0.2,
                        verbose=0)  # changed: 64 samples and batches of 16 for 1000 and 64, verbose=0
    assert list(history.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert all(np.isfinite(v[0]) for v in history.history.values())


def test_shared_layers():
    keras, layers = kerasish, kerasish.layers
    # Embedding for 1000 unique words mapped to 128-dimensional vectors
    shared_embedding = layers.Embedding(1000, 128)
    # Variable-length sequence of integers
    text_input_a = keras.Input(shape=(None,), dtype="int32")
    # Variable-length sequence of integers
    text_input_b = keras.Input(shape=(None,), dtype="int32")
    # Reuse the same layer to encode both inputs
    encoded_input_a = shared_embedding(text_input_a)
    encoded_input_b = shared_embedding(text_input_b)
    assert encoded_input_a.shape == encoded_input_b.shape == (None, None, 128)
    model = keras.Model([text_input_a, text_input_b], [encoded_input_a, encoded_input_b])  # changed: a model
    assert len(model.weights) == 1 and "128,000" in _summary(model)  # one table, counted once
    a, b = model.predict([np.array([[1, 2]]), np.array([[1, 2]])], verbose=0)
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_extract_and_reuse_nodes_in_the_graph_of_layers():
    keras = kerasish
    vgg19 = keras.applications.VGG19(weights=None)  # changed: weights=None (no ImageNet download here)
    features_list = [layer.output for layer in vgg19.layers]
    feat_extraction_model = keras.Model(inputs=vgg19.input, outputs=features_list)
    img = np.random.random((1, 224, 224, 3)).astype("float32")
    extracted_features = feat_extraction_model(img)
    assert len(extracted_features) == len(vgg19.layers) == 26
    assert [tuple(f.shape)[1:] for f in extracted_features] == [t.shape[1:] for t in features_list]


def _custom_dense_class(lib):
    """The guide's CustomDense, defined on `lib`'s Layer (`tf.matmul` changed to `ops.matmul`)."""
    layers, ops = lib.layers, lib.ops

    class CustomDense(layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units),
                initializer="random_normal",
                trainable=True,
            )
            self.b = self.add_weight(
                shape=(self.units,), initializer="random_normal", trainable=True
            )

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b  # changed: tf.matmul

        def get_config(self):
            return {"units": self.units}

    return CustomDense


def test_extend_the_api_using_custom_layers():
    k = keras_module()
    results = {}
    x = np.random.default_rng(0).random((3, 4)).astype("float32")
    for lib in (k, kerasish):
        keras = _fresh(lib)
        CustomDense = _custom_dense_class(lib)
        inputs = keras.Input((4,))
        outputs = CustomDense(10)(inputs)
        model = keras.Model(inputs, outputs)
        config = model.get_config()
        new_model = keras.Model.from_config(config, custom_objects={"CustomDense": CustomDense})
        new_model.set_weights(model.get_weights())
        results[lib] = (model, new_model, _summary(new_model).replace(new_model.name, "?"))
    model, new_model, text = results[kerasish]
    assert isinstance(new_model.layers[-1], type(model.layers[-1]))
    assert_close(new_model(x), model(x))
    model.set_weights(results[k][0].get_weights())
    assert_close(model(x), results[k][0](x), atol=1e-5)
    assert text == results[k][2]


def _custom_rnn_classes(lib, classifier):
    layers, ops = lib.layers, lib.ops
    units = 32

    class CustomRNN(layers.Layer):
        def __init__(self):
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            self.classifier = classifier()

        def call(self, inputs):
            outputs = []
            state = ops.zeros(shape=(inputs.shape[0], self.units))  # changed: tf.zeros
            for t in range(inputs.shape[1]):
                x = inputs[:, t, :]
                h = self.projection_1(x)
                y = h + self.projection_2(state)
                state = y
                outputs.append(y)
            features = ops.stack(outputs, axis=1)  # changed: tf.stack
            return self.classifier(features)

    return CustomRNN


def test_mix_and_match_a_functional_model_inside_a_subclassed_layer():
    k = keras_module()
    results = {}
    for lib in (k, kerasish):
        keras, layers, ops = _fresh(lib), lib.layers, lib.ops
        units, timesteps, input_dim = 32, 10, 5
        # Define a Functional model
        inputs = keras.Input((None, units))
        x = layers.GlobalAveragePooling1D()(inputs)
        outputs = layers.Dense(1)(x)
        model = keras.Model(inputs, outputs)
        CustomRNN = _custom_rnn_classes(lib, lambda model=model: model)
        rnn_model = CustomRNN()
        _ = rnn_model(ops.zeros((1, timesteps, input_dim)))  # changed: tf.zeros
        if lib is kerasish:
            rnn_model.set_weights(results[k][0].get_weights())
        x = np.random.default_rng(0).random((2, timesteps, input_dim)).astype("float32")
        results[lib] = (rnn_model, rnn_model(x))
    assert tuple(results[kerasish][1].shape) == (2, 1)
    assert_close(results[kerasish][1], results[k][1], atol=1e-5)


def test_a_custom_rnn_in_a_functional_model_keeps_the_static_batch_size():
    k = keras_module()
    results = {}
    for lib in (k, kerasish):
        keras, layers, ops = _fresh(lib), lib.layers, lib.ops
        batch_size, timesteps, input_dim = 16, 10, 5
        CustomRNN = _custom_rnn_classes(lib, lambda layers=layers: layers.Dense(1))
        # A static batch size (batch_shape): the inner computation of `CustomRNN` needs it.
        inputs = keras.Input(batch_shape=(batch_size, timesteps, input_dim))
        x = layers.Conv1D(32, 3)(inputs)
        outputs = CustomRNN()(x)
        model = keras.Model(inputs, outputs)
        rnn_model = CustomRNN()
        _ = rnn_model(ops.zeros((1, 10, 5)))  # changed: tf.zeros
        results[lib] = (model, _summary(model).replace(model.name, "?"), tuple(_.shape))
    model, text, eager_shape = results[kerasish]
    assert model.output_shape == (16, 8, 1) and eager_shape == (1, 10, 1)
    row = next(line for line in text.splitlines() if "(CustomRNN)" in line)
    assert "│ (16, 8, 1)" in row  # the batch size stays, as in Keras
    assert text == results[k][1]
    model.set_weights(results[k][0].get_weights())
    x = np.random.default_rng(0).random((16, 10, 5)).astype("float32")
    assert_close(model(x), results[k][0](x), atol=1e-5)
