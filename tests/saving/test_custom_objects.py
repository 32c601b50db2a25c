"""Custom layers and models through saving: registration, custom_objects, scopes, save-time checks, cloning, JSON."""

import json
import os
import threading
import zipfile

import numpy as np
import pytest
import torch

import kerasish
from kerasish import Model, Sequential
from kerasish.layers import Dense, Input, Layer
from kerasish.models import clone_model, load_model, model_from_json
from kerasish.models.functional import Functional
from kerasish.saving import (
    CustomObjectScope, custom_object_scope, get_registered_name, get_registered_object, register_keras_serializable,
    register_serializable,
)
from kerasish.saving.serialization import model_to_json
from tests.saving.conftest import make_data

PACKAGE = "test_custom_objects"


class Scale(Layer):
    """y = x * w + offset, one trainable weight per feature: a custom layer with a proper get_config."""

    def __init__(self, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def build(self, input_shape):
        self.w = torch.nn.Parameter(torch.randn(input_shape[-1]))

    def call(self, inputs):
        return inputs * self.w + self.offset

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


@register_keras_serializable(package=PACKAGE)
class RegisteredScale(Scale):
    pass


class Net(Model):
    """A subclassed model (__init__ + call) with a proper get_config; not registered."""

    def __init__(self, units=4, offset=0.5, **kwargs):
        super().__init__(**kwargs)
        self.units, self.offset = units, offset
        self.hidden = Dense(units, activation="relu")
        self.scale = Scale(offset=offset)
        self.out = Dense(1)

    def call(self, inputs):
        return self.out(self.scale(self.hidden(inputs)))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "offset": self.offset}


@register_keras_serializable(package=PACKAGE)
class RegisteredNet(Net):
    pass


@register_keras_serializable(package=PACKAGE)
class TaggedSequential(Sequential):
    """A Sequential that only adds a method: saved as a Sequential, loaded as itself."""

    def tag(self):
        return "tagged"


@register_keras_serializable(package=PACKAGE)
class TaggedFunctional(Functional):
    def tag(self):
        return "tagged"


class LateScale(Scale):
    """Saved before it is registered (see test_a_class_registered_after_saving_is_found)."""


# A user's class that happens to share a built-in's name (defined in this module).
UserDense = type("Dense", (Dense,), {})


def _fitted(model, x, y):
    model.compile(optimizer="adam", loss="mse", device="cpu")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    return model


def _saved_config(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("config.json"))["model"]


# ---------------------------------------------------------------- registration
def test_register_keras_serializable_names_package_and_class():
    @register_keras_serializable()
    class MyLayer(Layer):
        pass

    @register_keras_serializable("my_package", name="Renamed")
    class Other(Layer):
        pass

    assert get_registered_name(MyLayer) == "Custom>MyLayer"
    assert get_registered_object("Custom>MyLayer") is MyLayer
    assert get_registered_name(Other) == "my_package>Renamed"
    assert get_registered_name(RegisteredScale) == f"{PACKAGE}>RegisteredScale"
    assert get_registered_name(Scale) == "Scale"  # not registered: its own name
    assert get_registered_object("Scale") is None
    assert kerasish.utils.register_keras_serializable is register_keras_serializable
    assert MyLayer in kerasish.saving.get_custom_objects().values()


def test_register_keras_serializable_errors():
    with pytest.raises(TypeError, match=r"received package=class .*\.Bare\. It was used without parentheses: "
                                        r"write @register_keras_serializable\(\)"):
        @register_keras_serializable
        class Bare(Layer):
            pass
    with pytest.raises(TypeError, match=r"expects strings for package and name, received name=5"):
        register_keras_serializable("pkg", name=5)
    with pytest.raises(ValueError, match=r"registers a class or a function, received 3 of type int"):
        register_keras_serializable()(3)
    with pytest.raises(ValueError, match=r"Class NoConfig cannot be registered: it has no get_config or from_config"):
        @register_keras_serializable()
        class NoConfig:
            pass
    with pytest.raises(ValueError, match=rf"The name '{PACKAGE}>RegisteredScale' is already registered to "
                                         r".*RegisteredScale; received .*Impostor\. Register it under another name"):
        @register_keras_serializable(PACKAGE, name="RegisteredScale")
        class Impostor(Layer):
            pass


