"""Keras 3 custom layers, losses and metrics written with keras.ops, unchanged apart from imports.

The layers come from keras-io examples (text classification with a Transformer's
TokenAndPositionEmbedding, the ViT example's Patches and PatchEncoder) and the metric and
loss from the "customizing fit" and "training with built-in methods" guides. Each runs in
kerasish and in Keras 3 from the same weights; outputs and training losses must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.keras_parity import assert_close, keras_module


def _define(keras, layers, ops):
    """The classes exactly as the guides write them, for one `keras` namespace."""

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            maxlen = ops.shape(x)[-1]
            positions = ops.arange(start=0, stop=maxlen, step=1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    class Patches(layers.Layer):
        def __init__(self, patch_size):
            super().__init__()
            self.patch_size = patch_size

        def call(self, images):
            input_shape = ops.shape(images)
            batch_size = input_shape[0]
            height = input_shape[1]
            width = input_shape[2]
            channels = input_shape[3]
            num_patches_h = height // self.patch_size
            num_patches_w = width // self.patch_size
            patches = keras.ops.image.extract_patches(images, size=self.patch_size)
            patches = ops.reshape(
                patches,
                (batch_size, num_patches_h * num_patches_w, self.patch_size * self.patch_size * channels),
            )
            return patches

    class PatchEncoder(layers.Layer):
        def __init__(self, num_patches, projection_dim):
            super().__init__()
            self.num_patches = num_patches
            self.projection = layers.Dense(units=projection_dim)
            self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

        def call(self, patch):
            positions = ops.expand_dims(ops.arange(start=0, stop=self.num_patches, step=1), axis=0)
            projected_patches = self.projection(patch)
            return projected_patches + self.position_embedding(positions)

    class CategoricalTruePositives(keras.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
            values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
            values = ops.cast(values, "float32")
            if sample_weight is not None:
                sample_weight = ops.cast(sample_weight, "float32")
                values = ops.multiply(values, sample_weight)
            self.true_positives.assign_add(ops.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)

    def custom_mean_squared_error(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=-1)

    class CustomMSE(keras.losses.Loss):
        def __init__(self, regularization_factor=0.1, name="custom_mse"):
            super().__init__(name=name)
            self.regularization_factor = regularization_factor

        def call(self, y_true, y_pred):
            mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
            reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
            return mse + reg * self.regularization_factor

    return dict(TokenAndPositionEmbedding=TokenAndPositionEmbedding, Patches=Patches, PatchEncoder=PatchEncoder,
                CategoricalTruePositives=CategoricalTruePositives, mse=custom_mean_squared_error, CustomMSE=CustomMSE)


def _both():
    k = keras_module()
    import kerasish

    return (k, _define(k, k.layers, k.ops)), (kerasish, _define(kerasish, kerasish.layers, kerasish.ops))


def _same_weights(src, dst):
    dst.set_weights(src.get_weights())


def test_transformer_token_and_position_embedding_trains_as_in_keras():
    (k, kd), (ki, id_) = _both()
    x = np.random.default_rng(0).integers(0, 50, size=(16, 10))
    y = (x.sum(-1) % 2).astype("float32")

    def build(keras, d):
        inp = keras.Input((10,), dtype="int32")
        h = d["TokenAndPositionEmbedding"](10, 50, 8)(inp)
        h = keras.layers.GlobalAveragePooling1D()(h)
        out = keras.layers.Dense(1, activation="sigmoid")(h)
        model = keras.Model(inp, out)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
        return model

    theirs, ours = build(k, kd), build(ki, id_)
    _same_weights(theirs, ours)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)
    h1 = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    h2 = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(h2, h1, rtol=1e-4, atol=1e-5)


def test_vit_patches_and_patch_encoder_match_keras():
    (k, kd), (ki, id_) = _both()
    images = np.random.default_rng(1).uniform(size=(2, 8, 8, 3)).astype("float32")

    def build(keras, d):
        inp = keras.Input((8, 8, 3))
        patches = d["Patches"](4)(inp)
        encoded = d["PatchEncoder"](4, 6)(patches)
        return keras.Model(inp, encoded)

    theirs, ours = build(k, kd), build(ki, id_)
    _same_weights(theirs, ours)
    assert_close(ours.predict(images, verbose=0), theirs.predict(images, verbose=0), atol=1e-5)
    assert tuple(ours.output.shape) == (None, 4, 6)


def test_custom_metric_with_add_variable_and_custom_losses_match_keras():
    (k, kd), (ki, id_) = _both()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = rng.integers(0, 3, size=(32, 1))
    y_onehot = np.eye(3, dtype="float32")[y[:, 0]]

    def build(keras, d, loss):
        inp = keras.Input((5,))
        out = keras.layers.Dense(3, activation="softmax")(inp)
        model = keras.Model(inp, out)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        return model

    for loss_key in ("mse", "CustomMSE"):
        theirs = build(k, kd, kd[loss_key] if loss_key == "mse" else kd[loss_key]())
        ours = build(ki, id_, id_[loss_key] if loss_key == "mse" else id_[loss_key]())
        _same_weights(theirs, ours)
        h1 = theirs.fit(x, y_onehot, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
        h2 = ours.fit(x, y_onehot, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
        np.testing.assert_allclose(h2, h1, rtol=1e-4, atol=1e-6)

    theirs_metric, ours_metric = kd["CategoricalTruePositives"](), id_["CategoricalTruePositives"]()
    probs = rng.uniform(size=(32, 3)).astype("float32")
    weights = rng.uniform(size=(32, 1)).astype("float32")
    theirs_metric.update_state(torch.from_numpy(y), torch.from_numpy(probs), torch.from_numpy(weights))
    ours_metric.update_state(torch.from_numpy(y), torch.from_numpy(probs), torch.from_numpy(weights))
    assert_close(ours_metric.result(), theirs_metric.result(), atol=1e-5)
    ours_metric.reset_state()
    assert float(ours_metric.result()) == 0.0

    # In compile(metrics=...), evaluated per epoch as Keras does.
    inp = ki.Input((5,))
    model = ki.Model(inp, ki.layers.Dense(3, activation="softmax")(inp))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[id_["CategoricalTruePositives"]()])
    logs = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert set(logs) == {"loss", "categorical_true_positives"}
    assert 0 <= logs["categorical_true_positives"][0] <= 32


def test_a_functional_model_built_from_ops_saves_and_loads(tmp_path):
    import kerasish as keras
    from kerasish import layers, ops

    inp = keras.Input((6,))
    x = layers.Dense(4)(inp)
    x = ops.expand_dims(x, -1)
    x = ops.concatenate([x, x * 2.0 + 1.0], axis=-1)
    x = ops.reshape(x, (-1, 8))
    x = x[:, 1:7]
    x = ops.mean(ops.square(x), axis=-1, keepdims=True) - ops.max(x, axis=1, keepdims=True)
    model = keras.Model(inp, x)
    assert tuple(model.output.shape) == (None, 1)
    data = np.random.default_rng(3).normal(size=(4, 6)).astype("float32")
    expected = model.predict(data, verbose=0)
    path = str(tmp_path / "ops.kerasish")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(data, verbose=0), expected, rtol=1e-6)
    assert any(type(layer).__name__ == "OpLayer" for layer in loaded._operations)  # ops are not model.layers, as Keras


def test_keras_tensor_operators_and_errors():
    import kerasish as keras
    from kerasish import ops

    inp = keras.Input((3,))
    out = (-(inp * 2) + 1) ** 2 / 4
    assert tuple(out.shape) == (None, 3)
    model = keras.Model(inp, out)
    np.testing.assert_allclose(model.predict(np.ones((1, 3)), verbose=0), [[0.25] * 3])
    with pytest.raises(TypeError, match="Iterating over a symbolic KerasTensor"):
        list(inp)
    with pytest.raises(TypeError, match="cannot become a NumPy array"):
        np.asarray(inp)
    assert isinstance(ops.convert_to_tensor(inp), keras.ops.KerasTensor)  # a graph node, as in Keras
