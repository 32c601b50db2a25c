"""Keras 3's sharded weights (`save_weights("m.weights.json", max_shard_size=...)`), both ways, with
Keras 3 as the oracle; bad sizes, names and shards refused with clear errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import kerasish
from kerasish.saving.formats import check_save_path
from tests.keras_parity import keras_module
from tests.saving.test_keras_config import cnn

RNG = np.random.default_rng(11)
X = RNG.normal(size=(6, 8, 8, 3)).astype("float32")
Y = RNG.normal(size=(6, 2)).astype("float32")
TINY = 1024 / 1024 ** 3  # 1 KiB: several shards for the small CNN (its largest weight is 512 bytes)


def _ours(compiled=False):
    model = cnn(kerasish)
    if compiled:
        model.compile(optimizer="adam", loss="mse")
    return model


def _shards(folder, base="m"):
    return sorted(n for n in os.listdir(folder) if n.startswith(base + "_") and n.endswith(".weights.h5"))


def test_keras_sharded_weights_load_into_kerasish_with_equal_predictions(tmp_path):
    keras = keras_module()
    theirs = cnn(keras)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.fit(X, Y, epochs=2, batch_size=3, verbose=0)
    theirs.save_weights(tmp_path / "m.weights.json", max_shard_size=TINY)
    assert len(_shards(tmp_path)) > 2  # really sharded

    ours = _ours()
    ours.load_weights(tmp_path / "m.weights.json")
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)


def test_keras_sharded_optimizer_state_loads_into_a_compiled_kerasish_model(tmp_path):
    keras = keras_module()
    theirs = cnn(keras)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.fit(X, Y, epochs=1, batch_size=3, verbose=0)
    theirs.save_weights(tmp_path / "m.weights.json", max_shard_size=TINY)
    ours = _ours(compiled=True)
    ours.load_weights(tmp_path / "m.weights.json")
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations)  # test-only read
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)


def test_kerasish_sharded_weights_load_in_keras_with_equal_predictions(tmp_path):
    keras = keras_module()
    ours = _ours()
    ours.save_weights(tmp_path / "m.weights.json", max_shard_size=TINY)
    names = _shards(tmp_path)
    assert names[0] == "m_00000.weights.h5" and len(names) > 1

    theirs = cnn(keras)
    theirs.save_weights(tmp_path / "ref.weights.json", max_shard_size=TINY)
    ours_index = json.loads((tmp_path / "m.weights.json").read_text())
    their_index = json.loads((tmp_path / "ref.weights.json").read_text())
    assert set(ours_index["weight_map"]) == set(their_index["weight_map"])
    assert ours_index["metadata"]["total_size"] == their_index["metadata"]["total_size"]
    assert len(_shards(tmp_path, "ref")) == len(names)  # the same greedy cut

    theirs.load_weights(tmp_path / "m.weights.json")
    np.testing.assert_allclose(theirs.predict(X, verbose=0), ours.predict(X, verbose=0), atol=1e-5)


def test_a_roundtrip_in_kerasish_keeps_every_weight(tmp_path):
    first, second = _ours(), _ours()
    first.save_weights(str(tmp_path / "m.weights.json"), max_shard_size=1)  # 1 GB: one shard
    assert _shards(tmp_path) == ["m_00000.weights.h5"]
    second.load_weights(str(tmp_path / "m.weights.json"))
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_weights_h5_name_with_max_shard_size_is_renamed_with_a_warning_as_in_keras(tmp_path):
    model = _ours()
    with pytest.warns(UserWarning, match=r"writing .*m\.weights\.json"):
        model.save_weights(tmp_path / "m.weights.h5", max_shard_size=1)
    assert (tmp_path / "m.weights.json").exists() and not (tmp_path / "m.weights.h5").exists()


@pytest.mark.parametrize("size, error, match", [
    ("2", TypeError, r"max_shard_size must be a number of gigabytes .*received max_shard_size='2'"),
    (True, TypeError, r"max_shard_size=True of type bool"),
    (0, ValueError, r"positive, finite .*max_shard_size=0"),
    (-1.5, ValueError, r"positive, finite .*max_shard_size=-1.5"),
    (float("nan"), ValueError, r"positive, finite .*max_shard_size=nan"),
    (1e-9, ValueError, r"more than max_shard_size=1e-09 GB .*Increase max_shard_size to at least"),
])
def test_bad_max_shard_size_is_refused_before_anything_is_written(tmp_path, size, error, match):
    with pytest.raises(error, match=match):
        _ours().save_weights(tmp_path / "m.weights.json", max_shard_size=size)
    assert os.listdir(tmp_path) == []


def test_max_shard_size_with_another_suffix_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match=r"max_shard_size writes Keras's sharded weights.*'\.weights\.json'.*"
                                         r"filepath=.*m\.safetensors"):
        _ours().save_weights(tmp_path / "m.safetensors", max_shard_size=1)
    with pytest.raises(ValueError, match=r"need max_shard_size.*max_shard_size=2"):
        _ours().save_weights(tmp_path / "m.weights.json")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        (tmp_path / "x.weights.json").write_text("{}")
        _ours().save_weights(tmp_path / "x.weights.json", max_shard_size=1, overwrite=False)


def test_model_checkpoint_refuses_sharded_names():
    with pytest.raises(ValueError, match=r"ModelCheckpoint: .*sharded weights.*'\.weights\.h5'"):
        check_save_path("ck.weights.json", weights_only=True, who="ModelCheckpoint")


def _saved(tmp_path):
    model = _ours()
    model.save_weights(tmp_path / "m.weights.json", max_shard_size=TINY)
    return model, tmp_path / "m.weights.json"


def _edit_index(index, edit):
    config = json.loads(index.read_text())
    edit(config["weight_map"])
    index.write_text(json.dumps(config))


def _unchanged(model, before):
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_missing_shard_is_named(tmp_path):
    _, index = _saved(tmp_path)
    os.remove(tmp_path / "m_00001.weights.h5")
    target = _ours()
    before = target.get_weights()
    with pytest.raises(ValueError, match=r"shard 'm_00001\.weights\.h5' is missing.*copy every 'm_\*\.weights\.h5'"):
        target.load_weights(index)
    _unchanged(target, before)


@pytest.mark.parametrize("name", ["../evil.weights.h5", "sub/m_00000.weights.h5", "/etc/passwd", "m_00000.h5", ".."])
def test_a_shard_name_that_leaves_the_folder_is_refused(tmp_path, name):
    _, index = _saved(tmp_path)
    _edit_index(index, lambda wm: wm.__setitem__(next(iter(wm)), [name]))
    with pytest.raises(ValueError, match=r"names the shard .*not a plain '\*\.weights\.h5' file name"):
        _ours().load_weights(index)


def test_a_symlinked_shard_is_refused(tmp_path):
    _, index = _saved(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.replace(tmp_path / "m_00000.weights.h5", outside / "m_00000.weights.h5")
    os.symlink(outside / "m_00000.weights.h5", tmp_path / "m_00000.weights.h5")
    with pytest.raises(ValueError, match=r"shard 'm_00000\.weights\.h5' is a symbolic link"):
        _ours().load_weights(index)


def test_a_damaged_shard_or_index_is_refused(tmp_path):
    _, index = _saved(tmp_path)
    (tmp_path / "m_00001.weights.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=r"shard .*m_00001\.weights\.h5' is not an HDF5 file"):
        _ours().load_weights(index)
    index.write_text(json.dumps({"weight_map": {"/vars": 3}}))
    with pytest.raises(ValueError, match=r"weight_map\['/vars'\] is 3; expected a shard file name"):
        _ours().load_weights(index)
    index.write_text("[" * 1000 + "]" * 1000)
    with pytest.raises(ValueError, match="nests 1000 levels deep"):
        _ours().load_weights(index)
    with pytest.raises(FileNotFoundError, match="No sharded weights index"):
        _ours().load_weights(tmp_path / "absent.weights.json")


def test_weights_that_do_not_fit_name_the_index(tmp_path):
    _saved(tmp_path)
    other = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"The weights in the shards of .*m\.weights\.json' do not fit"):
        other.load_weights(tmp_path / "m.weights.json")


def test_shards_that_do_not_belong_together_are_refused(tmp_path):
    import h5py

    _, index = _saved(tmp_path)
    with h5py.File(tmp_path / "m_00001.weights.h5", "a") as f:
        f.create_group("layers/conv2d/vars/0/inner")  # a group where shard 0 has the dataset 'vars/0'
    with pytest.raises(ValueError, match=r"has a group at 'layers/conv2d/vars/0' where another shard has a dataset"):
        _ours().load_weights(index)
    _, index = _saved(tmp_path)
    with h5py.File(tmp_path / "m_00001.weights.h5", "a") as f:
        f.create_dataset("layers/conv2d/vars/0", data=np.zeros(3))  # shard 0 holds this dataset already
    with pytest.raises(ValueError, match=r"'layers/conv2d/vars/0' is in two shards"):
        _ours().load_weights(index)
