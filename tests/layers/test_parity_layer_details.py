"""Keras-parity details the table test does not reach: the issue's Conv2DTranspose and
AveragePooling cases, pooling where Keras's torch backend departs from Keras's own
(TensorFlow/JAX) numbers, BatchNormalization's variance rule and its torch switch, recurrent
fallbacks, and initializers called Keras's way."""

from __future__ import annotations

import itertools
from typing import Any, Tuple

import numpy as np
import pytest
import torch

from kerasish import config, initializers
from kerasish import layers as klayers
from tests.keras_parity import assert_close, copy_weights, keras_module, to_numpy


# --------------------------------------------------------------------------- Conv2DTranspose
def test_conv2d_transpose_same_output_padding_is_not_shifted() -> None:
    """The issue's case: a ones kernel over 1..4 with stride 2, 'same', output_padding=1."""
    layer = klayers.Conv2DTranspose(1, (1, 3), strides=(1, 2), padding="same", output_padding=(0, 1),
                                    use_bias=False, kernel_initializer="ones")
    y = layer(torch.arange(1.0, 5.0).reshape(1, 1, 4, 1))
    assert y.flatten().tolist() == [1, 1, 3, 2, 5, 3, 7, 4]
    assert layer.compute_output_shape((None, 1, 4, 1)) == (None, 1, 8, 1)


def test_conv2d_transpose_sweep_matches_keras() -> None:
    keras = keras_module()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 2)).astype("float32")
    for padding, k, s, d in itertools.product(("valid", "same"), (1, 2, 3, 4), (1, 2, 3), (1, 2)):
        if s > 1 and d > 1:
            continue  # Keras refuses strides > 1 with dilation > 1
        for op in [None] + list(range(s)):
            kwargs = dict(filters=3, kernel_size=(k, 3), strides=(s, 1), padding=padding, dilation_rate=d,
                          output_padding=None if op is None else (op, 0))
            theirs = keras.layers.Conv2DTranspose(**kwargs)
            expected = to_numpy(theirs(x))
            ours = klayers.Conv2DTranspose(**kwargs)
            ours(torch.as_tensor(x))
            copy_weights(theirs, ours)
            assert_close(ours(torch.as_tensor(x)), expected, atol=1e-5)
            assert ours.compute_output_shape((None, 4, 5, 2)) == (None,) + expected.shape[1:], kwargs


def test_conv2d_transpose_output_padding_must_be_below_stride() -> None:
    with pytest.raises(ValueError, match=r"output_padding must be smaller than the stride.*output_padding=2"):
        klayers.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding must be smaller than the stride"):
        klayers.Conv2DTranspose(2, 3, dilation_rate=2, output_padding=1)  # Keras checks the stride only


def test_conv_get_weights_are_keras_layout_and_set_weights_checks_shapes() -> None:
    layer = klayers.Conv2D(8, (3, 2))
    layer.build((None, 6, 6, 4))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 2, 4, 8) and bias.shape == (8,)
    np.testing.assert_array_equal(kernel, layer.kernel.detach().numpy().transpose(2, 3, 1, 0))
    with pytest.raises(ValueError, match=r"has Keras shape \(3, 2, 4, 8\), received an array of shape \(8, 4, 3, 2\)"):
        layer.set_weights([kernel.transpose(3, 2, 0, 1), bias])
    sep = klayers.SeparableConv2D(5, 3, depth_multiplier=2)
    sep.build((None, 6, 6, 4))
    assert [w.shape for w in sep.get_weights()] == [(3, 3, 4, 2), (1, 1, 8, 5), (5,)]
    transposed = klayers.Conv2DTranspose(5, 3)
    transposed.build((None, 6, 6, 4))
    assert [w.shape for w in transposed.get_weights()] == [(3, 3, 5, 4), (5,)]


