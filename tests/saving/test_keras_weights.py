"""Keras 3's `.weights.h5`, both ways: every catalogue layer and a few whole models are saved by
Keras and loaded by kerasish, then saved by kerasish and loaded by Keras, with the outputs
compared each time; plus the errors for files that do not fit or cannot be trusted."""

from __future__ import annotations

import os
import zipfile
from typing import Any, Callable, List

import h5py
import numpy as np
import pytest
import torch

import kerasish
from kerasish.saving.keras_paths import keras_weight_paths
from kerasish.saving.keras_weights import keras_weights_bytes, read_keras_weights, write_keras_weights
from tests.keras_parity import assert_close, keras_module, to_numpy
from tests.layers.test_layer_catalogue import CASES, _data, _model, _outputs

ATOL = 1e-5


def _redraw(model: Any, rng: np.random.Generator) -> None:
    """New random float weights (variances kept positive) so that a load is really observed."""
    new = []
    for w in model.get_weights():
        if not np.issubdtype(w.dtype, np.floating):
            new.append(w)
        else:
            new.append(rng.uniform(0.5, 1.5, size=w.shape).astype(w.dtype))
    model.set_weights(new)


def _datasets(path: Any) -> List[str]:
    out: List[str] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(out)


# --------------------------------------------------------------------------- every catalogue layer
# The catalogue's known mismatches with Keras are its own business: its marks are dropped here.
_CATALOGUE = [pytest.param(p.values[0], id=p.id) for p in CASES]


@pytest.mark.parametrize("c", _CATALOGUE)
def test_catalogue_layer_both_ways(c: Any, tmp_path: Any) -> None:
    keras = keras_module()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    theirs_model, theirs = _model(keras, c)
    ours_model, ours = _model(kerasish, c)
    xs = _data(c, rng)

    # (a) Keras writes, kerasish reads.
    _redraw(theirs, rng)
    keras_file = tmp_path / "keras.weights.h5"
    theirs_model.save_weights(keras_file)
    read_keras_weights(ours_model, keras_file)
    assert_close(ours.get_weights(), theirs.get_weights(), atol=0, rtol=0)
    if c.outputs:
        assert_close(_outputs(ours_model, xs), _outputs(theirs_model, xs), atol=ATOL, rtol=ATOL)

    # (b) kerasish writes, Keras reads (into the same Keras model, whose weights then change).
    _redraw(ours, rng)
    ours_file = tmp_path / "ours.weights.h5"
    write_keras_weights(ours_model, ours_file)
    assert _datasets(ours_file) == _datasets(keras_file)
    theirs_model.load_weights(ours_file)
    assert_close(theirs.get_weights(), ours.get_weights(), atol=0, rtol=0)
    if c.outputs:
        assert_close(_outputs(theirs_model, xs), _outputs(ours_model, xs), atol=ATOL, rtol=ATOL)


# --------------------------------------------------------------------------- whole models
def _mlp(lib: Any) -> Any:
    L = lib.layers
    return lib.Sequential([lib.Input((6,)), L.Dense(8, activation="relu"), L.Dropout(0.2), L.Dense(8),
                           L.Dense(3, activation="softmax")])


def _cnn(lib: Any) -> Any:
    L = lib.layers
    x = inputs = lib.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(6, 3)(x)
    x = L.BatchNormalization()(x)
    x = L.GlobalAveragePooling2D()(x)
    return lib.Model(inputs, L.Dense(2)(x))


def _bilstm(lib: Any) -> Any:
    L = lib.layers
    inputs = lib.Input((7,), dtype="int32")
    x = L.Embedding(20, 5, mask_zero=True)(inputs)
    x = L.Bidirectional(L.LSTM(4, return_sequences=True))(x)
    x = L.Bidirectional(L.GRU(3))(x)
    return lib.Model(inputs, L.Dense(1, activation="sigmoid")(x))


def _transformer(lib: Any) -> Any:
    L = lib.layers
    inputs = lib.Input((5, 8))
    attended = L.MultiHeadAttention(num_heads=2, key_dim=4)(inputs, inputs)
    x = L.LayerNormalization()(L.Add()([inputs, attended]))
    ffn = lib.Sequential([L.Dense(16, activation="relu"), L.Dense(8)])
    x = L.LayerNormalization()(L.Add()([x, ffn(x)]))
    return lib.Model(inputs, L.Dense(2)(L.GlobalAveragePooling1D()(x)))