def test_register_serializable_shares_the_registry():
    @register_serializable(name="tests.custom_objects.Legacy")
    class Legacy(Scale):
        pass

    assert get_registered_name(Legacy) == "tests.custom_objects.Legacy"
    # A file of the older form names the class by its registered name alone.
    restored = model_from_json(json.dumps({"class_name": "tests.custom_objects.Legacy", "config": {"offset": 2.0}}))
    assert isinstance(restored, Legacy) and restored.offset == 2.0


# ---------------------------------------------------------------- save / load round trips
def test_registered_custom_layer_round_trips(tmp_path):
    x, y = make_data()
    model = _fitted(Sequential([Dense(4, input_shape=(3,)), RegisteredScale(offset=0.5), Dense(1)]),
                    x, y)
    path = tmp_path / "m.kerasish"
    model.save(str(path))
    entry = _saved_config(path)["config"]["layers"][-2]
    assert (entry["class_name"], entry["registered_name"], entry["module"]) == (
        "RegisteredScale", f"{PACKAGE}>RegisteredScale", __name__)
    restored = load_model(str(path))
    assert isinstance(restored.layers[1], RegisteredScale) and restored.layers[1].offset == 0.5
    assert np.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_registered_subclassed_model_round_trips(tmp_path):
    x, y = make_data()
    model = _fitted(RegisteredNet(units=6, offset=0.25, name="net"), x, y)
    path = tmp_path / "m.kerasish"
    model.save(str(path))
    saved = _saved_config(path)
    assert saved["class_name"] == "RegisteredNet" and saved["config"]["units"] == 6
    restored = kerasish.saving.load_model(str(path))
    assert type(restored) is RegisteredNet and (restored.units, restored.offset, restored.name) == (6, 0.25, "net")
    assert np.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_functional_model_with_a_registered_layer_round_trips(tmp_path):
    x, y = make_data()
    inputs = Input(shape=(3,))
    outputs = Dense(1)(RegisteredScale(offset=1.0)(Dense(4)(inputs)))
    model = _fitted(Model(inputs, outputs), x, y)
    model.save(str(tmp_path / "m.kerasish"))
    restored = load_model(str(tmp_path / "m.kerasish"))
    assert [type(layer) for layer in restored.layers][2] is RegisteredScale
    assert np.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_subclasses_of_sequential_and_functional_that_add_methods_round_trip(tmp_path):
    x, y = make_data()
    inputs = Input(shape=(3,))
    for model in (TaggedSequential([Dense(4, input_shape=(3,)), Scale(offset=0.5), Dense(1)]),
                  TaggedFunctional(inputs, Dense(1)(Scale()(inputs)))):
        _fitted(model, x, y).save(str(tmp_path / "m.kerasish"))
        assert _saved_config(tmp_path / "m.kerasish")["registered_name"] == f"{PACKAGE}>{type(model).__name__}"
        restored = load_model(str(tmp_path / "m.kerasish"), custom_objects={"Scale": Scale})
        assert type(restored) is type(model) and restored.tag() == "tagged"
        assert np.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_unregistered_layer_loads_with_custom_objects(tmp_path):
    x, y = make_data()
    model = _fitted(Sequential([Dense(4, input_shape=(3,)), Scale(offset=0.5), Dense(1)]), x, y)
    path = str(tmp_path / "m.kerasish")
    model.save(path)
    with pytest.raises(ValueError, match=rf"class 'Scale' \(defined in module '{__name__}'\), which is not "
                                         r"registered\. Registered classes: .*Pass the class to the loader, e\.g\. "
                                         r"load_model\(path, custom_objects=\{'Scale': Scale\}\).*"
                                         r"@kerasish\.saving\.register_keras_serializable\(\)"):
        load_model(path)
    restored = load_model(path, custom_objects={"Scale": Scale})
    assert type(restored.layers[1]) is Scale
    assert np.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_unregistered_subclassed_model_loads_inside_a_scope(tmp_path):
    x, y = make_data()
    model = _fitted(Net(units=5), x, y)
    path = str(tmp_path / "m.kerasish")
    model.save(path)
    with custom_object_scope({"Net": Net}):
        restored = load_model(path)
    assert type(restored) is Net and restored.units == 5
    assert np.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"class 'Net' .*which is not registered"):
        load_model(path)  # the scope has ended
    assert kerasish.utils.custom_object_scope is CustomObjectScope is custom_object_scope


