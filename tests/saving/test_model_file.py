import json
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

import kerasish
from kerasish import Model
from kerasish.saving import load_model, register_serializable, save_model
from tests.saving.conftest import make_data, make_model, payload_bytes


def test_save_load_predict_identical(tmp_path):
    x, y = make_data()
    model = make_model()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "model.kerasish"
    model.save(str(path))
    restored = kerasish.load_model(str(path))
    assert type(restored).__name__ == "Sequential"
    assert np.array_equal(model.predict(x, verbose=0), restored.predict(x, verbose=0))
    assert restored.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)  # same loss and metric names
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["config.json", "model.safetensors", "optimizer.safetensors", "optimizer.json"]
        config = json.loads(zf.read("config.json"))
    assert config["compile"]["optimizer"]["class_name"] == "Adam"
    assert (config["compile"]["loss"], config["compile"]["metrics"]) == ("mse", ["mae"])


def test_save_load_then_fit_continues_like_an_uninterrupted_run(tmp_path):
    x, y = make_data()
    uninterrupted = make_model()
    uninterrupted.fit(x, y, epochs=2, batch_size=8, verbose=0)
    kerasish.utils.set_random_seed(1)  # the same shuffle order for the second part in both runs
    expected = uninterrupted.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, verbose=0).history["loss"]

    kerasish.utils.set_random_seed(0)
    first = make_model()
    first.fit(x, y, epochs=2, batch_size=8, verbose=0)
    first.save(str(tmp_path / "m.kerasish"))
    resumed = load_model(str(tmp_path / "m.kerasish"))
    kerasish.utils.set_random_seed(1)
    got = resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=8, verbose=0).history["loss"]
    assert got == expected
    state_a, state_b = uninterrupted.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert state_a["param_groups"] == state_b["param_groups"]
    for pid, entry in state_a["state"].items():
        for key, value in entry.items():
            assert torch.equal(value, state_b["state"][pid][key])


def test_torch_optimizer_state_round_trips(tmp_path):
    x, y = make_data()
    model = make_model()
    model.compile(optimizer=torch.optim.SGD, loss="mse", device="cpu")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(str(tmp_path / "m.kerasish"))
    restored = load_model(str(tmp_path / "m.kerasish"))
    assert type(restored.optimizer.torch_optimizer) is torch.optim.SGD
    assert restored.optimizer.state_dict()["param_groups"] == model.optimizer.state_dict()["param_groups"]


def test_uncompiled_and_compile_false(tmp_path):
    model = make_model()
    model.save(str(tmp_path / "m.kerasish"))
    assert load_model(str(tmp_path / "m.kerasish"), compile=False).compiled is False
    assert load_model(str(tmp_path / "m.kerasish")).compiled is True
    from kerasish import Sequential
    from kerasish.layers import Dense

    Sequential([Dense(2, input_shape=(3,))]).save(str(tmp_path / "plain.kerasish"))  # never compiled
    with zipfile.ZipFile(tmp_path / "plain.kerasish") as zf:
        assert zf.namelist() == ["config.json", "model.safetensors"]
        assert json.loads(zf.read("config.json"))["compile"] is None
    assert load_model(str(tmp_path / "plain.kerasish")).compiled is False


def test_callable_loss_is_dropped_with_a_warning(tmp_path):
    model = make_model(metrics=())
    model.compile(optimizer="adam", loss=lambda t, p: ((t - p) ** 2).mean(), device="cpu")
    with pytest.warns(UserWarning, match=r"without: loss .* A file cannot hold code, so load_model will return an "
                                         r"uncompiled model"):
        model.save(str(tmp_path / "m.kerasish"))
    assert load_model(str(tmp_path / "m.kerasish")).compiled is False


# ---------------------------------------------------------------- malicious and broken files
def test_a_pickle_inside_a_model_file_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    # Control: this payload really runs code when unpickled.
    pickle.loads(payload_bytes(tmp_path / "control"))
    assert (tmp_path / "control").exists()

    make_model().save(str(tmp_path / "good.kerasish"))
    with zipfile.ZipFile(tmp_path / "good.kerasish") as src, \
            zipfile.ZipFile(tmp_path / "evil.kerasish", "w") as dst:
        for name in src.namelist():
            dst.writestr(name, payload_bytes(marker) if name == "model.safetensors" else src.read(name))
    with pytest.raises(ValueError, match=r"not a valid safetensors payload .* starts like a Python pickle; kerasish "
                                         r"never unpickles"):
        load_model(str(tmp_path / "evil.kerasish"))
    with pytest.raises(ValueError, match=r"not a valid safetensors payload"):
        make_model().load_weights(str(tmp_path / "evil.kerasish"))
    assert not marker.exists()


