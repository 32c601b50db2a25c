"""GroupNormalization, UnitNormalization, RMSNormalization, SpectralNormalization, the noise and
regularization layers and ReversibleEmbedding, held against Keras 3 (torch backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish.layers.core import Dense
from kerasish.layers.normalization_more import (
    GroupNormalization, RMSNormalization, SpectralNormalization, UnitNormalization,
)
from kerasish.layers.regularization import (
    ActivityRegularization, AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout3D,
)
from kerasish.utils.object_registration import register_builtin
from tests.keras_parity import assert_close, keras_module

register_builtin(GroupNormalization, UnitNormalization, RMSNormalization, SpectralNormalization, GaussianNoise,
                 GaussianDropout, AlphaDropout, ActivityRegularization, SpatialDropout3D)

NORM_CASES = [
    ("GroupNormalization", {"groups": 2}, (3, 5, 4)),
    ("GroupNormalization", {"groups": -1, "epsilon": 1e-2}, (2, 3, 3, 4)),
    ("GroupNormalization", {"groups": 3, "axis": 1, "center": False}, (2, 6, 5)),
    ("GroupNormalization", {"groups": 1, "scale": False}, (2, 4, 6)),
    ("UnitNormalization", {}, (3, 5)),
    ("UnitNormalization", {"axis": [1, 2]}, (2, 3, 4)),
    ("RMSNormalization", {}, (3, 4, 6)),
    ("RMSNormalization", {"axis": 1, "epsilon": 1e-3}, (2, 5)),
    ("RMSNormalization", {"axis": [1, 2]}, (2, 3, 4)),
]


def _module_of(name):
    from kerasish.layers import normalization_more, regularization

    return getattr(normalization_more, name, None) or getattr(regularization, name)


def _randomize(keras_layer):
    rng = np.random.default_rng(0)
    for w in keras_layer.weights:
        w.assign(rng.normal(size=tuple(w.shape)).astype("float32"))


@pytest.mark.parametrize("name, kwargs, shape", NORM_CASES)
def test_normalization_matches_keras(name, kwargs, shape):
    k = keras_module()
    theirs, ours = getattr(k.layers, name)(**kwargs), _module_of(name)(**kwargs)
    x = np.random.default_rng(1).normal(size=shape).astype("float32") * 3 + 1
    theirs.build(shape)
    ours.build_from_shape((None,) + shape[1:])
    _randomize(theirs)
    ours.set_weights(theirs.get_weights())
    assert [w.path.split("/")[-1] for w in theirs.weights] == [w.name for w in ours.weights]
    xt = torch.tensor(x, requires_grad=True)
    out = ours(xt)
    assert_close(out, theirs(x), atol=2e-5)
    assert_close(ours(torch.tensor(x), training=True), theirs(x, training=True), atol=2e-5)
    # gradients of the input and the weights
    out.square().sum().backward()
    xk = torch.tensor(x, requires_grad=True)
    theirs(xk).square().sum().backward()
    assert_close(xt.grad, xk.grad, atol=1e-4, rtol=1e-4)
    for a, b in zip(ours.weights, theirs.weights):
        assert_close(a.grad, b.value.grad, atol=1e-4, rtol=1e-4)
    assert ours.compute_output_shape((None,) + shape[1:]) == tuple(theirs.compute_output_shape((None,) + shape[1:]))
    assert ours.count_params() == theirs.count_params()
    ours_cfg, theirs_cfg = ours.get_config(), theirs.get_config()
    for key in theirs_cfg:
        if key not in ("dtype", "name") and not key.endswith(("initializer", "regularizer", "constraint")):
            assert ours_cfg[key] == theirs_cfg[key], key
    again = type(ours).from_config(json.loads(json.dumps(ours_cfg)))
    assert again.get_config() == {**ours_cfg, "name": again.name} or again.get_config() == ours_cfg


def test_spectral_normalization_matches_keras_in_training_and_inference():
    k = keras_module()
    theirs = k.layers.SpectralNormalization(k.layers.Dense(3), power_iterations=2)
    ours = SpectralNormalization(Dense(3), power_iterations=2)
    theirs.build((None, 4))
    ours.build_from_shape((None, 4))
    assert [w.path.split("/")[-1] for w in theirs.weights] == ["kernel", "vector_u", "bias"]
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(2).normal(size=(5, 4)).astype("float32")
    assert_close(ours(torch.tensor(x)), theirs(x), atol=1e-5)  # inference: the kernel as it is
    for _ in range(2):  # training: u and the kernel advance identically
        assert_close(ours(torch.tensor(x), training=True), theirs(x, training=True), atol=1e-5)
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-5)
    assert ours.count_params() == theirs.count_params() == 18
    assert ours.compute_output_shape((None, 4)) == (None, 3)
    # an all-zero kernel is left alone
    zero = SpectralNormalization(Dense(2, kernel_initializer="zeros"))
    zero(torch.ones(1, 3), training=True)
    assert not zero.layer.kernel.detach().any()


def test_spectral_normalization_wraps_a_conv_kernel_in_keras_layout():
    k = keras_module()
    theirs = k.layers.SpectralNormalization(k.layers.Conv2D(4, 3))
    ours = SpectralNormalization(kerasish.layers.Conv2D(4, 3))
    theirs.build((None, 6, 6, 2))
    ours.build_from_shape((None, 6, 6, 2))
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 2)).astype("float32")
    assert_close(ours(torch.tensor(x), training=True), theirs(x, training=True), atol=1e-4)
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-5)


NOISE_CASES = [
    (GaussianNoise, "GaussianNoise", (0.3,), {}, (200, 50)),
    (GaussianDropout, "GaussianDropout", (0.3,), {}, (200, 50)),
    (AlphaDropout, "AlphaDropout", (0.2,), {}, (200, 50)),
    (AlphaDropout, "AlphaDropout", (0.2,), {"noise_shape": (None, 1)}, (200, 50)),
    (SpatialDropout3D, "SpatialDropout3D", (0.5,), {}, (4, 2, 3, 3, 5)),
    (SpatialDropout3D, "SpatialDropout3D", (0.5,), {"data_format": "channels_first"}, (4, 5, 2, 3, 3)),
]


@pytest.mark.parametrize("cls, name, args, kwargs, shape", NOISE_CASES)
def test_noise_layers_equal_keras_for_a_seed_and_are_identity_at_inference(cls, name, args, kwargs, shape):
    k = keras_module()
    x = np.random.default_rng(4).normal(size=shape).astype("float32")
    theirs, ours = getattr(k.layers, name)(*args, seed=3, **kwargs), cls(*args, seed=3, **kwargs)
    for _ in range(2):  # the seeded sequence advances as Keras's
        noisy = ours(torch.tensor(x), training=True)
        assert_close(noisy, theirs(x, training=True), atol=1e-5)
        assert not np.allclose(noisy.numpy(), x)
    assert_close(ours(torch.tensor(x)), x)
    assert_close(ours(torch.tensor(x), training=False), x)
    assert ours.compute_output_shape((None,) + shape[1:]) == tuple(theirs.compute_output_shape((None,) + shape[1:]))
    assert ours.count_params() == theirs.count_params() == 0
    cfg = ours.get_config()
    for key, value in theirs.get_config().items():
        if key not in ("dtype", "name"):
            assert cfg[key] == (list(value) if isinstance(value, tuple) else value), key
    assert type(ours).from_config(json.loads(json.dumps(cfg))).get_config() == cfg


def test_noise_statistics_in_training():
    torch.manual_seed(0)
    x = torch.ones(400, 500)
    noisy = GaussianNoise(0.5)(x, training=True) - x
    assert abs(float(noisy.mean())) < 0.01 and abs(float(noisy.std()) - 0.5) < 0.01
    rate = 0.2
    mult = GaussianDropout(rate)(x, training=True)
    assert abs(float(mult.mean()) - 1) < 0.01 and abs(float(mult.std()) - (rate / (1 - rate)) ** 0.5) < 0.01
    z = torch.randn(400, 500)
    alpha = AlphaDropout(rate)(z, training=True)  # keeps mean 0 and variance 1
    assert abs(float(alpha.mean())) < 0.01 and abs(float(alpha.std()) - 1) < 0.01
    spatial = SpatialDropout3D(0.5)(torch.ones(64, 2, 2, 2, 8), training=True)
    per_channel = spatial.permute(0, 4, 1, 2, 3).reshape(64, 8, 8)
    assert bool(((per_channel == 0).all(-1) | (per_channel == 2).all(-1)).all())  # whole maps dropped


def test_activity_regularization_matches_keras_losses():
    k = keras_module()
    x = np.random.default_rng(5).normal(size=(4, 3)).astype("float32")
    theirs, ours = k.layers.ActivityRegularization(l1=0.1, l2=0.2), ActivityRegularization(l1=0.1, l2=0.2)
    assert_close(ours(torch.tensor(x)), theirs(x))
    assert_close(sum(ours.losses), sum(theirs.losses), atol=1e-5)
    assert ours.get_config()["l1"] == 0.1 and "activity_regularizer" not in ours.get_config()
    again = ActivityRegularization.from_config(ours.get_config())
    again(torch.tensor(x))
    assert_close(sum(again.losses), sum(theirs.losses), atol=1e-5)


@pytest.mark.parametrize("make, shape, match", [
    (lambda: GroupNormalization(groups=0), None, r"groups must be a positive integer.*groups=0"),
    (lambda: GroupNormalization(groups=3), (None, 4), r"multiple of groups \(3\)"),
    (lambda: GroupNormalization(groups=8), (None, 4), r"cannot be more than the number of channels \(4\)"),
    (lambda: GroupNormalization(groups=2), (None, None), r"must have a known size"),
    (lambda: UnitNormalization(axis="x"), None, r"axis must be an int or a list/tuple of ints"),
    (lambda: RMSNormalization(axis=3), (None, 4), r"axis 3 is out of bounds"),
    (lambda: SpectralNormalization(Dense(2), power_iterations=0), None, r"power_iterations must be an integer"),
    (lambda: SpectralNormalization("dense"), None, r"layer must be a kerasish Layer"),
    (lambda: SpectralNormalization(kerasish.layers.Flatten()), (None, 4), r"neither a `kernel` nor"),
    (lambda: GaussianNoise(1.5), None, r"stddev must be a number between 0 and 1.*stddev=1.5"),
    (lambda: GaussianDropout(-0.1), None, r"rate must be a number between 0 and 1"),
    (lambda: AlphaDropout(0.1, noise_shape=(0, 2)), None, r"noise_shape must be a tuple of positive ints"),
    (lambda: GaussianNoise(0.1, seed="a"), None, r"seed must be an int or None"),
    (lambda: SpatialDropout3D(1.0), None, r"rate must be a number in \[0, 1\)"),
    (lambda: ActivityRegularization(activity_regularizer="l2"), None, r"takes l1 and l2"),
])
def test_bad_arguments_are_named(make, shape, match):
    with pytest.raises((ValueError, TypeError), match=match):
        layer = make()
        if shape is not None:
            layer.build_from_shape(shape)


def test_functional_model_with_every_new_layer_saves_and_reloads(tmp_path):
    inputs = kerasish.layers.Input(shape=(4, 4, 4, 6))
    x = GroupNormalization(groups=3)(inputs)
    x = SpatialDropout3D(0.2, seed=1)(x)
    x = kerasish.layers.Reshape((64, 6))(x)
    x = RMSNormalization()(x)
    x = UnitNormalization()(x)
    x = GaussianNoise(0.1, seed=2)(x)
    x = GaussianDropout(0.1)(x)
    x = AlphaDropout(0.1)(x)
    x = ActivityRegularization(l2=0.01)(x)
    x = kerasish.layers.Flatten()(x)
    outputs = SpectralNormalization(Dense(3))(x)
    model = kerasish.Model(inputs, outputs)
    data = torch.randn(2, 4, 4, 4, 6)
    model(data, training=True)  # moves vector_u and the normalized kernel
    path = str(tmp_path / "m.kerasish")
    model.save(path)
    again = kerasish.saving.load_model(path)
    assert_close(again.predict(data, verbose=0), model.predict(data, verbose=0), atol=1e-5)
    assert again.count_params() == model.count_params()
    assert [type(layer).__name__ for layer in again.layers] == [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("kwargs", [{}, {"tie_weights": False, "logit_soft_cap": 2.0}, {"mask_zero": True}])
def test_reversible_embedding_matches_keras(kwargs):
    from kerasish.layers.embedding import ReversibleEmbedding

    k = keras_module()
    theirs, ours = k.layers.ReversibleEmbedding(7, 3, **kwargs), ReversibleEmbedding(7, 3, **kwargs)
    theirs.build()
    ours.build()
    _randomize(theirs)
    ours.set_weights(theirs.get_weights())
    assert [w.path.split("/")[-1] for w in theirs.weights] == [w.name for w in ours.weights]
    ids = np.array([[0, 1, 6], [2, 0, 3]])
    vectors = ours(torch.tensor(ids))
    assert_close(vectors, theirs(ids))
    if kwargs.get("mask_zero"):
        assert vectors._keras_mask.tolist() == (ids != 0).tolist()
    h = np.random.default_rng(6).normal(size=(2, 3, 3)).astype("float32")
    logits = ours(torch.tensor(h), reverse=True)
    assert_close(logits, theirs(h, reverse=True), atol=1e-5)
    assert getattr(logits, "_keras_mask", None) is None
    assert ours.compute_output_shape((None, 3, 3), reverse=True) == (None, 3, 7)
    assert ours.count_params() == theirs.count_params()
    cfg = ours.get_config()
    for key in ("tie_weights", "reverse_dtype", "logit_soft_cap", "mask_zero", "input_dim", "output_dim"):
        assert cfg[key] == theirs.get_config()[key]
    assert ReversibleEmbedding.from_config(json.loads(json.dumps(cfg))).get_config() == cfg
    with pytest.raises(ValueError, match=r"logit_soft_cap must be a positive number"):
        ReversibleEmbedding(7, 3, logit_soft_cap=0)
