"""ZeroPadding2D, UpSampling2D, SpatialDropout1D/2D: shapes, values, configs and errors."""

import json

import pytest
import torch

from kerasish.layers import SpatialDropout1D, SpatialDropout2D, UpSampling2D, ZeroPadding2D


def test_zero_padding_2d_pads_height_and_width():
    x = torch.ones(1, 2, 3, 2)
    out = ZeroPadding2D(((1, 0), (2, 1)))(x)
    assert out.shape == (1, 3, 6, 2)
    assert out.sum() == x.sum() and out[0, 0].sum() == 0 and out[0, 1:, 2:5].min() == 1
    assert ZeroPadding2D(1).compute_output_shape((None, 2, 3, 2)) == (None, 4, 5, 2)
    assert ZeroPadding2D((1, 2), data_format="channels_first").compute_output_shape((None, 2, 3, 3)) == (None, 2, 5, 7)


def test_up_sampling_2d_repeats_pixels():
    x = torch.arange(4.0).reshape(1, 2, 2, 1)
    out = UpSampling2D((2, 3))(x)
    assert out.shape == (1, 4, 6, 1)
    assert out[0, :, :, 0].tolist()[0] == [0, 0, 0, 1, 1, 1]
    assert UpSampling2D(interpolation="bilinear").compute_output_shape((None, 3, 4, 2)) == (None, 6, 8, 2)
    assert UpSampling2D(interpolation="bilinear")(x).shape == (1, 4, 4, 1)


def test_spatial_dropout_drops_whole_channels_in_training_only():
    torch.manual_seed(0)
    x = torch.ones(8, 5, 5, 6)
    layer = SpatialDropout2D(0.5)
    assert torch.equal(layer(x), x)  # a direct call is inference, as in Keras
    out = layer(x, training=True)
    per_channel = out.amax(dim=(1, 2))
    assert set(per_channel.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(out.amin(dim=(1, 2)), per_channel)  # all pixels of a channel agree
    assert torch.equal(layer.eval()(x), x)
    out1d = SpatialDropout1D(0.5).train()(torch.ones(4, 7, 3))
    assert torch.equal(out1d.amin(dim=1), out1d.amax(dim=1))


@pytest.mark.parametrize(
    "layer",
    [ZeroPadding2D(((1, 0), (2, 1))), UpSampling2D(3, interpolation="bilinear"), SpatialDropout1D(0.2),
     SpatialDropout2D(0.3, data_format="channels_first")],
    ids=lambda l: type(l).__name__,
)
def test_config_round_trips_through_json(layer):
    config = layer.get_config()
    assert type(layer).from_config(json.loads(json.dumps(config))).get_config() == config


def test_bad_arguments_and_inputs_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match=r"padding must be an int, a tuple of 2 ints .* received padding=\(1, 2, 3\)"):
        ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="interpolation must be 'nearest' or 'bilinear', received interpolation='area'"):
        UpSampling2D(interpolation="area")
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\), received rate=1"):
        SpatialDropout1D(1)
    with pytest.raises(ValueError, match=r"must have rank 4 \(batch, height, width, channels\)"):
        UpSampling2D()(torch.ones(2, 3, 3))
    with pytest.raises(ValueError, match=r"must have rank 4 \(batch, height, width, channels\), received input shape"):
        ZeroPadding2D().compute_output_shape((None, 3, 3))
    with pytest.raises(ValueError, match=r"must have rank 3 \(batch, steps, channels\)"):
        SpatialDropout1D(0.5)(torch.ones(2, 3))
