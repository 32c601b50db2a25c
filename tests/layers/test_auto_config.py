"""Keras 3's automatic config: a user's layer or model without `get_config()` saves with its
constructor arguments, when they are plain values; otherwise `get_config()` raises
NotImplementedError asking for one. Compared with Keras 3 itself."""

from __future__ import annotations

import numpy as np
import pytest

import kerasish
from tests.keras_parity import keras_module, to_numpy

X = np.random.default_rng(3).normal(size=(4, 3)).astype("float32")


def _scaled_dense(lib, register=False):
    """A custom layer with plain constructor arguments and no get_config()."""

    class ScaledDense(lib.layers.Layer):
        def __init__(self, units=2, scale=1.0, tags=("a", "b"), **kwargs):
            super().__init__(**kwargs)
            self.units, self.scale, self.tags = units, scale, tags

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")

        def call(self, x):
            return lib.ops.matmul(x, self.w) * self.scale

    if register:
        return lib.saving.register_keras_serializable(package="kerasish_test_auto", name="ScaledDense")(ScaledDense)
    return ScaledDense


def test_a_layer_without_get_config_gives_its_arguments_as_keras_does():
    keras = keras_module()
    ours = _scaled_dense(kerasish)(5, scale=0.5, name="scaled")
    theirs = _scaled_dense(keras)(5, scale=0.5, name="scaled")
    assert ours.get_config() == theirs.get_config()
    assert list(ours.get_config()) == list(theirs.get_config()) == ["name", "units", "scale", "tags", "trainable", "dtype"]
    rebuilt = type(ours).from_config(ours.get_config())
    assert (rebuilt.units, rebuilt.scale, rebuilt.tags, rebuilt.name) == (5, 0.5, ("a", "b"), "scaled")


def test_the_arguments_travel_through_a_keras_file_both_ways(tmp_path):
    keras = keras_module()
    layer_cls, keras_layer_cls = _scaled_dense(kerasish, register=True), _scaled_dense(keras, register=True)
    ours = kerasish.Sequential([kerasish.Input((3,)), layer_cls(5, scale=0.5)])
    ours.save(tmp_path / "ours.keras")
    back = kerasish.models.load_model(tmp_path / "ours.keras")
    assert (back.layers[0].units, back.layers[0].scale) == (5, 0.5)
    np.testing.assert_allclose(back.predict(X, verbose=0), ours.predict(X, verbose=0), rtol=1e-6)
    in_keras = keras.models.load_model(tmp_path / "ours.keras")
    assert type(in_keras.layers[0]) is keras_layer_cls and in_keras.layers[0].units == 5
    np.testing.assert_allclose(to_numpy(in_keras(X)), ours.predict(X, verbose=0), rtol=1e-5)
    theirs = keras.Sequential([keras.Input((3,)), keras_layer_cls(4, scale=2.0)])
    theirs.save(tmp_path / "theirs.keras")
    opened = kerasish.models.load_model(tmp_path / "theirs.keras")
    assert (opened.layers[0].units, opened.layers[0].scale) == (4, 2.0)
    np.testing.assert_allclose(opened.predict(X, verbose=0), to_numpy(theirs(X)), rtol=1e-5)


def test_a_subclassed_model_without_get_config_saves_its_arguments(tmp_path):
    keras = keras_module()

    def define(lib):
        class Tower(lib.Model):
            def __init__(self, units=3, activation="relu", **kwargs):
                super().__init__(**kwargs)
                self.units = units
                self.dense = lib.layers.Dense(units, activation=activation)

            def call(self, x):
                return self.dense(x)

        return lib.saving.register_keras_serializable(package="kerasish_test_auto", name="Tower")(Tower)

    ours, theirs = define(kerasish)(units=6, name="tower"), define(keras)(units=6, name="tower")
    # The same keys as Keras's. (Keras's Model.__new__ drops the arguments before they are recorded, so its
    # config holds the defaults, units=3, and its file reloads a different model; kerasish records units=6.)
    assert list(ours.get_config()) == list(theirs.get_config()) == ["name", "units", "activation", "trainable", "dtype"]
    assert ours.get_config()["units"] == 6 and ours.get_config()["activation"] == "relu"
    ours(X)
    ours.save(tmp_path / "tower.keras")
    back = kerasish.models.load_model(tmp_path / "tower.keras")
    assert back.units == 6
    np.testing.assert_allclose(back.predict(X, verbose=0), ours.predict(X, verbose=0), rtol=1e-6)


def test_without_a_name_parameter_the_name_is_left_out_as_in_keras():
    keras = keras_module()

    def define(lib):
        class Fixed(lib.layers.Layer):
            def __init__(self, factor=2):
                super().__init__()
                self.factor = factor

            def call(self, x):
                return x * self.factor

        return Fixed

    ours, theirs = define(kerasish)(3), define(keras)(3)
    assert ours.get_config() == theirs.get_config()
    assert "name" not in ours.get_config() and ours.get_config()["factor"] == 3


@pytest.mark.parametrize("kind", ["object", "positional"])
def test_arguments_it_cannot_write_raise_as_in_keras(tmp_path, kind):
    keras = keras_module()

    def define(lib):
        if kind == "object":
            class Wrapper(lib.layers.Layer):
                def __init__(self, inner, **kwargs):
                    super().__init__(**kwargs)
                    self.inner = inner

                def call(self, x):
                    return self.inner(x)

            return Wrapper, (lib.layers.Dense(2),)

        class Many(lib.layers.Layer):
            def __init__(self, *sizes, **kwargs):
                super().__init__(**kwargs)
                self.sizes = sizes

            def call(self, x):
                return x

        return Many, (1, 2)

    (cls, args), (keras_cls, keras_args) = define(kerasish), define(keras)
    with pytest.raises(NotImplementedError):
        keras_cls(*keras_args).get_config()
    why = "not plain values" if kind == "object" else r"positional-only or variable positional \(\*args\)"
    with pytest.raises(NotImplementedError, match=rf"{cls.__name__} was created with .*{why}.*Give the class a "
                                                  r"get_config\(\) that returns its constructor arguments"):
        cls(*args).get_config()
    model = kerasish.Sequential([kerasish.Input((3,)), cls(*args)])
    with pytest.raises(NotImplementedError, match=cls.__name__):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


def test_a_written_get_config_or_a_builtin_parent_is_not_replaced():
    keras = keras_module()

    def define(lib):
        class Written(lib.layers.Layer):
            def __init__(self, units=2, **kwargs):
                super().__init__(**kwargs)
                self.units = units

            def get_config(self):
                return {**super().get_config(), "size": self.units}

        class WiderDense(lib.layers.Dense):  # Dense writes its config; the extra argument is not in it
            def __init__(self, units, extra=7, **kwargs):
                super().__init__(units, **kwargs)
                self.extra = extra

        return Written, WiderDense

    (written, wider), (k_written, k_wider) = define(kerasish), define(keras)
    assert written(4, name="w").get_config() == k_written(4, name="w").get_config()
    assert "units" not in written(4).get_config()
    ours, theirs = wider(3, extra=9, name="wd").get_config(), k_wider(3, extra=9, name="wd").get_config()
    assert "extra" not in ours and "extra" not in theirs and ours["units"] == theirs["units"] == 3