def test_subclass_passing_kwargs_to_super_keeps_name_trainable_and_dtype():
    model = RegisteredNet(units=3, name="frozen", trainable=False, dtype="float64")
    text = model_to_json(model)
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}, "registered_name": None}
    assert {"name": "frozen", "trainable": False, "dtype": policy}.items() <= json.loads(text)["config"].items()
    restored = model_from_json(text)
    assert (restored.name, restored.trainable, restored.dtype, restored.units) == ("frozen", False, "float64", 3)


def test_a_class_registered_after_saving_is_found(tmp_path):
    x, y = make_data()
    model = _fitted(Sequential([Dense(2, input_shape=(3,)), LateScale(offset=1.5)]), x, np.repeat(y, 2, axis=1))
    path = str(tmp_path / "m.kerasish")
    model.save(path)
    register_keras_serializable(package=PACKAGE)(LateScale)  # registered as 'test_custom_objects>LateScale'
    restored = load_model(path)
    assert type(restored.layers[1]) is LateScale
    assert np.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_users_class_named_like_a_builtin_is_not_loaded_as_the_builtin(tmp_path):
    path = str(tmp_path / "m.kerasish")
    Sequential([UserDense(2, input_shape=(3,))]).save(path)
    with pytest.raises(ValueError, match=rf"class 'Dense' \(defined in module '{__name__}'\), which is not registered"):
        load_model(path)
    assert type(load_model(path, custom_objects={"Dense": UserDense}).layers[0]) is UserDense


# ---------------------------------------------------------------- lookup order and scopes
def test_lookup_order_is_custom_objects_scope_registered_builtin():
    class A(Scale):
        pass

    class B(Scale):
        pass

    key = f"{PACKAGE}>RegisteredScale"
    assert get_registered_object(key) is RegisteredScale
    with custom_object_scope({key: A}):
        assert get_registered_object(key) is A
        assert get_registered_object(key, custom_objects={key: B}) is B
    text = model_to_json(Sequential([Dense(2, input_shape=(3,))]))
    assert type(model_from_json(text).layers[0]) is Dense
    with custom_object_scope({"Dense": UserDense}):  # a scope beats kerasish's own classes
        assert type(model_from_json(text).layers[0]) is UserDense


def test_nested_scopes_add_up_and_stay_in_their_thread():
    seen = []
    with custom_object_scope({"A": Scale, "B": Scale}):
        with custom_object_scope({"B": Net}) as scope:
            assert scope.custom_objects == {"B": Net}
            assert (get_registered_object("A"), get_registered_object("B")) == (Scale, Net)
            thread = threading.Thread(target=lambda: seen.append(get_registered_object("A")))
            thread.start()
            thread.join()
        assert get_registered_object("B") is Scale
    assert seen == [None] and get_registered_object("A") is None


def test_custom_objects_must_be_a_dict(tmp_path):
    with pytest.raises(TypeError, match=r"custom_objects must be a dict from class names to classes, received "
                                        r"\[<class .*Scale'>\] of type list\. "
                                        r"Pass custom_objects=\{'MyLayer': MyLayer\}"):
        load_model(str(tmp_path / "m.kerasish"), custom_objects=[Scale])
    with pytest.raises(TypeError, match=r"custom_object_scope\(custom_objects\) must be a dict"):
        custom_object_scope({Scale: Scale})


