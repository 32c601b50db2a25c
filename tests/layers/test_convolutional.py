"""Conv1D, Conv2D, Conv2DTranspose, SeparableConv2D: Keras shapes and counts, the no-copy NHWC path."""

import json

import pytest
import torch
import torch.nn.functional as F

from kerasish.layers import Conv1D, Conv2D, Conv2DTranspose, Dense, Flatten, MaxPooling2D, SeparableConv2D
from kerasish.models import Sequential


def tutorial_cnn():
    return Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(128, activation="relu"),
        Dense(10, activation="softmax"),
    ])


def test_tutorial_cnn_summary_matches_keras():
    lines = []
    tutorial_cnn().summary(print_fn=lines.append)
    text = lines[0]
    rows = [line.strip(" │").split() for line in text.splitlines() if "(Conv2D)" in line or "(Dense)" in line]
    assert [r[-1] for r in rows] == ["320", "18,496", "204,928", "1,290"]
    assert "(None, 11, 11, 64)" in text and "(None, 1600)" in text
    assert "Total params: 225,034" in text


def _built(layer, input_shape):
    """`layer` built for samples of `input_shape` (as Keras, `input_shape=` alone builds nothing)."""
    layer.build((None,) + tuple(input_shape))
    return layer


@pytest.mark.parametrize(
    "kwargs, in_ch, expected",
    [
        (dict(filters=32, kernel_size=(3, 3)), 1, 3 * 3 * 1 * 32 + 32),
        (dict(filters=64, kernel_size=(3, 3)), 32, 3 * 3 * 32 * 64 + 64),
        (dict(filters=8, kernel_size=5, use_bias=False), 3, 5 * 5 * 3 * 8),
        (dict(filters=8, kernel_size=3, groups=2), 4, 3 * 3 * (4 // 2) * 8 + 8),
    ],
)
def test_conv2d_parameter_count_is_keras_formula(kwargs, in_ch, expected):
    assert _built(Conv2D(**kwargs), (9, 9, in_ch)).count_params() == expected


def test_nhwc_input_is_not_copied_and_output_is_contiguous(monkeypatch):
    layer = Conv2D(4, 3, padding="same", input_shape=(8, 8, 3))
    x = torch.randn(2, 8, 8, 3)
    seen = {}
    real_conv2d = F.conv2d

    def spy(inp, *args, **kwargs):
        seen["ptr"] = inp.data_ptr()
        seen["channels_last"] = inp.is_contiguous(memory_format=torch.channels_last)
        return real_conv2d(inp, *args, **kwargs)

    monkeypatch.setattr(F, "conv2d", spy)
    out = layer(x)
    assert seen == {"ptr": x.data_ptr(), "channels_last": True}
    assert out.shape == (2, 8, 8, 4) and out.is_contiguous()


def test_channels_last_equals_channels_first_with_the_same_weights():
    torch.manual_seed(0)
    last = _built(Conv2D(5, (3, 2), strides=2, padding="same"), (9, 7, 3))
    first = _built(Conv2D(5, (3, 2), strides=2, padding="same", data_format="channels_first"), (3, 9, 7))
    first.set_weights(last.get_weights())
    x = torch.randn(2, 9, 7, 3)
    expected = first(x.permute(0, 3, 1, 2).contiguous()).permute(0, 2, 3, 1)
    torch.testing.assert_close(last(x), expected)
    assert first.compute_output_shape((None, 3, 9, 7)) == (None, 5, 5, 4)


def test_same_padding_with_stride_is_tensorflows_asymmetric_padding():
    torch.manual_seed(0)
    layer = _built(Conv2D(2, 3, strides=2, padding="same", data_format="channels_first"), (1, 6, 6))
    x = torch.randn(1, 1, 6, 6)
    # TF: out = ceil(6/2) = 3, total pad = (3-1)*2 + 3 - 6 = 1 -> 0 before, 1 after.
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), layer.kernel, layer.bias, stride=2)
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("kernel, strides, size", [(3, 2, 5), (4, 2, 4), (2, 3, 4), (3, 1, 5)])
def test_conv2d_transpose_same_is_the_gradient_of_conv2d_same(kernel, strides, size):
    torch.manual_seed(0)
    deconv = _built(Conv2DTranspose(2, kernel, strides=strides, padding="same", use_bias=False), (size, size, 3))
    x = torch.randn(1, size, size, 3)
    out = deconv(x)
    assert tuple(out.shape) == (1, size * strides, size * strides, 2)
    # The forward conv maps (size*strides) -> size with the same kernel (torch layout (3, 2, k, k)).
    conv = _built(Conv2D(3, kernel, strides=strides, padding="same", use_bias=False), (size * strides,) * 2 + (2,))
    conv.set_weights(deconv.get_weights())
    z = torch.zeros(1, size * strides, size * strides, 2, requires_grad=True)
    (conv(z) * x).sum().backward()
    torch.testing.assert_close(out, z.grad)


