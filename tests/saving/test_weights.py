import numpy as np
import pytest
import torch

from kerasish import Model
from kerasish.saving import load_weights, save_weights
from kerasish.saving.weights import read_metadata, tensors_from_bytes, tensors_to_bytes
from tests.saving.conftest import make_data, make_model, payload_bytes


def test_round_trip_with_state_dict_keys(tmp_path):
    x, _ = make_data()
    model = make_model()
    path = str(tmp_path / "w.safetensors")
    model.save_weights(path)
    other = make_model()
    other.load_weights(path)
    assert np.array_equal(model.predict(x, verbose=0), other.predict(x, verbose=0))
    from safetensors.torch import load_file

    assert list(load_file(path)) == sorted(model.state_dict())  # plain safetensors, readable anywhere


def test_shape_mismatch_names_the_key_and_both_shapes(tmp_path):
    path = str(tmp_path / "w.safetensors")
    make_model(units=4).save_weights(path)
    with pytest.raises(ValueError, match=r"Shape mismatch for weight 'layers\.dense_\d+\.kernel' \(saved as "
                                         r"'layers\.dense(_\d+)?\.kernel'\).*model has shape \(3, 8\), the file has "
                                         r"shape \(3, 4\)"):
        make_model(units=8).load_weights(path)


def test_different_structure_lists_missing_and_unexpected_keys(tmp_path):
    path = str(tmp_path / "w.safetensors")
    save_weights(torch.nn.Linear(3, 1), path)
    with pytest.raises(ValueError, match=r"do not match model .*missing from the file: \['layers\..*not in the model: "
                                         r"\['weight', 'bias'\]\. Expected the keys of model\.state_dict\(\)"):
        make_model().load_weights(path)


def test_nothing_changes_when_a_check_fails(tmp_path):
    path = str(tmp_path / "w.safetensors")
    make_model(units=4).save_weights(path)
    model = make_model(units=8)
    before = [t.clone() for t in model.state_dict().values()]
    with pytest.raises(ValueError, match="Shape mismatch"):
        model.load_weights(path)
    assert all(torch.equal(a, b) for a, b in zip(before, model.state_dict().values()))


def test_wrapped_torch_module_saves_and_loads_weights(tmp_path):
    x, _ = make_data()
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    model = Model(net)
    path = str(tmp_path / "w.safetensors")
    model.save_weights(path)
    other = Model(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)))
    other.load_weights(path)
    assert np.array_equal(model.predict(x, verbose=0), other.predict(x, verbose=0))


def test_pickle_disguised_as_safetensors_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "w.safetensors"
    path.write_bytes(payload_bytes(marker))
    with pytest.raises(ValueError, match=r"not a valid safetensors payload .*starts like a Python pickle"):
        make_model().load_weights(str(path))
    assert not marker.exists()


def test_truncated_weights_file(tmp_path):
    path = tmp_path / "w.safetensors"
    make_model().save_weights(str(path))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"not a valid safetensors payload .*truncated, corrupt"):
        load_weights(make_model(), str(path))


@pytest.mark.parametrize("call, name, error, message", [
    ("save", "w.h5", ValueError, r"Legacy tf\.keras HDF5 files .*model\.save_weights\('model\.weights\.h5'\)"),
    ("save", "w.keras", ValueError, r"save_weights writes weights files; '.*w\.keras' names a whole-model file"),
    ("load", "w.npz", ValueError, r"weights file path must end in one of '\.weights\.h5' .*received filepath="),
    ("load", "missing.safetensors", FileNotFoundError, r"No weights file at '.*missing\.safetensors'"),
])
def test_path_errors(tmp_path, call, name, error, message):
    path = tmp_path / name
    if call == "load" and name.endswith(".npz"):
        path.write_bytes(b"x")
    with pytest.raises(error, match=message):
        (save_weights if call == "save" else load_weights)(make_model(), str(path))


def test_overwrite_false(tmp_path):
    path = str(tmp_path / "w.safetensors")
    save_weights(make_model(), path)
    with pytest.raises(FileExistsError, match=r"already exists and overwrite=False"):
        save_weights(make_model(), path, overwrite=False)


def test_key_order_is_kept_in_metadata():
    tensors = {"b": torch.zeros(2), "a": torch.ones(3, dtype=torch.int64)}
    data = tensors_to_bytes(tensors)
    assert list(tensors_from_bytes(data, "test")) == ["b", "a"]
    assert read_metadata(data)["kerasish_key_order"] == '["b", "a"]'
    assert read_metadata(b"short") == {}
