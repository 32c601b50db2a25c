"""BatchNormalization and LayerNormalization: Keras's momentum, counts, modes, configs and errors."""

import json

import pytest
import torch

from kerasish.layers import BatchNormalization, Conv2D, Dense, LayerNormalization
from kerasish.models import Sequential


def test_batch_norm_parameter_count_is_four_per_feature_two_trainable():
    model = Sequential([Dense(32, input_shape=(8,)), BatchNormalization()])
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    row = [line for line in text.splitlines() if "batch_normalization" in line][0]  # the class wraps below
    assert row.strip(" │").split()[-1] == "128"
    assert "Total params: 416" in text  # 8*32+32 + 4*32
    assert "Non-trainable params: 64" in text
    assert model.layers[1].count_params() == 128
    assert [w.shape for w in model.layers[1].get_weights()] == [(32,)] * 4


def test_batch_norm_uses_keras_momentum_and_moving_statistics():
    torch.manual_seed(0)
    layer = BatchNormalization(input_shape=(3,))
    x = torch.randn(64, 3) * 2 + 5
    layer.train()
    out = layer(x)
    torch.testing.assert_close(out.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    gamma, beta, mean, var = layer.get_weights()
    torch.testing.assert_close(torch.tensor(mean), 0.01 * x.mean(0))
    # Keras's rule: the biased batch variance (torch's BatchNorm uses the unbiased one).
    torch.testing.assert_close(torch.tensor(var), 0.99 + 0.01 * x.var(0, unbiased=False))
    layer.eval()
    expected = (x - torch.tensor(mean)) / torch.sqrt(torch.tensor(var) + 1e-3)
    torch.testing.assert_close(layer(x), expected)


def test_a_direct_call_without_training_is_inference_as_in_keras():
    # Keras: training=None -> the layer's inference behaviour; moving statistics stay put.
    x = torch.randn(16, 3) * 4 + 2
    bn = BatchNormalization()
    out = bn(x)
    torch.testing.assert_close(out, x / (1 + 1e-3) ** 0.5)
    torch.testing.assert_close(bn.moving_mean.detach(), torch.zeros(3))
    bn.train()  # a hand-written torch loop's switch still turns training on
    assert not torch.allclose(bn(x), x / (1 + 1e-3) ** 0.5)


def test_batch_norm_on_nhwc_matches_torch_on_nchw():
    torch.manual_seed(0)
    x = torch.randn(4, 5, 5, 3)
    ours = BatchNormalization(input_shape=(5, 5, 3))
    ref = torch.nn.BatchNorm2d(3, eps=1e-3, momentum=0.01)
    out = ours(x, training=True)
    torch.testing.assert_close(out, ref(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
    torch.testing.assert_close(ours.moving_mean.detach(), ref.running_mean)
    channels_first = BatchNormalization(axis=1)
    channels_first.build((None, 3, 5, 5))
    assert channels_first.count_params() == 12


def test_frozen_batch_norm_runs_in_inference_mode_and_keeps_moving_stats_frozen():
    layer = BatchNormalization()
    layer.build((None, 2))
    layer.trainable = False
    before = layer.get_weights()
    assert len(before) == 4
    layer.train()
    out = layer(torch.randn(16, 2) + 3)
    after = layer.get_weights()
    assert all((b == a).all() for b, a in zip(before, after))
    torch.testing.assert_close(out.mean(), torch.tensor(3.0) / (1 + 1e-3) ** 0.5, atol=0.5, rtol=0)
    layer.trainable = True
    assert [p.requires_grad for p in layer.parameters()] == [True, True, False, False]


def test_batch_norm_trains_inside_a_cnn():
    torch.manual_seed(0)
    model = Sequential([Conv2D(4, 3, input_shape=(6, 6, 1)), BatchNormalization(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(torch.randn(8, 6, 6, 1), torch.randn(8, 4, 4, 1), epochs=1, batch_size=4, verbose=0)
    assert model.layers[1].moving_mean.abs().sum() > 0
    assert model.layers[1].moving_mean.grad is None


def test_layer_norm_matches_torch_and_supports_several_axes():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4)
    layer = LayerNormalization(input_shape=(3, 4))
    torch.testing.assert_close(layer(x), torch.nn.functional.layer_norm(x, (4,), eps=1e-3))
    assert layer.count_params() == 8
    both = LayerNormalization(axis=[1, 2], input_shape=(3, 4))
    torch.testing.assert_close(both(x), torch.nn.functional.layer_norm(x, (3, 4), eps=1e-3))
    middle = LayerNormalization(axis=1, input_shape=(3, 4))
    expected = (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-3)
    torch.testing.assert_close(middle(x), expected)
    assert middle.compute_output_shape((None, 3, 4)) == (None, 3, 4)


@pytest.mark.parametrize(
    "layer",
    [BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, gamma_regularizer="l2"),
     LayerNormalization(axis=[1, 2], scale=False, name="ln")],
    ids=lambda l: type(l).__name__,
)
def test_config_round_trips_through_json(layer):
    config = layer.get_config()
    assert type(layer).from_config(json.loads(json.dumps(config))).get_config() == config


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: BatchNormalization(momentum=1.0), r"momentum must be in \[0, 1\), received momentum=1.0"),
        (lambda: BatchNormalization(epsilon=0), "epsilon must be a positive number, received epsilon=0"),
        (lambda: BatchNormalization(axis=[1, 2]), r"axis must be one int \(the feature axis\)"),
        # Shape errors come from the build, as in Keras (its own errors there are less specific).
        (lambda: BatchNormalization(axis=3).build((None, 4)), "axis=3 is out of range for inputs of rank 2"),
        (lambda: BatchNormalization(axis=0).build((None, 4)), "names the batch axis 0"),
        (lambda: BatchNormalization().build((None, None)), "needs a known size on axis -1"),
        (lambda: LayerNormalization(axis="last"), "axis must be an int or a list of ints, received axis='last'"),
        (lambda: LayerNormalization().build((None, None)), "needs known sizes on axis -1"),
    ],
)
def test_bad_arguments_are_rejected_with_the_fix(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_batch_norm_rejects_inputs_of_another_rank():
    layer = BatchNormalization(input_shape=(4,))
    layer(torch.ones(2, 3, 4))  # as Keras: input_shape= alone builds nothing; the first call builds for rank 3
    assert layer.get_build_config() == {"input_shape": [2, 3, 4]}
    layer = BatchNormalization()
    layer.build((None, 4))
    with pytest.raises(ValueError, match="was built for inputs of rank 2"):
        layer(torch.ones(2, 3, 4))