def _nested(lib: Any) -> Any:
    L = lib.layers
    inner_in = lib.Input((4,))
    inner = lib.Model(inner_in, L.Dense(3)(L.Dense(5, activation="tanh")(inner_in)))
    head = lib.Sequential([lib.Input((3,)), L.Dense(2)])
    inputs = lib.Input((4,))
    return lib.Model(inputs, L.Dense(2)(head(inner(inputs))))


_MODELS = {
    "sequential_mlp": (_mlp, lambda rng: rng.standard_normal((3, 6)).astype("float32")),
    "functional_cnn_batchnorm": (_cnn, lambda rng: rng.standard_normal((3, 8, 8, 3)).astype("float32")),
    "bilstm_text": (_bilstm, lambda rng: rng.integers(0, 20, size=(3, 7)).astype("int32")),
    "transformer_block": (_transformer, lambda rng: rng.standard_normal((3, 5, 8)).astype("float32")),
    "model_in_model": (_nested, lambda rng: rng.standard_normal((3, 4)).astype("float32")),
}


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    return to_numpy(model(torch.as_tensor(x), training=False))


@pytest.mark.parametrize("name", sorted(_MODELS))
def test_model_both_ways(name: str, tmp_path: Any) -> None:
    keras = keras_module()
    build, data = _MODELS[name]
    rng = np.random.default_rng(1)
    keras.backend.clear_session(free_memory=False)
    theirs = build(keras)
    ours = build(kerasish)
    x = data(rng)

    _redraw(theirs, rng)
    theirs.save_weights(tmp_path / "keras.weights.h5")
    read_keras_weights(ours, tmp_path / "keras.weights.h5")
    assert_close(_predict(ours, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)

    _redraw(ours, rng)
    write_keras_weights(ours, tmp_path / "ours.weights.h5")
    assert _datasets(tmp_path / "ours.weights.h5") == _datasets(tmp_path / "keras.weights.h5")
    fresh = build(keras)  # other layer names, same structure: paths do not depend on names
    fresh.load_weights(tmp_path / "ours.weights.h5")
    assert_close(_predict(fresh, x), _predict(ours, x), atol=ATOL, rtol=ATOL)


def test_subclassed_model_paths_match_keras(tmp_path: Any) -> None:
    keras = keras_module()

    def make(lib: Any) -> Any:
        class Tower(lib.Model):
            def __init__(self) -> None:
                super().__init__()
                self.stem = lib.layers.Dense(4)
                self.blocks = [lib.layers.Dense(4), lib.layers.Dense(4)]
                self._head = lib.layers.Dense(2)  # private: Keras reaches it through `layers` first

            def call(self, x: Any) -> Any:
                x = self.stem(x)
                for block in self.blocks:
                    x = block(x)
                return self._head(x)

        model = Tower()
        model(torch.zeros(1, 3))
        return model

    theirs, ours = make(keras), make(kerasish)
    x = np.random.default_rng(2).standard_normal((2, 3)).astype("float32")
    theirs.save_weights(tmp_path / "k.weights.h5")
    read_keras_weights(ours, tmp_path / "k.weights.h5")
    assert_close(_predict(ours, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)
    write_keras_weights(ours, tmp_path / "o.weights.h5")
    assert _datasets(tmp_path / "o.weights.h5") == _datasets(tmp_path / "k.weights.h5")


def test_custom_layer_with_torch_modules_both_ways(tmp_path: Any) -> None:
    # Keras wraps a plain torch module set on a layer in a TorchModuleWrapper, stored by state_dict keys
    # (integer buffers such as BatchNorm1d's num_batches_tracked included).
    keras = keras_module()

    def make(lib: Any) -> Any:
        class Mixed(lib.layers.Layer):
            def __init__(self) -> None:
                super().__init__()
                self.proj = torch.nn.Linear(3, 2)
                self.stats = torch.nn.BatchNorm1d(2)  # state only: not called
                self.dense = lib.layers.Dense(2)

            def build(self, input_shape: Any) -> None:
                self.scale = self.add_weight(shape=(2,), initializer="ones")

            def call(self, x: Any) -> Any:
                return self.dense(self.proj(x)) * self.scale

        inputs = lib.Input((3,))
        model = lib.Model(inputs, Mixed()(inputs))
        stats = model.layers[1].stats
        return model, getattr(stats, "module", stats)  # Keras holds the wrapper

    (theirs, their_bn), (ours, our_bn) = make(keras), make(kerasish)
    rng = np.random.default_rng(6)
    _redraw(theirs, rng)
    with torch.no_grad():
        their_bn.running_mean.copy_(torch.tensor([0.25, -2.0]))
        their_bn.num_batches_tracked.fill_(7)
    x = rng.standard_normal((2, 3)).astype("float32")
    theirs.save_weights(tmp_path / "k.weights.h5")
    read_keras_weights(ours, tmp_path / "k.weights.h5")
    assert_close(_predict(ours, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)
    assert_close(our_bn.running_mean, [0.25, -2.0])
    assert int(our_bn.num_batches_tracked) == 7

    _redraw(ours, rng)
    with torch.no_grad():
        our_bn.running_var.fill_(3.0)
    write_keras_weights(ours, tmp_path / "o.weights.h5")
    assert _datasets(tmp_path / "o.weights.h5") == _datasets(tmp_path / "k.weights.h5")
    theirs.load_weights(tmp_path / "o.weights.h5")
    assert_close(_predict(theirs, x), _predict(ours, x), atol=ATOL, rtol=ATOL)
    assert_close(their_bn.running_var, [3.0, 3.0])


def test_bfloat16_weights_both_ways(tmp_path: Any) -> None:
    # Keras stores bfloat16 variables as 2-byte opaque values marked dtype='bfloat16'.
    keras = keras_module()
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, dtype="bfloat16"), keras.layers.Dense(2)])
    ours = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(4, dtype="bfloat16"),
                                kerasish.layers.Dense(2)])
    assert ours.layers[0].kernel.dtype == torch.bfloat16
    rng = np.random.default_rng(8)
    theirs.layers[0].set_weights([rng.standard_normal((3, 4)), rng.standard_normal(4)])
    theirs.save_weights(tmp_path / "k.weights.h5")
    read_keras_weights(ours, tmp_path / "k.weights.h5")
    expected = [to_numpy(getattr(v, "value", v).float()) for v in theirs.layers[0].weights]
    assert_close([w.float() for w in ours.layers[0].weights], expected, atol=0, rtol=0)

    with torch.no_grad():
        ours.layers[0].kernel.fill_(1.5)
    write_keras_weights(ours, tmp_path / "o.weights.h5")
    with h5py.File(tmp_path / "o.weights.h5", "r") as f:
        assert f["layers/dense/vars/0"].attrs["dtype"] == "bfloat16"
    theirs.load_weights(tmp_path / "o.weights.h5")
    assert_close(getattr(theirs.layers[0].kernel, "value").float(), np.full((3, 4), 1.5), atol=0, rtol=0)


