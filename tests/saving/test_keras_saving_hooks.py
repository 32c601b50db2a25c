"""Keras's saving hooks in `.keras` and `.weights.h5` files, held against Keras 3 (torch backend).

A layer's `save_own_variables(store)` / `load_own_variables(store)` fill and read its
`<path>/vars` group; `save_assets(dir_path)` / `load_assets(dir_path)` write and read its
`assets/<path>/` folder. The same classes are defined in both libraries; files go both ways.
"""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest

import kerasish
from kerasish.saving import keras_assets
from tests.keras_parity import assert_close, keras_module


def _scaled_dense(lib):
    """A Dense whose output is multiplied by a plain float: the hook stores it as an extra array."""

    @lib.saving.register_keras_serializable(package="hooks_test")
    class ScaledDense(lib.layers.Dense):
        def __init__(self, units, **kwargs):
            super().__init__(units, **kwargs)
            self.scale = 1.0

        def save_own_variables(self, store):
            store["0"] = self.kernel.numpy()
            store["1"] = self.bias.numpy()
            store["scale"] = np.array(self.scale, "float32")

        def load_own_variables(self, store):
            self.kernel.assign(store["0"])  # assigned before the scale is read: a failure halfway
            self.bias.assign(store["1"])
            self.scale = float(store["scale"])

        def call(self, inputs):
            return super().call(inputs) * self.scale

    return ScaledDense


def _model(lib, units=2, scale=1.0):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4), _scaled_dense(lib)(units)])
    model.layers[-1].scale = scale
    return model


def _datasets(data: bytes):
    import h5py

    out = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, np.array(obj)) if hasattr(obj, "shape") else None)
    return out


X = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")


def test_own_variables_hooks_write_keras_file_layout_and_load_both_ways(tmp_path):
    keras = keras_module()
    theirs = _model(keras, scale=2.5)
    ours = _model(kerasish, scale=2.5)
    ours.set_weights(theirs.get_weights())
    theirs.save(str(tmp_path / "theirs.keras"))
    ours.save(str(tmp_path / "ours.keras"))
    def read(name):
        with zipfile.ZipFile(tmp_path / name) as zf:
            return zf.read("model.weights.h5")

    mine, keras_file = _datasets(read("ours.keras")), _datasets(read("theirs.keras"))
    assert sorted(mine) == sorted(keras_file)
    assert "layers/scaled_dense/vars/scale" in mine
    assert_close([mine[k] for k in sorted(mine)], [keras_file[k] for k in sorted(keras_file)])
    expected = keras.ops.convert_to_numpy(theirs(X))
    for name in ("ours.keras", "theirs.keras"):
        for lib in (kerasish, keras):
            _scaled_dense(lib)
            restored = lib.saving.load_model(str(tmp_path / name))
            assert restored.layers[-1].scale == 2.5, (name, lib.__name__)
            assert_close(lib.ops.convert_to_numpy(restored(X)), expected, atol=1e-6)


def test_save_weights_and_load_weights_call_the_hooks_both_ways(tmp_path):
    keras = keras_module()
    ours, theirs = _model(kerasish, scale=3.0), _model(keras, scale=3.0)
    ours.set_weights(theirs.get_weights())
    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    theirs.save_weights(str(tmp_path / "theirs.weights.h5"))
    for name in ("ours.weights.h5", "theirs.weights.h5"):
        for lib in (kerasish, keras):
            fresh = _model(lib, scale=1.0)
            fresh.load_weights(str(tmp_path / name))
            assert fresh.layers[-1].scale == 3.0
            assert_close(fresh.get_weights(), theirs.get_weights())


def _unchanged(model, before, scale):
    assert_close(model.get_weights(), before, atol=0, rtol=0)
    assert model.layers[-1].scale == scale


