"""`.keras` files end to end: Keras 3 saves, kerasish loads (and trains on); kerasish saves, Keras 3
loads; checkpoints in Keras's names; hostile archives refused before anything is parsed or run."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import kerasish
from kerasish.saving.keras_file import KerasFileError
from tests.keras_parity import keras_module
from tests.saving.test_keras_config import cnn, mlp, text, transformer

RNG = np.random.default_rng(5)
MODELS = {
    "mlp": (mlp, lambda: [RNG.normal(size=(16, 6)).astype("float32")], "sparse_categorical_crossentropy",
            lambda: RNG.integers(0, 3, 16)),
    "cnn": (cnn, lambda: [RNG.normal(size=(16, 8, 8, 3)).astype("float32")], "mse",
            lambda: RNG.normal(size=(16, 2)).astype("float32")),
    "text": (text, lambda: [np.pad(RNG.integers(1, 20, (16, 4)), ((0, 0), (0, 3))).astype("int32")],
             "binary_crossentropy", lambda: RNG.integers(0, 2, (16, 1)).astype("float32")),
    "transformer": (transformer, lambda: [RNG.normal(size=(16, 5, 8)).astype("float32"),
                                          np.tril(np.ones((16, 5, 5), bool))], "mse",
                    lambda: RNG.normal(size=(16, 5, 8)).astype("float32")),
}


def _x(xs):
    return xs[0] if len(xs) == 1 else xs


@pytest.mark.parametrize("name", MODELS)
def test_a_keras_file_loads_predicts_the_same_and_trains_on(name, tmp_path):
    keras = keras_module()
    build, make_x, loss, make_y = MODELS[name]
    xs, y = make_x(), make_y()
    theirs = build(keras)
    theirs.compile(optimizer="adam", loss=loss, metrics=["mae"] if loss == "mse" else ["accuracy"])
    theirs.fit(_x(xs), y, epochs=2, batch_size=8, verbose=0)
    theirs.save(tmp_path / "k.keras")

    ours = kerasish.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(ours.predict(_x(xs), verbose=0), theirs.predict(_x(xs), verbose=0), atol=1e-5)
    expected = theirs.evaluate(_x(xs), y, verbose=0, return_dict=True)
    got = ours.evaluate(_x(xs), y, verbose=0, return_dict=True)
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-5), key
    history = ours.fit(_x(xs), y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("name", MODELS)
def test_a_kerasish_file_loads_in_keras_with_the_same_predictions(name, tmp_path):
    keras = keras_module()
    build, make_x, loss, make_y = MODELS[name]
    xs, y = make_x(), make_y()
    ours = build(kerasish)
    ours.compile(optimizer="adam", loss=loss)
    ours.fit(_x(xs), y, epochs=1, batch_size=8, verbose=0)
    ours.save(tmp_path / "o.keras")
    with zipfile.ZipFile(tmp_path / "o.keras") as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    theirs = keras.saving.load_model(tmp_path / "o.keras")
    np.testing.assert_allclose(theirs.predict(_x(xs), verbose=0), ours.predict(_x(xs), verbose=0), atol=1e-5)
    # and back again: the file Keras re-saves loads into kerasish unchanged
    theirs.save(tmp_path / "again.keras")
    again = kerasish.load_model(tmp_path / "again.keras")
    np.testing.assert_allclose(again.predict(_x(xs), verbose=0), ours.predict(_x(xs), verbose=0), atol=1e-5)


def test_checkpoints_and_weights_in_keras_names(tmp_path):
    keras = keras_module()
    x, y = MODELS["mlp"][1]()[0], MODELS["mlp"][3]()
    model = mlp(kerasish)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[
        kerasish.callbacks.ModelCheckpoint(str(tmp_path / "ck-{epoch:02d}.keras")),
        kerasish.callbacks.ModelCheckpoint(str(tmp_path / "best.weights.h5"), save_weights_only=True),
    ])
    assert sorted(os.listdir(tmp_path)) == ["best.weights.h5", "ck-01.keras", "ck-02.keras"]
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(kerasish.load_model(tmp_path / "ck-02.keras").predict(x, verbose=0), expected)
    fresh = mlp(kerasish)
    fresh.load_weights(tmp_path / "best.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected)
    other = mlp(kerasish)
    other.load_weights(tmp_path / "ck-02.keras")  # the weights inside a .keras file
    np.testing.assert_allclose(other.predict(x, verbose=0), expected)
    theirs = mlp(keras)
    theirs.load_weights(tmp_path / "best.weights.h5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), expected, atol=1e-6)


# --------------------------------------------------------------------------- hostile archives
def _saved(tmp_path):
    model = mlp(kerasish)
    path = tmp_path / "good.keras"
    model.save(path)
    return path


def _rewrite(src, dst, members):
    """A copy of the archive `src` with `members` ({name: bytes or None to drop}) changed or added."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename not in members:
                zout.writestr(info, zin.read(info))
        for name, data in members.items():
            if data is not None:
                zout.writestr(name, data)
    return dst