def test_a_plain_pickle_named_kerasish_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.kerasish").write_bytes(payload_bytes(marker))
    with pytest.raises(ValueError, match=r"not a readable \.kerasish model file: it is a Python pickle"):
        load_model(str(tmp_path / "evil.kerasish"))
    assert not marker.exists()


def test_a_torch_save_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"weights": Payloadish(marker)}, str(tmp_path / "ckpt.kerasish"))
    with pytest.raises(ValueError, match=r"member 'config\.json' is missing.*torch\.save checkpoint"):
        load_model(str(tmp_path / "ckpt.kerasish"))
    torch.save({"weights": Payloadish(marker)}, str(tmp_path / "ckpt.pt"))
    with pytest.raises(ValueError, match=r"must end in one of .*received filepath=.*ckpt\.pt"
                                         r"'\. That suffix usually means a pickle-based file"):
        make_model().load_weights(str(tmp_path / "ckpt.pt"))
    assert not marker.exists()


class Payloadish:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_truncated_file_fails_clearly(tmp_path):
    path = tmp_path / "m.kerasish"
    make_model().save(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"not a readable \.kerasish model file: it is truncated or not a zip"):
        load_model(str(path))


def test_damaged_member_fails_clearly(tmp_path):
    path = tmp_path / "m.kerasish"
    make_model().save(str(path))
    data = bytearray(path.read_bytes())
    start = data.index(b"kerasish_key_order")  # inside model.safetensors' header
    data[start:start + 8] = b"XXXXXXXX"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"the member 'model\.safetensors' is damaged"):
        load_model(str(path))


def test_architecture_and_weights_that_disagree_fail_with_both_shapes(tmp_path):
    path = tmp_path / "m.kerasish"
    make_model().save(str(path))
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    config["model"]["config"]["layers"][1]["config"]["units"] = 5  # [0] is the InputLayer
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "edited.kerasish", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match=r"Shape mismatch for weight 'layers\.dense(_\d+)?\.kernel'.*the model has "
                                         r"shape \(3, 5\), the file has shape \(3, 4\)"):
        load_model(str(tmp_path / "edited.kerasish"))


def test_unknown_class_lists_the_registered_ones(tmp_path):
    path = tmp_path / "m.kerasish"
    make_model().save(str(path))
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    config["model"]["config"]["layers"][1]["class_name"] = "Dence"  # [0] is the InputLayer
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match=r"class 'Dence' \(defined in module 'kerasish\.layers\.core'\), which is not "
                                         r"registered\. Registered classes: .*Dense.*"
                                         r"Did you mean 'Dense'\? Pass the class to the loader, e\.g\. load_model\(path, "
                                         r"custom_objects=\{'Dence': Dence\}\)"):
        load_model(str(path))


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "m.kerasish"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps({"format": "kerasish", "format_version": 99, "model": {}}))
    with pytest.raises(ValueError, match=r"format 99, newer than this kerasish reads \(1\)\. Upgrade kerasish"):
        load_model(str(path))


def test_not_a_model_config_is_refused(tmp_path):
    path = tmp_path / "m.kerasish"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "[1, 2")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        load_model(str(path))


# ---------------------------------------------------------------- wrapped torch modules
class Net(torch.nn.Module):
    def __init__(self, hidden=5):
        super().__init__()
        self.hidden = hidden
        self.fc1, self.fc2 = torch.nn.Linear(3, hidden), torch.nn.Linear(hidden, 1)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def test_wrapped_module_full_save_explains_what_to_do(tmp_path):
    model = Model(Net())
    with pytest.raises(ValueError, match=r"Cannot save the architecture of model .*: it wraps a plain torch module of "
                                         r"class Net.*model\.save_weights.*register it with "
                                         r"@kerasish\.saving\.register_keras_serializable\(\)"):
        model.save(str(tmp_path / "m.kerasish"))
    assert os.listdir(tmp_path) == []


def test_registered_module_saves_and_loads_in_full(tmp_path):
    @register_serializable(name="tests.RegisteredNet")
    class RegisteredNet(Net):
        def get_config(self):
            return {"hidden": self.hidden}

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    x, y = make_data()
    model = Model(RegisteredNet(hidden=7))
    model.compile(optimizer="sgd", loss="mse", device="cpu")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(str(tmp_path / "m.kerasish"))
    restored = load_model(str(tmp_path / "m.kerasish"))
    assert isinstance(restored.module, RegisteredNet) and restored.module.hidden == 7
    assert np.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("call, kwargs, error, message", [
    (save_model, {"filepath": "m.h5"}, ValueError, r"Legacy tf\.keras HDF5 files .* model\.save\('model\.keras'\)"),
    (save_model, {"filepath": "m.txt"}, ValueError, r"must end in one of '\.keras' .*'\.kerasish'.*received filepath='m\.txt'"),
    (load_model, {"filepath": "missing.kerasish"}, FileNotFoundError, r"No model file at 'missing\.kerasish'"),
])
def test_path_errors(call, kwargs, error, message):
    args = (make_model(),) if call is save_model else ()
    with pytest.raises(error, match=message):
        call(*args, **kwargs)


