"""Layers held in lists and dicts of a custom layer or model are tracked, as Keras tracks them."""

import copy

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from tests.keras_parity import keras_module

X = np.random.default_rng(4).normal(size=(16, 3)).astype("float32")


class Blocks(kerasish.Model):
    def __init__(self):
        super().__init__()
        self.blocks = [layers.Dense(4, activation="relu"), layers.Dense(4, activation="relu")]
        self.heads = {"out": layers.Dense(1)}

    def call(self, x):
        for block in self.blocks:
            x = block(x)
        return self.heads["out"](x)


def test_weights_of_layers_in_lists_and_dicts_train_and_count_as_in_keras():
    model = Blocks()
    model(torch.tensor(X))
    assert len(model.trainable_weights) == 6
    assert model.count_params() == (3 * 4 + 4) + (4 * 4 + 4) + (4 + 1)
    before = [w.copy() for w in model.get_weights()]
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, np.ones((16, 1), "float32"), epochs=2, verbose=0)
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    assert [layer.name for layer in model.layers] == [layer.name for layer in model.blocks] + [model.heads["out"].name]


def test_the_same_count_as_keras_for_the_same_subclassed_model():
    keras = keras_module()

    class KerasBlocks(keras.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [keras.layers.Dense(4, activation="relu"), keras.layers.Dense(4, activation="relu")]
            self.heads = {"out": keras.layers.Dense(1)}

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return self.heads["out"](x)

    theirs, ours = KerasBlocks(), Blocks()
    theirs(X)
    ours(torch.tensor(X))
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-6)


def test_appending_and_replacing_entries_keeps_tracking_them():
    layer = layers.Layer()
    layer.items = []
    layer.items.append(layers.Dense(2))
    layer.items += [layers.Dense(3)]
    layer.items[0] = layers.Dense(5)
    layer.items[0].build((None, 2))
    layer.items[1].build((None, 2))
    assert sum(p.numel() for p in layer.parameters()) == (2 * 5 + 5) + (2 * 3 + 3)
    layer.items.pop()
    assert sum(p.numel() for p in layer.parameters()) == 2 * 5 + 5
    layer.items = []
    assert list(layer.parameters()) == []
    del layer.items
    assert not hasattr(layer, "items")


def test_tracked_lists_behave_as_lists_and_copy_as_plain_containers():
    layer = layers.Layer()
    layer.pair = [layers.Dense(1), "relu"]
    assert isinstance(layer.pair, list) and layer.pair[1] == "relu"
    assert type(copy.copy(layer.pair)) is list
    clone = copy.deepcopy(layer)
    assert clone.pair[0] is not layer.pair[0] and dict(clone.named_children())["pair"][0] is clone.pair[0]


def test_a_model_with_layers_in_a_list_saves_its_weights_and_loads_them(tmp_path):
    model = Blocks()
    model(torch.tensor(X))
    model.save_weights(tmp_path / "w.safetensors")
    other = Blocks()
    other(torch.tensor(X))
    other.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_allclose(other.predict(X, verbose=0), model.predict(X, verbose=0))


def test_model_layers_is_reserved_as_in_keras():
    class Bad(kerasish.Model):
        def __init__(self):
            super().__init__()
            self.layers = [layers.Dense(1)]

    with pytest.raises(AttributeError, match="Model.layers is reserved"):
        Bad()
