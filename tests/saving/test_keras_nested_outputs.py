"""A functional model whose outputs nest lists (`Model(i, [[a, b], c])`) in `.keras` files, both ways
with Keras 3: the same `output_layers` structure is written, and the loaded model returns the same nesting."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import kerasish
from tests.keras_parity import keras_module, to_numpy

X = np.random.default_rng(5).random((3, 4)).astype("float32")


def _nested(lib):
    i = lib.Input((4,))
    a, b, c = (lib.layers.Dense(n, name=name)(i) for n, name in ((2, "a"), (3, "b"), (1, "c")))
    return lib.Model(i, [[a, b], c])


def _output_layers(path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))["config"]["output_layers"]


def test_nested_outputs_are_written_and_read_as_keras_does(tmp_path):
    keras = keras_module()
    theirs, ours = _nested(keras), _nested(kerasish)
    ours.set_weights(theirs.get_weights())
    theirs.save(tmp_path / "theirs.keras")
    ours.save(tmp_path / "ours.keras")
    assert _output_layers(tmp_path / "ours.keras") == _output_layers(tmp_path / "theirs.keras") == \
        [[["a", 0, 0], ["b", 0, 0]], ["c", 0, 0]]
    expected = theirs(X)
    for loaded in (kerasish.models.load_model(tmp_path / "theirs.keras"),
                   kerasish.models.load_model(tmp_path / "ours.keras")):
        (a, b), c = loaded.predict(X, verbose=0)
        for got, want in ((a, expected[0][0]), (b, expected[0][1]), (c, expected[1])):
            np.testing.assert_allclose(got, to_numpy(want), atol=1e-6)
    (a, b), c = keras.models.load_model(tmp_path / "ours.keras")(X)
    np.testing.assert_allclose(to_numpy(b), to_numpy(expected[0][1]), atol=1e-6)


def test_a_damaged_output_structure_is_named():
    config = kerasish.saving.keras_config.to_keras_config(_nested(kerasish))
    config["config"]["output_layers"] = [[["a", 0, 0], 7], ["c", 0, 0]]
    with pytest.raises(ValueError, match=r"input/output structure holds 7; expected \[layer name, node, tensor\]"):
        kerasish.saving.keras_config.from_keras_config(config)