def test_overwrite_false_refuses_an_existing_file(tmp_path):
    path = str(tmp_path / "m.kerasish")
    make_model().save(path)
    with pytest.raises(FileExistsError, match=r"already exists and overwrite=False"):
        make_model().save(path, overwrite=False)


def test_missing_folder_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"its folder .*nope' does not exist\. Create it first"):
        make_model().save(str(tmp_path / "nope" / "m.kerasish"))


def _rewrite(path, **members):
    with zipfile.ZipFile(path) as zf:
        data = {n: zf.read(n) for n in zf.namelist()}
    data.update(members)
    with zipfile.ZipFile(path, "w") as zf:
        for name, value in data.items():
            zf.writestr(name, value)


def test_config_of_another_format_is_refused(tmp_path):
    path = tmp_path / "m.kerasish"
    make_model().save(str(path))
    _rewrite(path, **{"config.json": json.dumps({"format": "keras"})})
    with pytest.raises(ValueError, match=r"config\.json does not describe a kerasish model"):
        load_model(str(path))


def test_broken_optimizer_description_is_refused(tmp_path):
    path = tmp_path / "m.kerasish"
    make_model().save(str(path))
    _rewrite(path, **{"optimizer.json": "{not json"})
    with pytest.raises(ValueError, match=r"The optimizer description in .* is not valid JSON"):
        load_model(str(path))


def test_optimizer_state_that_does_not_fit_is_refused(tmp_path):
    path, small = tmp_path / "m.kerasish", tmp_path / "small.kerasish"
    x, y = make_data()
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(str(path))
    from kerasish import Sequential
    from kerasish.layers import Dense

    other = Sequential([Dense(1, input_shape=(3,))])  # 2 parameters instead of 4
    other.compile(optimizer="adam", loss="mse", device="cpu")
    other.save(str(small))
    with zipfile.ZipFile(path) as zf:
        _rewrite(small, **{n: zf.read(n) for n in ("optimizer.safetensors", "optimizer.json")})
    with pytest.raises(ValueError, match=r"The optimizer state in .* does not fit this model's optimizer .*compile=False"):
        load_model(str(small))


def test_malformed_model_description_is_refused(tmp_path):
    path = tmp_path / "m.kerasish"
    make_model().save(str(path))
    _rewrite(path, **{"config.json": json.dumps({"format": "kerasish", "format_version": 1, "model": [1]})})
    with pytest.raises(ValueError, match=r"The model description must be \{'class_name': \.\.\., 'config': \.\.\.\}"):
        load_model(str(path))


def test_sequential_with_a_plain_torch_layer_explains_what_to_do(tmp_path):
    from kerasish import Sequential
    from kerasish.layers import Dense

    model = Sequential([Dense(2, input_shape=(3,)), torch.nn.Tanh()])
    with pytest.raises(ValueError, match=r"its layer .* is a Tanh, which is not registered.*register it with"):
        model.save(str(tmp_path / "m.kerasish"))


def test_unregistered_model_subclass_explains_what_to_do(tmp_path):
    class MyModel(Model):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 1)

        def call(self, x):
            return self.fc(x)

    with pytest.raises(ValueError, match=r"Cannot save MyModel '.*': its config cannot rebuild it.* MyModel\.__init__ "
                                         r"does not accept \[('name', )?'trainable', 'dtype'\]\. MyModel does not define "
                                         r"get_config\(\); it inherits (Model|Layer)\.get_config\(\)\. Override "
                                         r"get_config\(\) in MyModel"):
        MyModel().save(str(tmp_path / "m.kerasish"))
    assert os.listdir(tmp_path) == []


def test_registered_model_subclass_with_lazy_layers_round_trips(tmp_path):
    from kerasish.layers import Dense

    @register_serializable(name="tests.LazySubclass")
    class LazySubclass(Model):
        def __init__(self, units=4, name=None):
            super().__init__(name=name)
            self.units = units
            self.hidden, self.out = Dense(units, activation="relu"), Dense(1)  # built on the first batch

        def call(self, x):
            return self.out(self.hidden(x))

        def get_config(self):
            return {"units": self.units, "name": self.name}

    x, y = make_data()
    model = LazySubclass(units=6)
    model.compile(optimizer="adam", loss="mse", device="cpu")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(str(tmp_path / "m.kerasish"))
    restored = load_model(str(tmp_path / "m.kerasish"))
    assert isinstance(restored, LazySubclass) and restored.units == 6
    assert np.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