def test_conv2d_transpose_valid_and_output_padding_shapes():
    assert Conv2DTranspose(4, 3, strides=2).compute_output_shape((None, 5, 5, 1)) == (None, 11, 11, 4)
    assert Conv2DTranspose(4, 1, strides=3).compute_output_shape((None, 5, 5, 1)) == (None, 15, 15, 4)
    layer = Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1)
    assert layer.compute_output_shape((None, 5, 5, 1)) == (None, 10, 10, 4)
    assert layer(torch.randn(1, 5, 5, 1)).shape == (1, 10, 10, 4)
    assert _built(Conv2DTranspose(4, 3), (5, 5, 2)).count_params() == 3 * 3 * 2 * 4 + 4


def test_separable_conv2d_counts_and_matches_two_convolutions():
    torch.manual_seed(0)
    layer = _built(SeparableConv2D(8, 3, depth_multiplier=2, padding="same"), (6, 6, 4))
    assert layer.count_params() == 3 * 3 * 4 * 2 + 4 * 2 * 8 + 8
    x = torch.randn(2, 6, 6, 4)
    depth, point, bias = layer.kernel, layer.pointwise_kernel, layer.bias
    nchw = x.permute(0, 3, 1, 2)
    expected = F.conv2d(F.conv2d(nchw, depth, None, 1, 1, 1, 4), point, bias).permute(0, 2, 3, 1)
    torch.testing.assert_close(layer(x), expected)


def test_conv1d_shapes_and_same_padding():
    layer = _built(Conv1D(4, 3, strides=2, padding="same"), (9, 2))
    out = layer(torch.randn(3, 9, 2))
    assert out.shape == (3, 5, 4) == (3,) + layer.compute_output_shape((None, 9, 2))[1:]
    assert layer.count_params() == 3 * 2 * 4 + 4
    assert Conv1D(4, 3, dilation_rate=2).compute_output_shape((None, 9, 2)) == (None, 5, 4)


def test_softmax_output_gives_the_fused_logits_path():
    layer = _built(Conv2D(3, 1, activation="softmax"), (2, 2, 1))
    assert layer.logits_activation() == "softmax"
    x = torch.randn(1, 2, 2, 1)
    torch.testing.assert_close(torch.softmax(layer.call_logits(x), -1), layer(x))


@pytest.mark.parametrize(
    "layer",
    [
        Conv1D(4, 3, padding="same", name="c1"),
        Conv2D(8, (3, 5), strides=(2, 1), dilation_rate=1, groups=2, activation="relu", kernel_regularizer="l2"),
        Conv2DTranspose(4, 3, strides=2, output_padding=1, data_format="channels_first"),
        SeparableConv2D(4, 3, depth_multiplier=2, activation="tanh"),
    ],
    ids=lambda l: type(l).__name__,
)
def test_config_round_trips_through_json(layer):
    config = layer.get_config()
    assert type(layer).from_config(json.loads(json.dumps(config))).get_config() == config


def test_wrong_input_rank_names_the_expected_layout():
    with pytest.raises(ValueError, match=r"must have rank 4 \(batch, height, width, channels\).*x.reshape"):
        Conv2D(4, 3)(torch.ones(2, 28))
    with pytest.raises(ValueError, match=r"must have rank 4 \(batch, height, width, channels\), received input shape"):
        Sequential([Conv2D(4, 3, input_shape=(28, 28))])
    with pytest.raises(ValueError, match=r"must have rank 3 \(batch, steps, channels\)"):
        Conv1D(4, 3)(torch.ones(2, 5, 5, 1))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Conv2D(0, 3), "filters must be a positive integer, received filters=0"),
        (lambda: Conv2D(4, 3, padding="full"), "padding must be 'valid' or 'same', received padding='full'"),
        (lambda: Conv2D(4, (3, 3, 3)), r"kernel_size must be a positive int or a tuple of 2"),
        (lambda: Conv2D(4, 3, strides=0), "strides must be a positive int"),
        (lambda: Conv2D(4, 3, data_format="NHWC"), "data_format must be 'channels_last' or 'channels_first'"),
        (lambda: Conv2D(5, 3, groups=2), "filters must be divisible by groups"),
        (lambda: _built(Conv2D(4, 3, groups=2), (5, 5, 3)), r"input channels \(3\) must be divisible by groups=2"),
        (lambda: _built(Conv2D(4, 3), (5, 5, None)), "needs a known channel dimension"),
        (lambda: Conv2DTranspose(4, 3, strides=2, output_padding=2), "output_padding must be smaller than the stride"),
        (lambda: SeparableConv2D(4, 3, depth_multiplier=0), "depth_multiplier must be a positive integer"),
    ],
)
def test_bad_arguments_are_rejected_with_the_fix(make, match):
    with pytest.raises(ValueError, match=match):
        make()
