"""Every optimizer and shared optimizer argument against Keras 3 itself: 20 steps of `fit`
from the same weights on the same batches give the same weights and epoch losses."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, keras_module


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 2))).astype("float32")
    return x, y


def _mlp(m):
    return m.Sequential([m.Input((5,)), m.layers.Dense(8, activation="tanh"), m.layers.Dense(2)])


def fit_both(name, finalize=False, exclude=None, **kwargs):
    """Trains Keras's and kerasish's MLP with `optimizers.<name>(**kwargs)` for 20 steps; returns both."""
    k = keras_module()
    x, y = _data()
    theirs, ours = _mlp(k), _mlp(kerasish)
    ours.set_weights(theirs.get_weights())
    histories = []
    for model, module in ((theirs, k), (ours, kerasish)):
        optimizer = getattr(module.optimizers, name)(**kwargs)
        if exclude:
            optimizer.exclude_from_weight_decay(var_names=exclude)
        model.compile(optimizer=optimizer, loss="mse")
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"])
    if finalize:
        ours.optimizer.finalize_variable_values(ours.trainable_weights)
    return theirs, ours, histories


def assert_same_training(name, finalize=False, exclude=None, **kwargs):
    theirs, ours, (keras_loss, our_loss) = fit_both(name, finalize, exclude, **kwargs)
    np.testing.assert_allclose(our_loss, keras_loss, rtol=1e-5)
    assert_close(ours.get_weights(), theirs.get_weights(), rtol=1e-5, atol=1e-6)
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations)


CASES = [
    ("SGD", dict(learning_rate=0.05)),
    ("SGD", dict(momentum=0.9)),
    ("SGD", dict(momentum=0.9, nesterov=True)),
    ("RMSprop", dict(learning_rate=0.01)),
    ("RMSprop", dict(learning_rate=0.01, centered=True, momentum=0.5)),
    ("Adam", dict(learning_rate=0.01)),
    ("Adam", dict(learning_rate=0.01, amsgrad=True)),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.1)),
    ("Adamax", dict(learning_rate=0.01)),
    ("Nadam", dict(learning_rate=0.01)),
    ("Adagrad", dict(learning_rate=0.1)),
    ("Adadelta", dict(learning_rate=1.0)),
    ("Lion", dict(learning_rate=0.003)),
    ("Ftrl", dict(learning_rate=0.1)),
    ("Ftrl", dict(learning_rate=0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.01,
                  l2_shrinkage_regularization_strength=0.01, beta=0.1)),
    ("Lamb", dict(learning_rate=0.01)),
    ("Adafactor", dict(learning_rate=0.01)),
    # the shared arguments
    ("SGD", dict(momentum=0.9, weight_decay=0.1)),
    ("Adam", dict(learning_rate=0.01, weight_decay=0.2)),
    ("Adagrad", dict(learning_rate=0.1, weight_decay=0.3)),
    ("Nadam", dict(learning_rate=0.01, weight_decay=0.2)),
    ("Adam", dict(learning_rate=0.01, global_clipnorm=0.1)),
    ("SGD", dict(clipnorm=0.05)),
    ("RMSprop", dict(learning_rate=0.01, clipvalue=0.01)),
    ("Adam", dict(learning_rate=0.01, gradient_accumulation_steps=3)),
    ("SGD", dict(momentum=0.9, gradient_accumulation_steps=2, global_clipnorm=0.5)),
    ("Lion", dict(learning_rate=0.003, gradient_accumulation_steps=4, weight_decay=0.5)),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_fit_matches_keras(name, kwargs):
    assert_same_training(name, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(ema_momentum=0.9), dict(ema_overwrite_frequency=3),
                                    dict(ema_momentum=0.8, gradient_accumulation_steps=3)])
def test_ema_matches_keras_once_the_average_is_swapped_in(kwargs):
    assert_same_training("Adam", finalize=True, learning_rate=0.01, use_ema=True, **kwargs)


def test_fit_swaps_in_the_ema_weights_at_the_end_as_keras():
    assert_same_training("Adam", learning_rate=0.01, use_ema=True, ema_momentum=0.9)


@pytest.mark.parametrize("make", [
    lambda m: m.optimizers.Adam(learning_rate=0.01, loss_scale_factor=128.0),
    lambda m: m.optimizers.LossScaleOptimizer(m.optimizers.Adam(0.01), initial_scale=2.0 ** 10, dynamic_growth_steps=3),
], ids=["loss_scale_factor", "LossScaleOptimizer"])
def test_fit_scales_the_loss_as_keras(make):
    k = keras_module()
    x, y = _data()
    theirs, ours = _mlp(k), _mlp(kerasish)
    ours.set_weights(theirs.get_weights())
    for model, module in ((theirs, k), (ours, kerasish)):
        model.compile(optimizer=make(module), loss="mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_close(ours.get_weights(), theirs.get_weights(), rtol=1e-5, atol=1e-6)


def test_exclude_from_weight_decay_matches_keras():
    theirs, ours, _ = fit_both("AdamW", exclude=["bias"], learning_rate=0.01, weight_decay=0.5)
    assert_close(ours.get_weights(), theirs.get_weights(), rtol=1e-5, atol=1e-6)
    plain = fit_both("AdamW", learning_rate=0.01, weight_decay=0.5)[1]
    assert not np.allclose(plain.get_weights()[1], ours.get_weights()[1], atol=1e-4)  # the exclusion mattered


def test_loss_scale_factor_in_a_hand_written_step_matches_keras():
    k = keras_module()
    import torch

    x, y = _data()
    theirs, ours = _mlp(k), _mlp(kerasish)
    ours.set_weights(theirs.get_weights())
    for model, module in ((theirs, k), (ours, kerasish)):
        opt = module.optimizers.Adam(learning_rate=0.01, loss_scale_factor=64.0)
        for i in range(0, 40, 8):
            out = model(torch.as_tensor(x[i:i + 8]))
            loss = opt.scale_loss(((out - torch.as_tensor(y[i:i + 8])) ** 2).mean())
            weights = model.trainable_weights
            for w in weights:
                getattr(w, "value", w).grad = None
            loss.backward()
            opt.apply([getattr(w, "value", w).grad for w in weights], weights)
    assert_close(ours.get_weights(), theirs.get_weights(), rtol=1e-5, atol=1e-6)


NAMES = ["SGD", "RMSprop", "Adam", "AdamW", "Adamax", "Nadam", "Adagrad", "Adadelta", "Lion", "Ftrl", "Lamb",
         "Adafactor"]


@pytest.mark.parametrize("name", NAMES)
def test_config_equals_keras_and_round_trips(name):
    k = keras_module()
    theirs = getattr(k.optimizers, name)().get_config()
    ours = getattr(kerasish.optimizers, name)().get_config()
    assert set(ours) == set(theirs)
    assert re.sub(r"_\d+$", "", ours.pop("name")) == re.sub(r"_\d+$", "", theirs.pop("name"))
    assert ours.pop("learning_rate") == pytest.approx(theirs.pop("learning_rate"), rel=1e-7)
    assert ours == theirs
    cls = getattr(kerasish.optimizers, name)
    config = cls(learning_rate=0.02, clipnorm=1.0, name="mine").get_config()
    assert cls.from_config(json.loads(json.dumps(config))).get_config() == config
    keras_config = getattr(k.optimizers, name)(learning_rate=0.02, use_ema=True).get_config()
    assert cls.from_config(keras_config).use_ema is True


def test_loss_scale_optimizer_config_reads_keras_and_round_trips():
    k = keras_module()
    keras_config = k.optimizers.LossScaleOptimizer(k.optimizers.SGD(momentum=0.5), initial_scale=8.0).get_config()
    ours = kerasish.optimizers.LossScaleOptimizer.from_config(keras_config)
    assert isinstance(ours.inner_optimizer, kerasish.optimizers.SGD) and ours.inner_optimizer.momentum == 0.5
    config = ours.get_config()
    assert set(config) == set(keras_config) and config["initial_scale"] == 8.0
    again = kerasish.optimizers.LossScaleOptimizer.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adam", "adamw", "nadam", "adagrad"])
def test_tutorial_mlp_fit_gives_keras_epoch_losses(optimizer):
    """Issue 16's check: the tutorial MLP (784-512-10, softmax, sparse cross-entropy, accuracy), the same
    initial weights and batch order (shuffle=False): the same per-epoch loss as Keras 3 to 1e-4."""
    k = keras_module()
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(256, 784)).astype("float32")
    y = rng.integers(0, 10, size=256)

    def build(m):
        model = m.Sequential([m.Input((784,)), m.layers.Dense(512, activation="relu"),
                              m.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    theirs, ours = build(k), build(kerasish)
    ours.set_weights(theirs.get_weights())
    h_theirs = theirs.fit(x, y, batch_size=64, epochs=3, shuffle=False, verbose=0).history
    h_ours = ours.fit(x, y, batch_size=64, epochs=3, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=1e-4)
    np.testing.assert_allclose(h_ours["accuracy"], h_theirs["accuracy"], atol=1e-6)