def test_a_file_without_the_hooks_key_is_refused_before_any_weight_changes(tmp_path):
    import h5py

    keras = keras_module()
    _model(keras).save_weights(str(tmp_path / "plain.weights.h5"))
    with h5py.File(tmp_path / "plain.weights.h5", "a") as f:
        del f["layers/scaled_dense/vars/scale"]  # no 'scale' where the hook reads it
    ours = _model(kerasish, scale=1.5)
    before = ours.get_weights()
    with pytest.raises(ValueError, match=r"layer 'scaled_dense' \(ScaledDense\): its load_own_variables\(\) failed "
                                         r"on the weights at 'layers/scaled_dense/vars': KeyError: layer "
                                         r"'scaled_dense' asked for 'scale'.*The file holds \['0', '1'\] there\. "
                                         r"No weight was changed"):
        ours.load_weights(str(tmp_path / "plain.weights.h5"))
    _unchanged(ours, before, 1.5)  # the hook had assigned kernel and bias: both were put back, Dense untouched
    with pytest.raises(ValueError, match=r"(?s)could not be loaded.*'scale'"):  # Keras refuses the file too
        _model(keras).load_weights(str(tmp_path / "plain.weights.h5"))


def test_a_hook_value_of_another_shape_is_refused_and_changes_nothing(tmp_path):
    keras = keras_module()
    _model(keras, units=3).save_weights(str(tmp_path / "wide.weights.h5"))
    ours = _model(kerasish, units=2, scale=1.5)
    before = ours.get_weights()
    with pytest.raises(ValueError, match=r"'layers/scaled_dense/vars': ValueError: Variable .*has shape \(4, 2\); "
                                         r"assign\(\) received a value of shape \(4, 3\)"):
        ours.load_weights(str(tmp_path / "wide.weights.h5"))
    _unchanged(ours, before, 1.5)


def test_skip_mismatch_keeps_a_failing_hooks_layer_and_loads_the_rest(tmp_path):
    keras = keras_module()
    source = _model(keras, units=3)
    source.save_weights(str(tmp_path / "wide.weights.h5"))
    ours = _model(kerasish, units=2, scale=1.5)
    before = ours.get_weights()
    with pytest.warns(UserWarning, match=r"Skipping layer 'scaled_dense'.*keeps its current weights"):
        ours.load_weights(str(tmp_path / "wide.weights.h5"), skip_mismatch=True)
    assert_close(ours.get_weights()[:2], source.get_weights()[:2])  # the Dense before it loaded
    assert_close(ours.get_weights()[2:], before[2:], atol=0, rtol=0)


@pytest.mark.parametrize("key, value, message", [
    ("words", np.array(["a", "b"]), (r"stored 'words' with dtype <U1 \(ndarray\); the weights file holds "
                                     r"numeric arrays only\. .*save_assets")),
    ("a/b", np.zeros(2), r"stored a value under key='a/b'; expected a non-empty string without '/'"),
])
def test_the_store_refuses_what_a_weights_file_cannot_hold(tmp_path, key, value, message):
    class Storing(kerasish.layers.Dense):
        def save_own_variables(self, store):
            store[key] = value

    model = kerasish.Sequential([kerasish.Input((3,)), Storing(2)])
    with pytest.raises(ValueError, match=message):
        model.save(str(tmp_path / "m.keras"))
    assert not (tmp_path / "m.keras").exists()


def test_a_load_hook_cannot_write_into_the_file_store(tmp_path):
    class Writing(kerasish.layers.Dense):
        def save_own_variables(self, store):
            store["0"], store["1"] = self.kernel.numpy(), self.bias.numpy()

        def load_own_variables(self, store):
            store["0"] = np.zeros(1)

    model = kerasish.Sequential([kerasish.Input((3,)), Writing(2)])
    model.save_weights(str(tmp_path / "w.weights.h5"))
    with pytest.raises(ValueError, match=r"load_own_variables\(\) tried to set '0' in the store it reads from"):
        model.load_weights(str(tmp_path / "w.weights.h5"))


