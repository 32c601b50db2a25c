"""Writing subclassed models to `.keras`, as Keras 3 writes them, and Keras's compile hooks.

kerasish writes a `kerasish.Model` subclass as Keras does: the class (module, name, registered name),
its `get_config()`, the input shape it was built for, `get_compile_config()`, the weights by Keras's
attribute paths and the optimizer's state. Keras 3 opens the file into its own class registered under the
same name, and kerasish opens it into the registered kerasish class. Loading calls
`compile_from_config`; a class that overrides `compile()` alone loads uncompiled with Keras's warning.
The twin classes live in `tests/saving/test_keras_subclassed.py`.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

import kerasish
from tests.keras_parity import keras_module, to_numpy
from tests.saving.test_keras_subclassed import X, Y, TwoTower, _keras_classes


def _config_json(path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def _both_trained(tmp_path, optimizer="sgd"):
    """The same TwoTower in both libraries from the same weights, fitted 2 epochs, each saved."""
    keras = keras_module()
    theirs = _keras_classes()["kerasish_test>TwoTower"](units=5, name="tower")
    theirs(X)
    ours = TwoTower(units=5, name="tower")
    ours(X)
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
        model.fit(X, Y, epochs=2, batch_size=3, shuffle=False, verbose=0)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    return keras, ours, theirs


def test_a_subclassed_model_is_written_as_keras_writes_it(tmp_path):
    _, ours, theirs = _both_trained(tmp_path)
    mine, keras_config = _config_json(tmp_path / "ours.keras"), _config_json(tmp_path / "theirs.keras")
    assert [mine[k] for k in ("registered_name", "config")] == [keras_config[k] for k in ("registered_name", "config")]
    assert (mine["class_name"], keras_config["class_name"]) == ("TwoTower", "KerasTwoTower")  # each its own class
    assert mine["config"] == {"name": "tower", "trainable": True, "units": 5, "dtype": {
        "module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}}
    # Both record the first call's batch size (6), and both rebuild from either.
    assert mine["build_config"] == keras_config["build_config"] == {"input_shape": [6, 3]}
    ours_compile, keras_compile = mine["compile_config"], keras_config["compile_config"]
    assert {k: v for k, v in ours_compile.items() if k != "optimizer"} == \
        {k: v for k, v in keras_compile.items() if k != "optimizer"}
    assert ours_compile["optimizer"]["class_name"] == keras_compile["optimizer"]["class_name"] == "SGD"
    ours_opt, keras_opt = dict(ours_compile["optimizer"]["config"]), dict(keras_compile["optimizer"]["config"])
    assert ours_opt.pop("learning_rate") == pytest.approx(keras_opt.pop("learning_rate"))  # Keras: float32's value
    assert ours_opt.pop("name") == "sgd" and keras_opt.pop("name").startswith("sgd")  # Keras numbers its 2nd 'sgd_2'
    assert ours_opt == keras_opt
    assert ours.get_compile_config() == ours_compile and theirs.get_compile_config()["loss"] == "mse"


def test_keras_opens_kerasish_file_and_trains_on_from_the_saved_state(tmp_path):
    keras, ours, theirs = _both_trained(tmp_path, optimizer="adam")
    opened = keras.models.load_model(tmp_path / "ours.keras")
    assert type(opened) is type(theirs) and opened.units == 5
    np.testing.assert_allclose(to_numpy(opened(X)), ours.predict(X, verbose=0), atol=1e-5)
    assert int(opened.optimizer.iterations) == int(ours.optimizer.iterations) == 4  # test-only reads
    # One more epoch in each library from the saved state (Adam's moments included) gives the same weights.
    opened.fit(X, Y, epochs=1, batch_size=3, shuffle=False, verbose=0)
    ours.fit(X, Y, epochs=1, batch_size=3, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), opened.get_weights()):
        np.testing.assert_allclose(a, to_numpy(b), atol=1e-5)


def test_kerasish_reopens_its_own_file_compiled_with_its_optimizer_state(tmp_path):
    _, ours, _ = _both_trained(tmp_path, optimizer="adam")
    back = kerasish.models.load_model(tmp_path / "ours.keras")
    assert type(back) is TwoTower and back.units == 5 and back.compiled
    np.testing.assert_allclose(back.predict(X, verbose=0), ours.predict(X, verbose=0), atol=1e-6)
    assert int(back.optimizer.iterations) == 4
    assert back.evaluate(X, Y, verbose=0) == pytest.approx(ours.evaluate(X, Y, verbose=0), rel=1e-5)
    folder = tmp_path / "folder_form"
    ours.save(folder, zipped=False)  # the unzipped form holds the same members
    np.testing.assert_allclose(kerasish.models.load_model(folder).predict(X, verbose=0),
                               ours.predict(X, verbose=0), atol=1e-6)
    uncompiled = kerasish.models.load_model(tmp_path / "ours.keras", compile=False)
    assert not uncompiled.compiled and uncompiled.get_compile_config() == {}


def _custom_compile_class(lib, hooks):
    """A model whose compile() takes its own argument (`alpha`), with or without Keras's compile hooks."""

    class WithAlpha(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

        def compile(self, optimizer="sgd", alpha=0.5):
            super().compile(optimizer=optimizer, loss="mse")
            self.alpha = alpha

    if hooks:
        class WithAlphaHooks(WithAlpha):
            def get_compile_config(self):
                return {"optimizer": self.optimizer, "alpha": self.alpha}

            def compile_from_config(self, config):
                self.compile(optimizer=lib.saving.deserialize_keras_object(config["optimizer"]), alpha=config["alpha"])

        cls = WithAlphaHooks
    else:
        cls = WithAlpha
    name = "WithAlphaHooks" if hooks else "WithAlpha"
    return lib.saving.register_keras_serializable(package="kerasish_test_compile", name=name)(cls)


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "compile-only"])
def test_custom_compile_arguments_load_as_in_keras(tmp_path, hooks):
    keras = keras_module()
    results = {}
    for label, lib in (("kerasish", kerasish), ("keras", keras)):
        model = _custom_compile_class(lib, hooks)()
        model(X)
        model.compile(optimizer=lib.optimizers.SGD(learning_rate=0.05), alpha=0.25)
        path = tmp_path / f"{label}.keras"
        model.save(path)
        with pytest.warns(UserWarning, match="compile") if not hooks else _no_warning():
            loaded = lib.models.load_model(path)
        results[label] = (loaded, _config_json(path)["compile_config"])
    (ours, our_file), (theirs, their_file) = results["kerasish"], results["keras"]
    if hooks:
        assert ours.alpha == theirs.alpha == 0.25
        assert float(ours.optimizer.learning_rate) == pytest.approx(0.05)
        assert our_file["alpha"] == their_file["alpha"] == 0.25
        assert our_file["optimizer"]["class_name"] == their_file["optimizer"]["class_name"] == "SGD"
    else:
        # Keras writes the default compile config, and on load does not call the custom compile(). (Its
        # `compiled` flag is then set anyway; kerasish's says what happened: not compiled, no optimizer.)
        assert not ours.compiled and ours.optimizer is None
        assert getattr(theirs, "optimizer", None) is None
        assert not hasattr(ours, "alpha") and not hasattr(theirs, "alpha")
        assert our_file["loss"] == their_file["loss"] == "mse"