def test_keras_archive_member_loads(tmp_path: Any) -> None:
    keras = keras_module()
    theirs, ours = _mlp(keras), _mlp(kerasish)
    _redraw(theirs, np.random.default_rng(3))
    theirs.save(tmp_path / "model.keras")
    read_keras_weights(ours, tmp_path / "model.keras")
    x = np.random.default_rng(4).standard_normal((2, 6)).astype("float32")
    assert_close(_predict(ours, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)
    # The bytes a .keras writer stores load from bytes too.
    again = _mlp(kerasish)
    read_keras_weights(again, keras_weights_bytes(ours))
    assert_close(_predict(again, x), _predict(ours, x), atol=0, rtol=0)


def test_weight_paths_of_one_layer_follow_keras() -> None:
    keras = keras_module()
    ours = kerasish.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    ours(torch.zeros(1, 4, 5), torch.zeros(1, 4, 5))
    theirs = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    theirs(np.zeros((1, 4, 5), "float32"), np.zeros((1, 4, 5), "float32"))
    expected = [(f"{d}_dense/vars", k) for d in ("query", "key", "value", "output") for k in ("0", "1")]
    assert keras_weight_paths(ours) == expected
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]


# --------------------------------------------------------------------------- mismatches
def _dense_model(lib: Any, units: int) -> Any:
    return lib.Sequential([lib.Input((3,)), lib.layers.Dense(4), lib.layers.Dense(units)])