def _asset_layers(lib):
    @lib.saving.register_keras_serializable(package="hooks_test")
    class WithTable(lib.layers.Dense):
        """Writes a text file and a binary file in a subfolder; reads them back."""

        def __init__(self, units, table="", **kwargs):
            super().__init__(units, **kwargs)
            self.table = table
            self.codes = None

        def save_assets(self, dir_path):
            with open(os.path.join(dir_path, "table.txt"), "w") as f:
                f.write(self.table)
            os.makedirs(os.path.join(dir_path, "bin"))
            np.arange(4, dtype="int16").tofile(os.path.join(dir_path, "bin", "codes.raw"))

        def load_assets(self, dir_path):
            with open(os.path.join(dir_path, "table.txt")) as f:
                self.table = f.read().upper()
            self.codes = np.fromfile(os.path.join(dir_path, "bin", "codes.raw"), dtype="int16").tolist()

    @lib.saving.register_keras_serializable(package="hooks_test")
    class Silent(lib.layers.Dense):
        """Writes nothing: Keras gives its load_assets None."""

        def save_assets(self, dir_path):
            pass

        def load_assets(self, dir_path):
            self.received = dir_path

    return WithTable, Silent


def _asset_model(lib):
    with_table, silent = _asset_layers(lib)
    return lib.Sequential([lib.Input((3,)), with_table(2, table="a b c"), silent(1)])


def test_assets_hooks_write_keras_members_and_load_both_ways(tmp_path):
    keras = keras_module()
    _asset_model(kerasish).save(str(tmp_path / "ours.keras"))
    _asset_model(keras).save(str(tmp_path / "theirs.keras"))

    def assets(name):
        with zipfile.ZipFile(tmp_path / name) as zf:
            return {n: zf.read(n) for n in zf.namelist() if n.startswith("assets/")}

    assert assets("ours.keras") == assets("theirs.keras")
    assert sorted(assets("ours.keras")) == ["assets/layers/with_table/bin/codes.raw",
                                            "assets/layers/with_table/table.txt"]
    for name in ("ours.keras", "theirs.keras"):
        for lib in (kerasish, keras):
            _asset_layers(lib)
            restored = lib.saving.load_model(str(tmp_path / name))
            assert restored.layers[0].table == "A B C" and restored.layers[0].codes == [0, 1, 2, 3]
            assert restored.layers[1].received is None, (name, lib.__name__)


def test_assets_hooks_in_a_folder_save(tmp_path):
    _asset_model(kerasish).save(str(tmp_path / "folder"), zipped=False)
    assert (tmp_path / "folder" / "assets" / "layers" / "with_table" / "table.txt").read_text() == "a b c"
    assert kerasish.saving.load_model(str(tmp_path / "folder")).layers[0].table == "A B C"


def test_an_asset_over_the_limit_is_refused_unread(tmp_path, monkeypatch):
    _asset_model(kerasish).save(str(tmp_path / "m.keras"))
    monkeypatch.setattr(keras_assets, "ASSET_LIMIT", 4)
    with pytest.raises(ValueError, match=r"the member 'assets/layers/with_table/bin/codes.raw' declares 8 bytes, "
                                         r"more than the 4 its role allows"):
        kerasish.saving.load_model(str(tmp_path / "m.keras"))


def test_a_failing_load_assets_names_its_layer_and_folder(tmp_path):
    _asset_model(kerasish).save(str(tmp_path / "m.keras"))
    with zipfile.ZipFile(tmp_path / "m.keras") as src, zipfile.ZipFile(tmp_path / "cut.keras", "w") as dst:
        for name in src.namelist():
            if not name.endswith("table.txt"):
                dst.writestr(name, src.read(name))
    with pytest.raises(ValueError, match=r"load_assets\(\) of layer 'with_table' \(WithTable\) failed on "
                                         r"'assets/layers/with_table/' \(FileNotFoundError: .*table.txt"):
        kerasish.saving.load_model(str(tmp_path / "cut.keras"))


def test_kerasish_format_still_refuses_the_hooks_and_names_the_keras_format(tmp_path):
    model = _model(kerasish)
    with pytest.raises(ValueError, match=r"ScaledDense defines save_own_variables\(\), load_own_variables\(\), "
                                         r"which kerasish's own '.kerasish' files never call.*model.save\('model.keras'\)"):
        model.save(str(tmp_path / "m.kerasish"))
    assert not (tmp_path / "m.kerasish").exists()
