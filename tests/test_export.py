"""model.export: the exported file, loaded with torch alone, predicts what `predict` does."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch

import kerasish
from kerasish.layers import Dense, Dropout
from kerasish.models import Sequential

X = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
Y = np.arange(16) % 3
# torch deprecates torch.jit; the 'torchscript' format still works and is tested here.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")

HAS_ONNX = all(importlib.util.find_spec(p) is not None for p in ("onnx", "onnxscript"))


@pytest.fixture
def model():
    kerasish.utils.set_random_seed(0)
    # Dropout checks that export runs in eval mode (as predict does).
    m = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dropout(0.5), Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device="cpu")
    m.fit(X, Y, epochs=2, verbose=0)
    return m


def _load(path, format):
    if format == "torchscript":
        return torch.jit.load(path)
    return torch.export.load(path).module()


@pytest.mark.parametrize("format, name", [("torchscript", "model.pt"), ("torch_export", "model.pt2")])
def test_exported_outputs_equal_predict(model, tmp_path, format, name):
    path = tmp_path / name
    model.export(str(path), format=format)
    expected = model.predict(X, verbose=0)
    loaded = _load(str(path), format)
    with torch.no_grad():
        # the default sample input has batch 1: the file must still take any batch size
        got = loaded(torch.from_numpy(X)).numpy()
        one = loaded(torch.from_numpy(X[:1])).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(one, expected[:1], atol=1e-6, rtol=0)
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary file left beside it


@pytest.mark.parametrize("format", ["torchscript", "torch_export"])
def test_conv_batchnorm_model_exports_with_its_moving_statistics(tmp_path, format):
    from kerasish.layers import BatchNormalization, Conv2D, Flatten

    kerasish.utils.set_random_seed(0)
    images = np.random.default_rng(1).normal(size=(12, 6, 6, 1)).astype("float32")
    m = Sequential([Conv2D(3, 3, activation="relu", input_shape=(6, 6, 1)), BatchNormalization(), Flatten(),
                    Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device="cpu")
    m.fit(images, np.arange(12) % 2, epochs=2, batch_size=4, verbose=0)
    path = str(tmp_path / "cnn.bin")
    m.export(path, format=format)
    with torch.no_grad():
        got = _load(path, format)(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(got, m.predict(images, verbose=0), atol=1e-6, rtol=0)


def test_torchscript_with_sample_input_takes_a_full_batch(model, tmp_path):
    path = tmp_path / "model.pt"
    model.export(path, sample_input=X[:4])
    with torch.no_grad():
        got = torch.jit.load(str(path))(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, model.predict(X, verbose=0), atol=1e-6, rtol=0)


def test_export_keeps_training_mode_and_weights(model, tmp_path):
    before = [w.copy() for w in model.get_weights()]
    model.train()
    model.export(tmp_path / "m.pt")
    assert model.training
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_loaded_model_predicts_without_training_setup(model, tmp_path):
    """A saved .kerasish file loads with compile=False and predicts; its export matches."""
    path = tmp_path / "m.kerasish"
    model.save(str(path))
    restored = kerasish.load_model(str(path), compile=False)
    np.testing.assert_allclose(restored.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6, rtol=0)
    restored.export(tmp_path / "r.pt")
    with torch.no_grad():
        got = torch.jit.load(str(tmp_path / "r.pt"))(torch.from_numpy(X[:1])).numpy()
    np.testing.assert_allclose(got, model.predict(X[:1], verbose=0), atol=1e-6, rtol=0)


def test_unknown_format_lists_the_valid_ones(model, tmp_path):
    with pytest.raises(ValueError, match="Unknown export format 'tflite'") as info:
        model.export(tmp_path / "m", format="tflite")
    assert "'torchscript', 'torch_export', 'onnx'" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_close_format_name_gets_a_suggestion(model, tmp_path):
    with pytest.raises(ValueError, match="Did you mean 'torchscript'"):
        model.export(tmp_path / "m", format="torchscrpt")


def test_unknown_input_shape_asks_for_sample_input(tmp_path):
    m = kerasish.Model(torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="without sample_input") as info:
        m.export(tmp_path / "m.pt")
    assert "sample_input=" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_wrapped_module_exports_with_sample_input(tmp_path):
    torch.manual_seed(0)
    m = kerasish.Model(torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh()))
    m.compile(optimizer="sgd", loss="mse", device="cpu")
    m.export(tmp_path / "m.pt2", format="torch_export", sample_input=X[:2])
    with torch.no_grad():
        got = torch.export.load(str(tmp_path / "m.pt2")).module()(torch.from_numpy(X[:2])).numpy()
    np.testing.assert_allclose(got, m.predict(X[:2], verbose=0), atol=1e-6, rtol=0)


def test_bad_sample_input_type(model, tmp_path):
    with pytest.raises(TypeError, match="sample_input must be a NumPy array or torch tensor"):
        model.export(tmp_path / "m.pt", sample_input=[[1.0, 2.0, 3.0, 4.0]])


def test_string_sample_input(model, tmp_path):
    with pytest.raises(TypeError, match="has dtype <U1; expected a numeric array"):
        model.export(tmp_path / "m.pt", sample_input=np.array([["a"] * 4]))


def test_missing_folder(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.export(tmp_path / "missing" / "m.pt")


def test_failed_export_leaves_no_file(model, tmp_path, monkeypatch):
    def broken_save(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch.jit, "save", broken_save)
    with pytest.raises(OSError, match="No space left"):
        model.export(tmp_path / "m.pt")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(HAS_ONNX, reason="onnx and onnxscript are installed")
def test_onnx_without_packages_names_the_pip_command(model, tmp_path):
    with pytest.raises(ImportError, match="pip install onnx onnxscript"):
        model.export(tmp_path / "m.onnx", format="onnx")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not HAS_ONNX, reason="needs `pip install onnx onnxscript`")
def test_onnx_export_writes_a_valid_model(model, tmp_path):
    import onnx

    path = tmp_path / "m.onnx"
    model.export(path, format="onnx")
    onnx.checker.check_model(onnx.load(str(path)))
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path))
        got = session.run(None, {"input": X})[0]
        np.testing.assert_allclose(got, model.predict(X, verbose=0), atol=1e-5, rtol=0)
