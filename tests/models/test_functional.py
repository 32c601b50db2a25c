"""The functional API: Input, Model(inputs, outputs), layer.output, multi-output training."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers, models
from kerasish.layers import Add, Concatenate, Conv2D, Dense, Dot, Flatten, Input, MaxPooling2D, Multiply
from kerasish.models import Model, Sequential


def _fashion(fashion_dir, n):
    with gzip.open(fashion_dir / "train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)[:n]
    with gzip.open(fashion_dir / "train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return x.astype("float32") / 255, y.astype("int64")


def test_tutorial_activation_model_on_trained_cnn(fashion_dir):
    train_images, train_labels = _fashion(fashion_dir, 3000)
    # --- tutorial code (imports changed) ---
    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation='relu'))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(128, activation='relu'))
    model.add(layers.Dense(10, activation='softmax'))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(train_images, train_labels, epochs=1, batch_size=128, verbose=0)

    some_image = train_images[:6]
    layer_outputs = [layer.output for layer in model.layers[:1]]
    activation_model = models.Model(inputs=model.input, outputs=layer_outputs)
    activations = activation_model.predict(some_image)
    # --- end of tutorial code ---
    assert activations.shape == (6, 26, 26, 32)
    with torch.no_grad():
        direct = model.layers[0](torch.from_numpy(some_image)).numpy()
    np.testing.assert_allclose(activations, direct, atol=1e-6)
    # the sub-model shares the trained weights (no copy)
    assert activation_model.get_layer(model.layers[0].name) is model.layers[0]


def test_sequential_exposes_symbolic_graph():
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3)])
    assert model.input.shape == (None, 4) and model.output.shape == (None, 3)
    assert model.layers[1].input is model.layers[0].output
    assert model.inputs == [model.input] and model.outputs == [model.output]
    sub = Model(inputs=model.input, outputs=model.layers[0].output)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(sub.predict(x, verbose=0), torch.relu(model.layers[0](torch.from_numpy(x))).detach().numpy(),
                               atol=1e-6)


def _two_in_two_out():
    image = Input(shape=(8, 8, 1), name="image")
    table = Input(shape=(5,), name="table")
    h1 = Flatten()(MaxPooling2D((2, 2))(Conv2D(4, (3, 3), activation="relu")(image)))
    h = Concatenate()([Dense(16, activation="relu")(h1), Dense(16, activation="relu")(table)])
    cls = Dense(2, activation="softmax", name="cls")(h)
    reg = Dense(1, name="reg")(h)
    return Model(inputs=[image, table], outputs=[cls, reg])


def _data(n=256):
    rng = np.random.default_rng(0)
    img = rng.random((n, 8, 8, 1)).astype("float32")
    tab = rng.normal(size=(n, 5)).astype("float32")
    y_cls = (img.mean((1, 2, 3)) > 0.5).astype("int64")
    y_reg = tab.sum(1, keepdims=True).astype("float32")
    return img, tab, y_cls, y_reg


def test_two_inputs_two_outputs_train_with_weighted_losses_and_round_trip(tmp_path):
    img, tab, y_cls, y_reg = _data()
    model = _two_in_two_out()
    model.compile(optimizer=kerasish.optimizers.Adam(0.01),
                  loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"], "reg": ["mae"]})
    h = model.fit([img, tab], {"cls": y_cls, "reg": y_reg}, epochs=8, batch_size=32, validation_split=0.25, verbose=0)
    assert set(h.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae",
                              "val_loss", "val_cls_loss", "val_reg_loss", "val_cls_accuracy", "val_reg_mae"}
    # the total is the weighted sum of the per-output losses
    for i in range(8):
        assert h.history["loss"][i] == pytest.approx(h.history["cls_loss"][i] + 0.5 * h.history["reg_loss"][i], rel=1e-4)
    assert h.history["reg_loss"][-1] < h.history["reg_loss"][0]
    # list targets are accepted too, and evaluate names its values
    res = model.evaluate([img, tab], [y_cls, y_reg], verbose=0, return_dict=True)
    assert set(res) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"}
    path = tmp_path / "two.kerasish"
    model.save(path)
    loaded = kerasish.load_model(path)
    for a, b in zip(model.predict([img, tab], verbose=0), loaded.predict([img, tab], verbose=0)):
        np.testing.assert_array_equal(a, b)
    # training continues on the loaded model with the same settings
    h2 = loaded.fit([img, tab], [y_cls, y_reg], epochs=1, verbose=0)
    assert "reg_mae" in h2.history


def test_shared_layer_counts_parameters_once_and_gets_gradients_from_both_uses(capsys):
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    shared = Dense(4, name="shared", use_bias=False)
    out = Add()([shared(a), shared(b)])
    model = Model(inputs=[a, b], outputs=out)
    model.summary()
    text = capsys.readouterr().out
    assert "Total params: 12" in text  # 3 * 4, counted once although called twice
    assert "a[0][0], b[0][0]" in text  # Connected to: both inbound layers
    xa = torch.ones(2, 3)
    xb = torch.full((2, 3), 2.0)
    model(xa, xb).sum().backward()
    # d(sum)/d(kernel) = sum over samples of both inputs
    expected = (xa.sum(0) + xb.sum(0))[:, None].expand(3, 4)
    np.testing.assert_allclose(shared.kernel.grad.numpy(), expected.numpy())
    shared.kernel.grad = None
    model.compile(optimizer="sgd", loss="mse")
    before = shared.kernel.detach().clone()
    model.fit([np.ones((4, 3), "float32"), np.zeros((4, 3), "float32")], np.zeros((4, 4), "float32"),
              epochs=1, verbose=0)
    assert not torch.equal(before, shared.kernel.detach())


def test_config_round_trip_rebuilds_same_graph():
    model = _two_in_two_out()
    config = json.loads(json.dumps(model.get_config()))
    from kerasish.models.functional import Functional

    rebuilt = Functional.from_config(config)
    rebuilt.load_state_dict(model.state_dict())
    img, tab, _, _ = _data(8)
    for x, y in zip(model.predict([img, tab], verbose=0), rebuilt.predict([img, tab], verbose=0)):
        np.testing.assert_array_equal(x, y)
    assert json.loads(json.dumps(rebuilt.get_config())) == config


def test_dict_inputs_and_outputs():
    a, b = Input(shape=(2,), name="left"), Input(shape=(2,), name="right")
    d = Dot(axes=1)([a, b])
    m = Multiply()([a, b])
    model = Model(inputs={"left": a, "right": b}, outputs={"dot": d, "prod": m})
    out = model.predict({"left": np.array([[1.0, 2.0]], "float32"), "right": np.array([[3.0, 4.0]], "float32")},
                        verbose=0)
    assert out["dot"].tolist() == [[11.0]] and out["prod"].tolist() == [[3.0, 8.0]]


def test_functional_single_output_softmax_uses_logits_path():
    x = Input(shape=(4,))
    model = Model(x, Dense(3, activation="softmax")(Dense(8, activation="relu")(x)))
    assert model.logits_activation() == "softmax"
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    data = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    h = model.fit(data, (data[:, 0] > 0).astype("int64"), epochs=3, verbose=0)
    assert set(h.history) == {"loss", "accuracy"}


def test_functional_errors():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    y = Add()([Dense(2)(a), Dense(2)(b)])
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(inputs=a, outputs=y)
    with pytest.raises(ValueError, match="axes are equal or 1"):
        Add()([a, Input(shape=(4,))])
    with pytest.raises(ValueError, match="list of tensors"):
        Concatenate()(a)
    with pytest.raises(TypeError, match="KerasTensor"):
        Model(inputs=a, outputs=[y, "not a tensor"])
    model = _two_in_two_out()
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"])
    img, tab, y_cls, y_reg = _data(16)
    with pytest.raises(ValueError, match="2 outputs.*holds 3 arrays"):
        model.fit([img, tab], [y_cls, y_reg, y_reg], verbose=0)
    with pytest.raises(ValueError, match="unknown output"):
        _two_in_two_out().compile(optimizer="adam", loss={"clss": "mse"})
    with pytest.raises(ValueError, match="never been called on a symbolic input"):
        Dense(3).output


def test_multi_output_metric_names_stay_stable_across_calls():
    img, tab, y_cls, y_reg = _data(32)
    model = _two_in_two_out()
    acc = kerasish.metrics.SparseCategoricalAccuracy()
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"], metrics={"cls": [acc]})
    for _ in range(2):
        h = model.fit([img, tab], [y_cls, y_reg], epochs=1, verbose=0)
        assert "cls_sparse_categorical_accuracy" in h.history
    assert "cls_sparse_categorical_accuracy" in model.evaluate([img, tab], [y_cls, y_reg], verbose=0, return_dict=True)


def test_a_nested_sequential_saves_and_loads_with_its_weights(tmp_path):
    import kerasish as keras

    inp = keras.Input((4,))
    inner = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    model = keras.Model(inp, keras.layers.Dense(1)(inner(inp)))
    model.compile("sgd", "mse")
    x, y = np.random.default_rng(0).random((32, 4)).astype("float32") + 5, np.zeros((32, 1), "float32")
    model.fit(x, y, verbose=0)
    path = str(tmp_path / "m.kerasish")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == ["InputLayer", "Sequential", "Dense"]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


class _Scale(layers.Layer):
    def call(self, inputs, factor=1.0):
        return inputs * factor


class _Pair(layers.Layer):
    def call(self, a, b, bias=0.0):
        return a + b + bias


def test_call_keyword_arguments_are_saved_and_replayed(tmp_path):
    import kerasish as keras

    inp = keras.Input((3,))
    model = keras.Model(inp, _Scale()(inp, factor=3.0))
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), 3.0)
    path = str(tmp_path / "m.kerasish")
    model.save(path)
    loaded = keras.saving.load_model(path, custom_objects={"_Scale": _Scale})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), 3.0)


def test_calls_with_several_tensor_arguments_round_trip(tmp_path):
    import kerasish as keras

    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], _Pair()(a, b))
    x = [np.ones((2, 3)), 2 * np.ones((2, 3))]
    np.testing.assert_allclose(model.predict(x, verbose=0), 3.0)
    path = str(tmp_path / "pair.kerasish")
    model.save(path)
    loaded = keras.saving.load_model(path, custom_objects={"_Pair": _Pair})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), 3.0)


def test_calls_that_a_config_cannot_describe_are_refused_at_save(tmp_path):
    import os

    import kerasish as keras

    inp = keras.Input((3,))
    odd = keras.Model(inp, _Scale()(inp, factor=np.float32(2.0)))
    with pytest.raises(ValueError, match=r"keyword arguments \['factor'\] that are not JSON values"):
        odd.save(str(tmp_path / "odd.kerasish"))
    a, b = keras.Input((3,)), keras.Input((3,))
    odd_pair = keras.Model([a, b], _Pair()(a, b, bias=np.float32(1.0)))
    with pytest.raises(ValueError, match="argument of type float32 .* a model config cannot describe"):
        odd_pair.save(str(tmp_path / "odd_pair.kerasish"))
    assert os.listdir(tmp_path) == []


def test_model_from_config_of_a_functional_config_gives_a_functional_model_as_keras():
    from kerasish import layers as L
    from kerasish.models import Model as M

    i = L.Input((4,))
    model = M(i, L.Dense(2)(i))
    rebuilt = M.from_config(model.get_config())
    assert type(rebuilt) is type(model) and rebuilt.get_config() == model.get_config()
    x = torch.ones(3, 4)
    rebuilt.set_weights(model.get_weights())
    torch.testing.assert_close(rebuilt(x), model(x))


def test_a_functional_model_after_a_text_layer_in_a_sequential():
    # Keras's preprocessing guide: Sequential([text_vectorizer, functional_model]); the token
    # ids' length is known only at run time, so the functional model is asked for its output
    # shape for input shape (None, None).
    from kerasish.layers import TextVectorization

    vectorizer = TextVectorization(max_tokens=20, output_mode="int")
    vectorizer.adapt(np.array(["the cat sat", "the dog ran", "a cat ran"]))
    inputs = kerasish.Input(shape=(None,), dtype="int64")
    x = layers.GlobalAveragePooling1D()(layers.Embedding(20, 4)(inputs))
    inner = Model(inputs, Dense(1)(x))
    assert inner.compute_output_shape((7, None)) == (7, 1)
    model = Sequential([vectorizer, inner])
    out = model.predict(np.array(["the cat", "a dog ran"]), verbose=0)
    assert out.shape == (2, 1)


def test_inputs_computed_by_layers_start_the_graph_at_input_clones_as_in_keras():
    # Model(normalizer(x), ...): Keras starts the graph at a new InputLayer for that tensor; the layers
    # before the cut are not the model's (not in model.layers, its weights or its summary).
    from tests.keras_parity import assert_close, keras_module

    K = keras_module()
    data = np.arange(10, dtype="float32").reshape(-1, 1)
    built = {}
    for lib in (K, kerasish):
        raw = lib.Input((1,), name="raw")
        normalizer = lib.layers.Normalization(name="norm")
        normalizer.adapt(data)
        other = lib.Input((2,), name="other")
        normalized = normalizer(raw)
        out = lib.layers.Dense(1, name="d")(lib.layers.Concatenate(name="c")([normalized, other]))
        built[lib] = lib.Model([normalized, other], out)
    ours, theirs = built[kerasish], built[K]
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers] == [
        "InputLayer", "InputLayer", "Concatenate", "Dense"]
    assert ours.layers[0].name.endswith("CLONE") and theirs.layers[0].name.endswith("CLONE")
    assert len(ours.get_weights()) == len(theirs.get_weights()) == 2
    ours.set_weights(theirs.get_weights())
    x = [np.array([[3.0], [7.0]], "float32"), np.ones((2, 2), "float32")]
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    # The clone is a real input: the model reads the value given for it, unnormalized.
    expected = x[0] * theirs.get_weights()[0][0] + x[1] @ theirs.get_weights()[0][1:] + theirs.get_weights()[1]
    assert_close(ours.predict(x, verbose=0), expected)
    # A model made from this one's inputs and outputs is connected.
    again = kerasish.Model(ours.inputs, ours.outputs)
    assert_close(again.predict(x, verbose=0), ours.predict(x, verbose=0))