class _no_warning:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error", UserWarning)

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def test_the_compile_hooks_default_to_kerass_behaviour():
    keras = keras_module()
    ours, theirs = TwoTower(units=3), _keras_classes()["kerasish_test>TwoTower"](units=3)
    assert ours.get_compile_config() == theirs.get_compile_config() == {}
    ours.compile_from_config({"optimizer": "rmsprop", "loss": "mae", "metrics": ["mse"]})
    theirs.compile_from_config({"optimizer": "rmsprop", "loss": "mae", "metrics": ["mse"]})
    assert type(ours.optimizer).__name__ == type(theirs.optimizer).__name__ == "RMSprop"
    assert ours.get_compile_config()["loss"] == theirs.get_compile_config()["loss"] == "mae"
    assert ours.get_compile_config()["metrics"] == theirs.get_compile_config()["metrics"] == ["mse"]
    assert keras is not None


def test_a_wrapped_torch_module_or_an_unbuilt_subclass_is_refused_before_any_write(tmp_path):
    wrapped = kerasish.Model(torch.nn.Linear(3, 2))
    with pytest.raises(ValueError, match=r"a torch module wrapped as Model\(module\) has no config.*"
                                         r"model.save\('model.kerasish'\)"):
        wrapped.save(tmp_path / "wrapped.keras")
    with pytest.raises(ValueError, match=r"Model 'two_tower(_\d+)?' \(TwoTower\) is not built.*Call it on a batch"):
        TwoTower().save(tmp_path / "unbuilt.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_get_compile_config_must_return_a_dict(tmp_path):
    class Odd(TwoTower):
        def get_compile_config(self):
            return ["sgd"]

    model = Odd()
    model(X)
    with pytest.raises(TypeError, match=r"Odd.get_compile_config\(\) must return a dict \(or None\), received "
                                        r"\['sgd'\] of type list"):
        model.save(tmp_path / "odd.keras")
    assert not (tmp_path / "odd.keras").exists()


def test_a_subclassed_models_base_config_is_kerass(tmp_path):
    keras = keras_module()

    class Plain(kerasish.Model):
        def call(self, x):
            return x

    class KerasPlain(keras.Model):
        def call(self, x):
            return x

    ours, theirs = Plain(name="plain"), KerasPlain(name="plain")
    assert ours.get_config() == theirs.get_config()
    assert Plain.from_config(ours.get_config()).name == "plain"
    assert Y.shape == (6, 2)
