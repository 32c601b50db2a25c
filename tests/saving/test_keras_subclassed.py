"""Subclassed models in `.keras` files: Keras 3 saves its registered subclass, kerasish loads it into the
kerasish twin registered under the same name (weights by Keras's attribute paths); an unregistered or
wrongly registered class fails with an error that names it and how to register it."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import kerasish
from tests.keras_parity import keras_module

RNG = np.random.default_rng(17)
X = RNG.normal(size=(6, 3)).astype("float32")
Y = RNG.normal(size=(6, 2)).astype("float32")


@kerasish.saving.register_keras_serializable(package="kerasish_test", name="TwoTower")
class TwoTower(kerasish.Model):
    """The kerasish twin of the Keras class below: same attributes, same constructor arguments."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.encoder = kerasish.layers.Dense(units, activation="relu")
        self.norm = kerasish.layers.LayerNormalization()  # sorts after 'layers': Keras files it there
        self.head = kerasish.layers.Dense(2)

    def call(self, x):
        return self.head(self.norm(self.encoder(x)))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@kerasish.saving.register_keras_serializable(package="kerasish_test", name="NotAModel")
class NotAModel(kerasish.layers.Layer):
    def call(self, x):
        return x


class Unregistered(TwoTower):
    pass


@functools.cache
def _keras_classes():
    keras = keras_module()

    def define(registered):
        package, name = registered.split(">")

        @keras.saving.register_keras_serializable(package=package, name=name)
        class KerasTwoTower(keras.Model):
            def __init__(self, units=4, **kwargs):
                super().__init__(**kwargs)
                self.units = units
                self.encoder = keras.layers.Dense(units, activation="relu")
                self.norm = keras.layers.LayerNormalization()
                self.head = keras.layers.Dense(2)

            def call(self, x):
                return self.head(self.norm(self.encoder(x)))

            def get_config(self):
                return {**super().get_config(), "units": self.units}

        return KerasTwoTower

    return {name: define(name) for name in
            ("kerasish_test>TwoTower", "kerasish_test>Lonely", "kerasish_test>NotAModel", "kerasish_test>Custom")}


def _keras_file(tmp_path, registered="kerasish_test>TwoTower", fit=True):
    keras = keras_module()
    theirs = _keras_classes()[registered](units=5)
    theirs.compile(optimizer="adam", loss="mse")
    if fit:
        theirs.fit(X, Y, epochs=2, batch_size=3, verbose=0)
    else:
        theirs(X)
    path = tmp_path / "sub.keras"
    theirs.save(path)
    assert keras.saving.get_registered_name(type(theirs)) == registered
    return theirs, path


def test_a_registered_keras_subclass_loads_into_its_kerasish_twin_with_equal_predictions(tmp_path):
    theirs, path = _keras_file(tmp_path)
    ours = kerasish.models.load_model(path)
    assert type(ours) is TwoTower and ours.units == 5
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations)  # test-only read: state restored
    expected = theirs.evaluate(X, Y, verbose=0)
    assert ours.evaluate(X, Y, verbose=0) == pytest.approx(expected, rel=1e-4)
    history = ours.fit(X, Y, epochs=1, batch_size=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_an_unregistered_class_can_be_given_in_custom_objects(tmp_path):
    theirs, path = _keras_file(tmp_path, "kerasish_test>Custom", fit=False)
    ours = kerasish.models.load_model(path, custom_objects={"kerasish_test>Custom": Unregistered}, compile=False)
    assert type(ours) is Unregistered and ours.optimizer is None
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)


def test_keras_subclass_weights_files_load_into_the_twin(tmp_path):
    theirs, _ = _keras_file(tmp_path, fit=False)
    theirs.save_weights(tmp_path / "w.weights.h5")
    theirs.save_weights(tmp_path / "w.weights.json", max_shard_size=1e-6)
    for name in ("w.weights.h5", "w.weights.json"):
        ours = TwoTower(units=5)
        ours(X)
        ours.load_weights(tmp_path / name)
        np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)


def test_an_unregistered_subclass_names_the_class_and_how_to_register_it(tmp_path):
    _, path = _keras_file(tmp_path, "kerasish_test>Lonely", fit=False)
    with pytest.raises(ValueError, match=r"class 'KerasTwoTower' .*registered as 'kerasish_test>Lonely'.*"
                                         r"custom_objects=.*register_keras_serializable.*its kerasish twin.*"
                                         r"register_keras_serializable\(package='kerasish_test', name='Lonely'\)"):
        kerasish.models.load_model(path)


def test_a_name_registered_to_a_layer_is_refused(tmp_path):
    _, path = _keras_file(tmp_path, "kerasish_test>NotAModel", fit=False)
    with pytest.raises(TypeError, match=r"resolves to 'NotAModel', not a kerasish\.Model subclass.*"
                                         r"register_keras_serializable\(package=\.\.\., name=\.\.\.\)"):
        kerasish.models.load_model(path)


def test_a_twin_with_other_attributes_does_not_fit(tmp_path):
    _, path = _keras_file(tmp_path, "kerasish_test>Custom", fit=False)

    class Different(TwoTower):
        def __init__(self, units=4, **kwargs):
            super().__init__(units=units, **kwargs)
            self.extra = kerasish.layers.Dense(2)

        def call(self, x):
            return self.extra(super().call(x))

    with pytest.raises(ValueError, match=r"sub\.keras' \(its model\.weights\.h5\) do not fit model .*'extra/vars'"):
        kerasish.models.load_model(path, custom_objects={"kerasish_test>Custom": Different})