# ---------------------------------------------------------------- save-time checks
class NeedsUnits(Layer):
    """Required constructor argument, no get_config: Keras's automatic config records `units`."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, inputs):
        return inputs[..., : self.units]


class TakesALayer(Layer):
    """A constructor argument that is an object, no get_config: no automatic config (as in Keras)."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, inputs):
        return self.inner(inputs)


class ForgetsActivation(Scale):
    def __init__(self, offset=0.0, activation="relu", **kwargs):
        super().__init__(offset=offset, **kwargs)
        self.activation = activation


class NeedsWidth(Model):
    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.fc = Dense(width)

    def call(self, inputs):
        return self.fc(inputs)


class WrapsADense(Model):
    def __init__(self, dense, **kwargs):
        super().__init__(**kwargs)
        self.fc = dense

    def call(self, inputs):
        return self.fc(inputs)


class HoldsNumpy(Scale):
    def get_config(self):
        return {**super().get_config(), "offset": np.float32(2.0)}


class ListConfig(Scale):
    def get_config(self):
        return [self.offset]


@pytest.mark.parametrize("make, error, message", [
    (lambda: Sequential([Dense(4, input_shape=(3,)), TakesALayer(Dense(2))]), NotImplementedError,
     r"TakesALayer was created with constructor arguments that are not plain values .*Give the class a "
     r"get_config\(\) that returns its constructor arguments"),
    (lambda: Sequential([Dense(4, input_shape=(3,)), ForgetsActivation()]), ValueError,
     r"the config lacks the arguments \['activation'\] \(they would load as their defaults\)"),
    (lambda: WrapsADense(Dense(3)), NotImplementedError, r"WrapsADense was created with constructor arguments"),
    (lambda: Sequential([Dense(4, input_shape=(3,)), HoldsNumpy()]), TypeError,
     r"Cannot save HoldsNumpy '.*': its get_config\(\) holds (np\.float32\()?2\.0\)? of type float32 at "
     r"config\['offset'\], which JSON "
     r"cannot hold .*int\(\), float\(\) or \.tolist\(\)"),
    (lambda: Sequential([Dense(4, input_shape=(3,)), ListConfig()]), TypeError,
     r"Cannot save ListConfig '.*': its get_config\(\) returned \[0\.0\] of type list, expected a dict"),
    (lambda: Model(), ValueError, r"it is a bare kerasish\.Model with no module and no layers"),
])
def test_unusable_config_is_refused_before_anything_is_written(tmp_path, make, error, message):
    path = tmp_path / "m.kerasish"
    kept = Sequential([Dense(1, input_shape=(3,))])
    kept.save(str(path))
    before = path.read_bytes()
    with pytest.raises(error, match=message):
        make().save(str(path))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.kerasish"]
    with pytest.raises(error, match=message):
        make().save(str(tmp_path / "new.kerasish"))
    assert not (tmp_path / "new.kerasish").exists()


def test_save_time_checks_also_guard_json_and_clone():
    with pytest.raises(NotImplementedError, match=r"WrapsADense was created with constructor arguments"):
        model_to_json(WrapsADense(Dense(2)))
    with pytest.raises(NotImplementedError, match=r"WrapsADense was created with constructor arguments"):
        clone_model(WrapsADense(Dense(2)))


def test_required_plain_arguments_without_get_config_are_recorded_as_keras_does(tmp_path):
    # Keras's automatic config: the constructor's plain arguments are the config.
    register_keras_serializable(package=PACKAGE)(NeedsUnits)
    register_keras_serializable(package=PACKAGE)(NeedsWidth)
    x = np.ones((2, 3), "float32")
    model = Sequential([Dense(4, input_shape=(3,)), NeedsUnits(2)])
    model.save(str(tmp_path / "m.kerasish"))
    back = kerasish.models.load_model(str(tmp_path / "m.kerasish"))
    assert back.layers[1].units == 2
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert clone_model(NeedsWidth(2)).fc.units == 2
    assert json.loads(model_to_json(NeedsWidth(5)))["config"]["width"] == 5


