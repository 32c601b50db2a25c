"""utils.Config: Keras 3's dict-like settings container, held against Keras's own."""

import json

import pytest

import kerasish
from tests.keras_parity import keras_module


@pytest.fixture(scope="module")
def keras():
    return keras_module()


def _exercise(Config):
    config = Config(learning_rate=0.1, momentum=0.9)
    config.use_ema = True
    config["seed"] = 123
    out = {
        "attr": (config.learning_rate, config.seed, config["use_ema"]),
        "iter": list(config), "keys": list(config.keys()), "values": list(config.values()),
        "items": list(config.items()), "len": len(config), "in": ("seed" in config, "nope" in config),
        "get": (config.get("seed"), config.get("nope"), config.get("nope", 5)),
        "dict": config.as_dict(), "json": json.loads(config.to_json()), "repr": repr(config),
    }
    assert config.pop("momentum") == 0.9
    config.update(extra=1)
    del config["extra"]
    out["after"] = config.as_dict()
    config.freeze()
    out["frozen"] = config.frozen
    for mutate in (lambda: setattr(config, "x", 1), lambda: config.__setitem__("x", 1),
                   lambda: config.pop("seed"), lambda: config.update(x=1), lambda: config.__delitem__("seed")):
        with pytest.raises(ValueError, match="Cannot mutate attribute\\(s\\) because the config is frozen"):
            mutate()
    config.unfreeze()
    config.x = 2
    out["unfrozen"] = (config.frozen, config.x)
    with pytest.raises(AttributeError, match="Unknown attribute: 'sede'. Did you mean 'seed'\\?"):
        config.sede
    return out


def test_behaves_as_keras(keras):
    assert _exercise(kerasish.utils.Config) == _exercise(keras.utils.Config)


def test_frozen_message_says_how_to_change_it():
    config = kerasish.utils.Config(a=1)
    config.freeze()
    with pytest.raises(ValueError, match="Call config.unfreeze\\(\\) first"):
        config.a = 2


def test_its_own_names_cannot_be_shadowed():
    # Keras lets `config.keys = 1` replace the method; kerasish refuses and points at item syntax (documented).
    config = kerasish.utils.Config()
    with pytest.raises(AttributeError, match="'keys' as an attribute: it is a name of Config itself. "
                                             "Set it as an item instead: config\\['keys'\\] = ..."):
        config.keys = 1
    config["keys"] = 1
    assert config["keys"] == 1 and list(config.keys()) == ["keys"]
