"""Muon held against Keras 3's `keras.optimizers.Muon`: the same weights after training (Muon's
orthogonalized step on 2-D weights, Adam's on the rest and on excluded layers), the same config,
and clear errors for bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from kerasish.optimizers.muon import Muon
from tests.keras_parity import assert_close, copy_weights, keras_module

rng = np.random.default_rng(0)
TOKENS = rng.integers(0, 20, size=(64, 6))
IMAGES = rng.normal(size=(64, 6, 6, 2)).astype("float32")
Y = rng.normal(size=(64, 1)).astype("float32")


def text_model(lib, optimizer):
    L = lib.layers
    m = lib.Sequential([L.Input((6,), dtype="int32"), L.Embedding(20, 8), L.Flatten(), L.Dense(16, activation="relu"),
                        L.Dense(1, name="out")])
    m.compile(optimizer=optimizer, loss="mse")
    return m


def conv_model(lib, optimizer):
    L = lib.layers
    m = lib.Sequential([L.Input((6, 6, 2)), L.Conv2D(4, 3, activation="relu"), L.Flatten(), L.Dense(1)])
    m.compile(optimizer=optimizer, loss="mse")
    return m


def trained_pair(build, x, **kwargs):
    K = keras_module()
    km = build(K, K.optimizers.Muon(learning_rate=0.01, **kwargs))
    sm = build(kerasish, Muon(learning_rate=0.01, **kwargs))
    copy_weights(km, sm)
    km.fit(x, Y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    sm.fit(x, Y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    return km, sm


@pytest.mark.parametrize("kwargs", [
    {},
    {"exclude_layers": ["out"]},
    {"exclude_embeddings": False},
    {"nesterov": False, "rms_rate": None, "adam_lr_ratio": 0.1, "weight_decay": 0.01, "adam_weight_decay": 0.02},
    {"momentum": 0.8, "ns_steps": 3, "epsilon": 1e-5, "adam_beta_1": 0.8, "adam_beta_2": 0.99},
], ids=["defaults", "exclude_layers", "embeddings_too", "adam_ratio_and_decays", "other_numbers"])
def test_trains_to_keras_weights(kwargs):
    km, sm = trained_pair(text_model, TOKENS, **kwargs)
    for a, b in zip(sm.get_weights(), km.get_weights()):
        assert_close(a, b, atol=2e-6)


def test_conv_kernels_take_adams_step_as_in_keras():
    km, sm = trained_pair(conv_model, IMAGES)
    for a, b in zip(sm.get_weights(), km.get_weights()):
        assert_close(a, b, atol=2e-6)


def test_which_weights_take_which_step():
    m = text_model(kerasish, "sgd")
    opt = Muon(exclude_layers=["out"])
    chosen = {w.path: opt.uses_adam(w) for w in m.trainable_weights}
    assert chosen == {"sequential/embedding/embeddings": True, "sequential/dense/kernel": False,
                      "sequential/dense/bias": True, "sequential/out/kernel": True, "sequential/out/bias": True}
    assert not Muon(exclude_embeddings=False).uses_adam(m.layers[0].embeddings)


def test_the_exclusions_change_the_training():
    _, with_muon = trained_pair(text_model, TOKENS)
    _, excluded = trained_pair(text_model, TOKENS, exclude_layers=["dense"])
    assert not np.allclose(with_muon.get_weights()[1], excluded.get_weights()[1])


def test_config_is_keras_and_round_trips():
    K = keras_module()
    kwargs = {"exclude_layers": ["out"], "momentum": 0.9, "rms_rate": None, "name": "muon"}
    keras_config, config = K.optimizers.Muon(**kwargs).get_config(), Muon(**kwargs).get_config()
    assert sorted(config) == sorted(keras_config)
    assert {k: v for k, v in config.items() if k != "learning_rate"} == \
        {k: v for k, v in keras_config.items() if k != "learning_rate"}
    assert config["learning_rate"] == pytest.approx(keras_config["learning_rate"])
    assert Muon.from_config(config).get_config() == config


@pytest.mark.parametrize("kwargs, message", [
    ({"ns_steps": 0}, r"Muon's ns_steps must be a positive integer \(Newton-Schulz iterations\), received 0"),
    ({"ns_steps": 2.5}, r"ns_steps must be a positive integer"),
    ({"momentum": 1.5}, r"Muon's momentum must be a float in \[0, 1\], received 1.5"),
    ({"exclude_layers": "out"}, r"exclude_layers must be a list of strings .* received 'out'"),
    ({"exclude_layers": [3]}, r"exclude_layers must be a list of strings"),
    ({"formula": "torch"}, r"Muon has no torch.optim counterpart"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Muon(**kwargs)


def test_a_plain_torch_parameter_cannot_be_excluded_by_name():
    weight = torch.nn.Parameter(torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"cannot tell whether the \(3, 4\) torch parameter .* has no path"):
        Muon(exclude_layers=["out"]).build([weight])
    opt = Muon().build([weight])  # without exclude_layers it takes Muon's step
    weight.grad = torch.ones(3, 4)
    opt.step()
    assert not torch.equal(weight.detach(), torch.ones(3, 4))


def test_get_and_deserialize_by_keras_name():
    K = keras_module()
    assert type(kerasish.optimizers.get("muon")) is Muon
    restored = kerasish.optimizers.deserialize(K.optimizers.serialize(K.optimizers.Muon(momentum=0.9, ns_steps=3)))
    assert type(restored) is Muon and (restored.momentum, restored.ns_steps) == (0.9, 3)


@pytest.mark.parametrize("writer", ["kerasish", "keras"])
def test_state_moves_through_keras_files_both_ways(tmp_path, writer):
    """Muon's momentum (every weight) and velocity (Adam's weights only) in Keras's variable order."""
    K = keras_module()
    x = IMAGES.reshape(64, -1)[:, :8]
    build = lambda lib, opt: _dense(lib, opt)  # noqa: E731
    km = build(K, K.optimizers.Muon(learning_rate=0.01))
    sm = build(kerasish, Muon(learning_rate=0.01))
    copy_weights(km, sm)
    source = sm if writer == "kerasish" else km
    source.fit(x, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / "m.keras")
    source.save(path)
    in_keras, in_kerasish = K.saving.load_model(path), kerasish.saving.load_model(path)
    for model in (in_keras, in_kerasish):
        model.fit(x, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(in_kerasish.get_weights(), in_keras.get_weights()):
        assert_close(a, b, atol=2e-6)


def _dense(lib, optimizer):
    m = lib.Sequential([lib.layers.Input((8,)), lib.layers.Dense(6), lib.layers.Dense(1)])
    m.compile(optimizer=optimizer, loss="mse")
    return m