def _config(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("config.json"))


def test_a_lambda_in_a_keras_file_is_refused_in_safe_mode_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    config = _config(_saved(tmp_path))
    config["config"]["layers"].insert(1, {
        "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
        "config": {"name": "evil", "function": {"class_name": "__lambda__", "config": {
            "code": "4wAAAAAAAAAAAAAAAAEAAAADAAAA8wYAAAB0AKAAoQBTACkB", "defaults": None, "closure": None}},
            "output_shape": None, "arguments": {}}})
    bad = _rewrite(tmp_path / "good.keras", tmp_path / "bad.keras", {"config.json": json.dumps(config).encode()})
    with pytest.raises(ValueError, match=r"(?i)lambda|bytecode|safe_mode"):
        kerasish.load_model(bad)
    assert not marker.exists()


@pytest.mark.parametrize("module, class_name", [("os", "system"), ("subprocess", "Popen"), ("keras.layers", "Nope")])
def test_unknown_classes_and_modules_are_named_and_never_imported(tmp_path, module, class_name):
    import sys

    config = _config(_saved(tmp_path))
    config["config"]["layers"][0].update(module=module, class_name=class_name)
    bad = _rewrite(tmp_path / "good.keras", tmp_path / "bad.keras", {"config.json": json.dumps(config).encode()})
    before = set(sys.modules)
    with pytest.raises(ValueError, match=class_name):
        kerasish.load_model(bad)
    assert not (set(sys.modules) - before) & {"subprocess", "os.system"}


@pytest.mark.parametrize("member, data, match", [
    ("../evil.txt", b"x", r"points outside the archive"),
    ("/abs/evil.txt", b"x", r"points outside the archive"),
    ("model.pkl", b"\x80\x04K\x01.", r"unexpected member 'model\.pkl'"),
    ("config.json", None, r"has no config\.json member"),
])
def test_bad_members_are_refused_before_parsing(tmp_path, member, data, match):
    bad = _rewrite(_saved(tmp_path), tmp_path / "bad.keras", {member: data})
    with pytest.raises(KerasFileError, match=match):
        kerasish.load_model(bad)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_a_duplicated_config_member_is_refused(tmp_path):
    good = _saved(tmp_path)
    bad = tmp_path / "dup.keras"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        with pytest.warns(UserWarning):
            zout.writestr("config.json", b'{"evil": true}')
    with pytest.raises(KerasFileError, match=r"'config\.json' appears twice"):
        kerasish.load_model(bad)


def test_a_zip_bomb_weights_member_is_refused_without_inflating_it(tmp_path):
    import tracemalloc

    good = _saved(tmp_path)
    bad = tmp_path / "bomb.keras"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename != "model.weights.h5":
                zout.writestr(info.filename, zin.read(info))
        with zout.open("model.weights.h5", "w", force_zip64=True) as f:
            block = bytes(2 ** 20)
            for _ in range(256):  # 256 MiB of zeros, a few hundred KiB compressed
                f.write(block)
    tracemalloc.start()
    with pytest.raises(KerasFileError, match=r"declares \d+ bytes uncompressed from \d+ compressed.*zip bomb"):
        kerasish.load_model(bad)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2 ** 20


def test_a_truncated_weights_member_is_refused_clearly(tmp_path):
    good = _saved(tmp_path)
    with zipfile.ZipFile(good) as zf:
        weights = zf.read("model.weights.h5")
    bad = _rewrite(good, tmp_path / "trunc.keras", {"model.weights.h5": weights[: len(weights) // 2]})
    with pytest.raises((ValueError, OSError), match=r"(?i)truncat|not a valid|HDF5|unable|corrupt"):
        kerasish.load_model(bad)


def test_a_failed_save_leaves_no_file_and_no_temporary_folder(tmp_path):
    import torch

    class Plain(torch.nn.Module):
        def forward(self, x):
            return x

    model = kerasish.Sequential([kerasish.Input((3,)), Plain()])
    with pytest.raises((ValueError, TypeError), match=r"(?i)torch|kerasish"):
        model.save(tmp_path / "m.keras")
    assert os.listdir(tmp_path) == []


def test_a_model_loaded_from_a_keras_file_exports_like_any_other(tmp_path):
    import torch

    keras = keras_module()
    x = MODELS["cnn"][1]()[0]
    theirs = cnn(keras)
    theirs.save(tmp_path / "k.keras")
    ours = kerasish.load_model(tmp_path / "k.keras")
    ours.export(str(tmp_path / "m.pt"), format="torchscript", sample_input=torch.tensor(x[:2]))
    scripted = torch.jit.load(str(tmp_path / "m.pt"))
    np.testing.assert_allclose(scripted(torch.tensor(x)).detach().numpy(), theirs.predict(x, verbose=0), atol=1e-5)