def test_shape_mismatch_names_layer_path_and_shapes(tmp_path: Any) -> None:
    keras = keras_module()
    _dense_model(keras, 2).save_weights(tmp_path / "k.weights.h5")
    ours = _dense_model(kerasish, 5)
    before = ours.get_weights()
    with pytest.raises(ValueError, match=r"'layers/dense_1/vars/0' has shape \(4, 2\) in the file, the model's "
                                         r"weight has shape \(4, 5\).*skip_mismatch=True"):
        read_keras_weights(ours, tmp_path / "k.weights.h5")
    assert_close(ours.get_weights(), before, atol=0, rtol=0)  # nothing changed


def test_skip_mismatch_loads_what_fits_and_warns(tmp_path: Any) -> None:
    keras = keras_module()
    theirs = _dense_model(keras, 2)
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours = _dense_model(kerasish, 5)
    last_before = ours.layers[1].get_weights()
    with pytest.warns(UserWarning, match=r"Skipping 1 layer\(s\).*dense_1"):
        read_keras_weights(ours, tmp_path / "k.weights.h5", skip_mismatch=True)
    assert_close(ours.layers[0].get_weights(), theirs.layers[0].get_weights(), atol=0, rtol=0)
    assert_close(ours.layers[1].get_weights(), last_before, atol=0, rtol=0)


def test_missing_layer_in_file_is_named(tmp_path: Any) -> None:
    keras = keras_module()
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]).save_weights(tmp_path / "k.weights.h5")
    with pytest.raises(ValueError, match=r"no weights at 'layers/dense_1/vars'"):
        read_keras_weights(_dense_model(kerasish, 2), tmp_path / "k.weights.h5")


def test_extra_layer_in_file_is_named(tmp_path: Any) -> None:
    keras = keras_module()
    _dense_model(keras, 2).save_weights(tmp_path / "k.weights.h5")
    ours = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(4)])
    with pytest.raises(ValueError, match=r"weights at 'layers/dense_1/vars' \(2 datasets\) where the model has none"):
        read_keras_weights(ours, tmp_path / "k.weights.h5")


def test_different_number_of_weights_in_a_layer_is_named(tmp_path: Any) -> None:
    keras = keras_module()
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save_weights(tmp_path / "k.weights.h5")
    ours = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(2, use_bias=False)])
    with pytest.raises(ValueError, match=r"the file has datasets \['0', '1'\] at 'layers/dense/vars', the model "
                                         r"expects \['0'\]"):
        read_keras_weights(ours, tmp_path / "k.weights.h5")


def test_links_in_the_file_are_refused(tmp_path: Any) -> None:
    ours = _dense_model(kerasish, 2)
    path = tmp_path / "w.weights.h5"
    write_keras_weights(ours, path)
    with h5py.File(path, "a") as f:
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = h5py.SoftLink("/layers/dense_1/vars/1")
    with pytest.raises(ValueError, match=r"holds a SoftLink at 'layers/dense/vars/1'"):
        read_keras_weights(ours, path)


def test_dtype_mismatch_is_named(tmp_path: Any) -> None:
    ours = _dense_model(kerasish, 2)
    path = tmp_path / "w.weights.h5"
    write_keras_weights(ours, path)
    with h5py.File(path, "a") as f:
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = np.zeros((4,), "int32")
    with pytest.raises(ValueError, match=r"'layers/dense/vars/1' has dtype int32 in the file, the model's weight "
                                         r"is float32"):
        read_keras_weights(ours, path)


