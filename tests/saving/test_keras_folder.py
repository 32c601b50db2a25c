"""Unzipped `.keras` folders (`model.save(path, zipped=False)` / `load_model(path)`), both ways with
Keras 3 as the oracle; links, stray files and oversized files refused before anything is read."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

import kerasish
from kerasish.layers import StringLookup
from kerasish.saving import keras_file
from kerasish.saving.keras_file import KerasFileError
from tests.keras_parity import keras_module
from tests.saving.test_keras_config import cnn

RNG = np.random.default_rng(13)
X = RNG.normal(size=(6, 8, 8, 3)).astype("float32")
Y = RNG.normal(size=(6, 2)).astype("float32")


def test_a_keras_folder_loads_into_kerasish_with_equal_predictions_and_trains_on(tmp_path):
    keras = keras_module()
    theirs = cnn(keras)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.fit(X, Y, epochs=2, batch_size=3, verbose=0)
    theirs.save(tmp_path / "model", zipped=False)

    ours = kerasish.models.load_model(tmp_path / "model")
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations)  # test-only read
    history = ours.fit(X, Y, epochs=1, batch_size=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_a_kerasish_folder_loads_in_keras_with_equal_predictions(tmp_path):
    keras = keras_module()
    ours = cnn(kerasish)
    ours.compile(optimizer="adam", loss="mse")
    ours.fit(X, Y, epochs=1, batch_size=3, verbose=0)
    ours.save(str(tmp_path / "model"), zipped=False)
    assert sorted(os.listdir(tmp_path / "model")) == ["config.json", "metadata.json", "model.weights.h5"]

    theirs = keras.saving.load_model(tmp_path / "model")
    np.testing.assert_allclose(theirs.predict(X, verbose=0), ours.predict(X, verbose=0), atol=1e-5)


def test_the_folder_holds_what_the_zip_holds_including_assets(tmp_path):
    lookup = StringLookup()
    lookup.adapt(np.array(["a", "b", "b", "c"]))
    model = kerasish.Sequential([lookup, kerasish.layers.Embedding(10, 2), kerasish.layers.Flatten()])
    model.build((None, 1))
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "folder", zipped=False)
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        zipped = {n: zf.read(n) for n in zf.namelist() if n != "metadata.json"}
    on_disk = {os.path.relpath(os.path.join(root, f), tmp_path / "folder").replace(os.sep, "/")
               for root, _, files in os.walk(tmp_path / "folder") for f in files}
    assert on_disk == set(zipped) | {"metadata.json"}
    assert any(n.startswith("assets/") for n in on_disk)
    for name, data in zipped.items():
        assert (tmp_path / "folder" / name).read_bytes() == data, name

    loaded = kerasish.load_model(tmp_path / "folder")
    assert loaded.layers[0].get_vocabulary() == lookup.get_vocabulary()
    x = np.array([["a"], ["c"], ["zz"]])
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def _model():
    return kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(2)])


def test_bad_save_arguments_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"must not end in '\.keras'.*filepath=.*m\.keras.*drop zipped=False"):
        _model().save(tmp_path / "m.keras", zipped=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"'.*file' is an existing file"):
        _model().save(tmp_path / "file", zipped=False)
    with pytest.raises(TypeError, match=r"zipped must be True, False or None, received zipped='no'"):
        _model().save(tmp_path / "m.keras", zipped="no")
    assert sorted(os.listdir(tmp_path)) == ["file"]
    _model().save(tmp_path / "d", zipped=False)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _model().save(tmp_path / "d", zipped=False, overwrite=False)


def _saved(tmp_path):
    model = _model()
    model.save(tmp_path / "d", zipped=False)
    return model, tmp_path / "d"


def test_a_folder_without_config_or_with_a_stray_file_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(KerasFileError, match=r"not a readable unzipped \.keras model folder: it has no config\.json"):
        kerasish.load_model(tmp_path / "empty")
    _, folder = _saved(tmp_path)
    (folder / "payload.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(KerasFileError, match=r"unexpected member 'payload\.pkl'"):
        kerasish.load_model(folder)


@pytest.mark.parametrize("where", ["config.json", "assets/vocab"])
def test_a_symbolic_link_inside_is_refused(tmp_path, where):
    _, folder = _saved(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("{}")
    target = folder / where
    target.parent.mkdir(exist_ok=True)
    if target.exists():
        target.unlink()
    os.symlink(secret, target)
    with pytest.raises(KerasFileError, match=rf"'{where}' is a symbolic link"):
        kerasish.load_model(folder)


def test_a_linked_assets_folder_is_refused(tmp_path):
    _, folder = _saved(tmp_path)
    os.symlink(tmp_path, folder / "assets")
    with pytest.raises(KerasFileError, match=r"'assets' is a symbolic link"):
        kerasish.load_model(folder)


def test_oversized_files_are_refused_unread(tmp_path, monkeypatch):
    _, folder = _saved(tmp_path)
    monkeypatch.setattr(keras_file, "JSON_LIMIT", 16)
    with pytest.raises(KerasFileError, match=r"'(config|metadata)\.json' holds \d+ bytes, more than the 16"):
        kerasish.load_model(folder)
    monkeypatch.setattr(keras_file, "JSON_LIMIT", 2 ** 20)
    monkeypatch.setattr(keras_file, "WEIGHTS_LIMIT", 64)
    with pytest.raises(KerasFileError, match=r"'model\.weights\.h5' holds \d+ bytes, more than the 64"):
        kerasish.load_model(folder)


def test_damaged_weights_in_a_folder_are_refused(tmp_path):
    _, folder = _saved(tmp_path)
    (folder / "model.weights.h5").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="is not an HDF5 file"):
        kerasish.load_model(folder)