# ---------------------------------------------------------------- load-time failures of the class
def test_a_config_the_class_cannot_take_is_explained():
    text = json.dumps({"class_name": "RegisteredScale", "registered_name": f"{PACKAGE}>RegisteredScale",
                       "config": {"bogus": 1}})
    with pytest.raises(TypeError, match=r"RegisteredScale\.from_config could not rebuild the saved object from its "
                                        r"config \{'bogus': 1\}: .*get_config\(\) must return exactly the constructor "
                                        r"arguments"):
        model_from_json(text)
    with pytest.raises(TypeError, match=r"The saved class name 'Scale' resolves to function .*<lambda>, which has no "
                                        r"from_config\(\)"):
        model_from_json(json.dumps({"class_name": "Scale", "config": {}}), custom_objects={"Scale": lambda: None})


# ---------------------------------------------------------------- clone_model
def test_clone_model_sequential_has_the_same_config_and_fresh_weights():
    x, _ = make_data()
    model = Sequential([Dense(4, input_shape=(3,)), Scale(offset=0.5), Dense(1)])
    clone = clone_model(model)
    assert type(clone) is Sequential and clone.get_config() == model.get_config()
    assert type(clone.layers[1]) is Scale  # unregistered classes are taken from the model itself
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    clone.set_weights(model.get_weights())
    assert np.array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(clone.parameters(), model.parameters()))


def test_clone_model_functional_and_subclassed():
    x, y = make_data()
    inputs = Input(shape=(3,))
    functional = Model(inputs, Dense(1)(Scale()(inputs)))
    twin = clone_model(functional)
    assert twin.get_config() == functional.get_config() and twin is not functional
    net = _fitted(Net(units=3, name="original"), x, y)
    copy = clone_model(net)
    assert type(copy) is Net and (copy.units, copy.name) == (3, "original") and not copy.compiled
    assert [tuple(w.shape) for w in copy.get_weights()] == [tuple(w.shape) for w in net.get_weights()]
    copy.set_weights(net.get_weights())
    assert np.array_equal(copy.predict(x, verbose=0), net.predict(x, verbose=0))


def test_clone_model_refuses_keras_options_it_lacks():
    with pytest.raises(NotImplementedError, match=r"supports only clone_model\(model\); received clone_function, "
                                                  r"recursive"):
        clone_model(Sequential([Dense(1, input_shape=(3,))]), clone_function=lambda layer: layer,
                    recursive=True)


# ---------------------------------------------------------------- JSON
def test_model_to_json_and_back():
    x, _ = make_data()
    model = Sequential([Dense(4, input_shape=(3,)), RegisteredScale(offset=0.5), Dense(1)])
    text = model_to_json(model, indent=2)
    assert json.loads(text)["class_name"] == "Sequential" and "\n" in text
    restored = model_from_json(text)
    assert restored.get_config() == model.get_config() and type(restored.layers[1]) is RegisteredScale
    restored.set_weights(model.get_weights())
    assert np.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    net = model_from_json(model_to_json(Net(units=2)), custom_objects={"Net": Net})
    assert type(net) is Net and net.units == 2


@pytest.mark.skipif(not hasattr(Model, "to_json"), reason="Model.to_json is added to kerasish/models/model.py")
def test_model_to_json_method():
    model = Sequential([Dense(2, input_shape=(3,))])
    assert model.to_json() == model_to_json(model)


def test_model_from_json_refuses_text_that_is_not_json():
    with pytest.raises(ValueError, match=r"model_from_json expects the JSON text model\.to_json\(\) returns, received "
                                         r"'\{not json' \(str\), which is not valid JSON"):
        model_from_json("{not json")


def test_kerasish_models_has_keras_saving_names():
    import kerasish.models as models

    assert models.load_model is kerasish.saving.load_model and models.save_model is kerasish.saving.save_model
    assert {"load_model", "save_model", "model_from_json", "clone_model"} <= set(models.__all__)
    with pytest.raises(AttributeError, match=r"module 'kerasish\.models' has no attribute 'nope'"):
        models.nope