def test_optimizer_variables_of_a_compiled_keras_model_are_not_read(tmp_path: Any) -> None:
    keras = keras_module()
    theirs = _dense_model(keras, 2)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.fit(np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    theirs.save_weights(tmp_path / "k.weights.h5")
    assert any(p.startswith("optimizer/") for p in _datasets(tmp_path / "k.weights.h5"))
    ours = _dense_model(kerasish, 2)
    read_keras_weights(ours, tmp_path / "k.weights.h5")
    assert_close(ours.get_weights(), theirs.get_weights(), atol=0, rtol=0)


# --------------------------------------------------------------------------- files that are not right
def test_truncated_file_is_refused_and_nothing_changes(tmp_path: Any) -> None:
    ours = _dense_model(kerasish, 2)
    data = keras_weights_bytes(ours)
    path = tmp_path / "cut.weights.h5"
    path.write_bytes(data[: len(data) // 2])
    before = ours.get_weights()
    _redraw(ours, np.random.default_rng(5))
    changed = ours.get_weights()
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_keras_weights(ours, path)
    assert_close(ours.get_weights(), changed, atol=0, rtol=0)
    assert not np.allclose(before[0], changed[0])


def test_huge_declared_dataset_is_refused_before_reading(tmp_path: Any) -> None:
    ours = _dense_model(kerasish, 2)
    path = tmp_path / "bomb.weights.h5"
    write_keras_weights(ours, path)
    with h5py.File(path, "a") as f:
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=(1 << 31,), dtype="float32", chunks=(1 << 20,),
                         compression="gzip", fillvalue=0.0)
    assert os.path.getsize(path) < 1 << 20
    with pytest.raises(ValueError, match=r"'layers/dense/vars/0' declares shape \(2147483648,\) \(8589934592 bytes\) "
                                         r"but the file holds only \d+ bytes"):
        read_keras_weights(ours, path)


def test_legacy_tf_keras_h5_says_how_to_convert(tmp_path: Any) -> None:
    path = tmp_path / "legacy.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"dense"]
        f.create_group("dense").attrs["weight_names"] = [b"dense/kernel:0"]
    with pytest.raises(ValueError, match=r"legacy tf.keras HDF5 weights file.*model\.load_weights\(path\) "
                                         r"under a name ending in '\.h5'"):
        read_keras_weights(_dense_model(kerasish, 2), path)


def test_other_hdf5_and_non_hdf5_files_are_refused(tmp_path: Any) -> None:
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["table"] = np.arange(3)
    with pytest.raises(ValueError, match=r"HDF5 but not Keras 3's weights layout.*\['table'\]"):
        read_keras_weights(_dense_model(kerasish, 2), other)
    text = tmp_path / "notes.weights.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="is not an HDF5 file"):
        read_keras_weights(_dense_model(kerasish, 2), text)
    with pytest.raises(FileNotFoundError, match="No weights file at"):
        read_keras_weights(_dense_model(kerasish, 2), tmp_path / "absent.weights.h5")
    archive = tmp_path / "model.keras"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(ValueError, match=r"without a 'model.weights.h5' member"):
        read_keras_weights(_dense_model(kerasish, 2), archive)


def test_failed_save_writes_nothing(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keep.weights.h5"
    path.write_bytes(b"old contents")
    calls: List[int] = []
    original: Callable[..., Any] = h5py.Group.create_dataset

    def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="simulated"):
        write_keras_weights(_dense_model(kerasish, 2), path)
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["keep.weights.h5"]


def test_save_refuses_wrong_suffix_and_unbuilt_model(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match=r"must end in '.weights.h5', received path=.*w.h5"):
        write_keras_weights(_dense_model(kerasish, 2), tmp_path / "w.h5")
    unbuilt = kerasish.Sequential([kerasish.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built yet"):
        write_keras_weights(unbuilt, tmp_path / "w.weights.h5")
    assert os.listdir(tmp_path) == []


def test_tf_idf_lookup_is_refused_by_name(tmp_path: Any) -> None:
    lookup = kerasish.layers.StringLookup(vocabulary=["a", "b"], output_mode="tf_idf", idf_weights=[0.5, 0.2],
                                          name="words")
    with pytest.raises(ValueError, match=r"Layer 'words' \(StringLookup, output_mode='tf_idf'\)"):
        write_keras_weights(lookup, tmp_path / "w.weights.h5")
    assert os.listdir(tmp_path) == []