# --------------------------------------------------------------------------- pooling
def _numpy_pool(x: np.ndarray, pool: Tuple[int, ...], strides: Tuple[int, ...], padding: str, mode: str) -> np.ndarray:
    """TensorFlow's pooling on channels-last `x`: 'same' windows cover the real elements only."""
    spatial = x.shape[1:-1]
    if padding == "same":
        outs = [-(-n // s) for n, s in zip(spatial, strides)]
        before = [max((o - 1) * s + k - n, 0) // 2 for n, k, s, o in zip(spatial, pool, strides, outs)]
    else:
        outs = [(n - k) // s + 1 for n, k, s in zip(spatial, pool, strides)]
        before = [0] * len(spatial)
    out = np.zeros((x.shape[0], *outs, x.shape[-1]), x.dtype)
    axes = tuple(range(1, len(spatial) + 1))
    for idx in itertools.product(*[range(o) for o in outs]):
        window = tuple(slice(max(i * s - b, 0), min(i * s - b + k, n))
                       for i, k, s, b, n in zip(idx, pool, strides, before, spatial))
        values = x[(slice(None),) + window]
        out[(slice(None),) + idx] = values.max(axes) if mode == "max" else values.mean(axes)
    return out


@pytest.mark.parametrize("rank", [1, 2])
def test_pooling_matches_tensorflow_semantics_for_every_padding_and_stride(rank: int) -> None:
    rng = np.random.default_rng(0)
    shape = (2, 7, 3) if rank == 1 else (2, 7, 6, 3)
    x = rng.standard_normal(shape).astype("float32")
    for mode, padding, k, s in itertools.product(("max", "avg"), ("valid", "same"), (1, 2, 3), (None, 1, 2, 3)):
        pool = (k,) if rank == 1 else (k, 2)
        strides = pool if s is None else ((s,) if rank == 1 else (s, 1))
        cls = getattr(klayers, f"{'Max' if mode == 'max' else 'Average'}Pooling{rank}D")
        layer = cls(pool_size=pool, strides=None if s is None else strides, padding=padding)
        expected = _numpy_pool(x, pool, strides, padding, mode)
        assert_close(layer(torch.as_tensor(x)), expected, atol=1e-6)
        assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + expected.shape[1:]


def test_average_pooling_same_pads_both_ends_of_an_axis() -> None:
    """The issue's case: a 7x6 input, pool 3, stride 2: (4, 3) windows; rows are padded one
    before and one after, columns one after, so the first window holds rows 0-1, columns 0-2."""
    layer = klayers.AveragePooling2D(3, strides=2, padding="same")
    x = torch.arange(42.0).reshape(1, 7, 6, 1)
    y = layer(x)
    assert tuple(y.shape) == (1, 4, 3, 1)
    assert float(y[0, 0, 0, 0]) == pytest.approx(float(x[0, 0:2, 0:3, 0].mean()))


def test_average_pooling_where_keras_torch_backend_departs() -> None:
    """Keras's torch backend averages edge-replicated values when an axis needs asymmetric
    'same' padding next to a symmetric one; kerasish keeps Keras's TensorFlow/JAX numbers (as
    kerasish.ops.average_pool does). This records that Keras's torch backend differs there."""
    keras = keras_module()
    x = np.random.default_rng(0).standard_normal((2, 7, 6, 3)).astype("float32")
    ours = klayers.AveragePooling2D((3, 2), strides=(2, 1), padding="same")(torch.as_tensor(x))
    reference = _numpy_pool(x, (3, 2), (2, 1), "same", "avg")
    assert_close(ours, reference, atol=1e-6)
    theirs = to_numpy(keras.layers.AveragePooling2D((3, 2), strides=(2, 1), padding="same")(x))
    assert theirs.shape == reference.shape
    assert not np.allclose(theirs, reference, atol=1e-4)


# --------------------------------------------------------------------------- BatchNormalization
def test_batch_normalization_moving_variance_is_biased_as_keras_and_unbiased_under_torch_defaults() -> None:
    x = torch.tensor([[1.0], [2.0], [4.0], [7.0]])
    biased, unbiased = float(x.var(unbiased=False)), float(x.var(unbiased=True))
    layer = klayers.BatchNormalization(momentum=0.5, input_shape=(1,))
    layer(x, training=True)
    assert float(layer.moving_variance[0]) == pytest.approx(0.5 * 1.0 + 0.5 * biased)
    assert float(layer.moving_mean[0]) == pytest.approx(0.5 * 3.5)
    config.set_defaults("torch")
    try:
        torch_layer = klayers.BatchNormalization(momentum=0.5, input_shape=(1,))
    finally:
        config.set_defaults("keras")
    torch_layer(x, training=True)
    assert float(torch_layer.moving_variance[0]) == pytest.approx(0.5 * 1.0 + 0.5 * unbiased)


# --------------------------------------------------------------------------- recurrent
@pytest.mark.parametrize("cls,kwargs", [
    ("SimpleRNN", dict(activation="sigmoid")),
    ("LSTM", dict(activation="relu", recurrent_activation="hard_sigmoid")),
    ("GRU", dict(recurrent_activation="tanh")),
    ("GRU", dict(reset_after=False)),
])
def test_recurrent_non_default_activations_match_keras_with_masks_and_directions(cls: str, kwargs: Any) -> None:
    keras = keras_module()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 4)).astype("float32")
    mask = np.array([[1] * 6, [1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1]], dtype=bool)
    for extra in (dict(), dict(return_sequences=True, go_backwards=True), dict(return_state=True)):
        theirs = getattr(keras.layers, cls)(4, **kwargs, **extra)
        theirs(x)
        ours = getattr(klayers, cls)(4, **kwargs, **extra)
        ours(torch.as_tensor(x))
        copy_weights(theirs, ours)
        assert_close(ours(torch.as_tensor(x)), theirs(x), atol=1e-5)
        assert_close(ours(torch.as_tensor(x), mask=torch.as_tensor(mask)), theirs(x, mask=mask), atol=1e-5)


def test_gru_reset_after_false_weights_have_keras_shapes() -> None:
    layer = klayers.GRU(4, reset_after=False)
    layer.build((None, 5, 3))
    assert [w.shape for w in layer.get_weights()] == [(3, 12), (4, 12), (12,)]
    assert layer.count_params() == 3 * (4 * (3 + 4) + 4)


def test_use_cudnn_true_with_non_default_activation_raises_like_keras() -> None:
    layer = klayers.LSTM(3, activation="relu", use_cudnn=True)
    with pytest.raises(ValueError, match=r"use_cudnn=True, but cuDNN cannot compute this configuration.*"
                                         r"use_cudnn='auto'"):
        layer(torch.ones(2, 4, 3))


# --------------------------------------------------------------------------- initializers
_SEEDED = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
           "random_uniform", "random_normal", "truncated_normal", "orthogonal"]


@pytest.mark.parametrize("name", _SEEDED)
def test_initializer_called_keras_style_with_a_seed_gives_keras_numbers(name: str) -> None:
    keras = keras_module()
    for shape in [(5, 7), (7, 5), (3, 3, 4, 6)]:
        expected = to_numpy(getattr(keras.initializers, name)(seed=3)(shape=shape))
        got = getattr(initializers, name)(seed=3)(shape=shape)
        assert tuple(got.shape) == shape
        assert_close(got, expected, atol=1e-6)


def test_initializer_shape_is_keras_fan_in_fan_out_and_tensor_fill_is_torch_layout() -> None:
    torch.manual_seed(0)
    limit = np.sqrt(6 / (1000 + 10))
    keras_style = initializers.GlorotUniform()(shape=(1000, 10))  # (fan_in, fan_out)
    assert tuple(keras_style.shape) == (1000, 10) and float(keras_style.abs().max()) <= limit
    he = initializers.HeNormal()(shape=(2000, 3))  # fan_in = 2000: std ~ sqrt(2 / 2000)
    assert float(he.std()) == pytest.approx(np.sqrt(2 / 2000), rel=0.1)
    weight = torch.empty(10, 1000)  # torch's Linear weight (out, in): the same fans
    initializers.glorot_uniform()(weight)
    assert float(weight.abs().max()) <= limit and float(weight.abs().max()) > 0.9 * limit
    assert initializers.get("glorot_uniform") is not None and initializers.glorot_uniform is initializers.GlorotUniform


def test_identity_and_orthogonal_keras_names_and_errors() -> None:
    assert_close(initializers.Identity(gain=2.0)(shape=(2, 3)), 2 * np.eye(2, 3))
    assert initializers.get("IdentityInitializer").get_config() == {"gain": 1.0}
    assert isinstance(initializers.get({"class_name": "GlorotUniform", "config": {"seed": 1}}), initializers.GlorotUniform)
    q = initializers.Orthogonal(seed=1)(shape=(6, 4))
    assert_close(q.T @ q, np.eye(4), atol=1e-5)
    assert initializers.OrthogonalInitializer is initializers.Orthogonal
    with pytest.raises(ValueError, match=r"Identity initializer can only make 2-D matrices, received shape=\(2, 2, 2\)"):
        initializers.Identity()(shape=(2, 2, 2))
    with pytest.raises(ValueError, match=r"seed must be an int or None, received seed='a'"):
        initializers.GlorotUniform(seed="a")
    with pytest.raises(ValueError, match=r"shape must be a tuple of non-negative ints, received shape=\(2, -1\)"):
        initializers.Zeros()(shape=(2, -1))


def test_initializer_configs_round_trip_with_seed() -> None:
    init = initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=5)
    config_ = initializers.serialize(init)
    again = initializers.get(config_)
    assert again.get_config() == init.get_config() == {"scale": 2.0, "mode": "fan_out", "distribution": "uniform",
                                                        "seed": 5, "input_axes": None, "output_axes": None}
    assert_close(again(shape=(3, 4)), init(shape=(3, 4)), atol=0)
