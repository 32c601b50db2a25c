"""Floating-point inputs reach a layer's call() in its weights' dtype, as Keras converts them to the layer's
compute dtype: float64 data into a float32 layer, float32 data into a dtype="float64" one (both raised
torch's "mat1 and mat2 must have the same dtype" before)."""

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from tests.keras_parity import copy_weights, keras_module, to_numpy

X = np.random.default_rng(0).normal(size=(3, 4))


@pytest.mark.parametrize("layer_dtype,input_dtype", [
    (None, "float64"), ("float64", "float32"), ("float32", "float16"), (None, "bfloat16")])
def test_dense_converts_its_inputs_as_keras(layer_dtype, input_dtype):
    keras = keras_module()
    ours, theirs = layers.Dense(2, dtype=layer_dtype), keras.layers.Dense(2, dtype=layer_dtype)
    theirs.build((None, 4))
    ours(torch.zeros(1, 4))
    copy_weights(theirs, ours)
    x = torch.tensor(X).to(getattr(torch, input_dtype))
    got, expected = ours(x), theirs(keras.ops.convert_to_tensor(x))
    assert str(got.dtype).replace("torch.", "") == str(expected.dtype).replace("torch.", "") == (layer_dtype or "float32")
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), rtol=1e-5, atol=1e-6)


def test_a_layer_converted_by_torch_takes_inputs_in_its_new_dtype():
    model = kerasish.Sequential([layers.Input((4,)), layers.Dense(3), layers.Activation("relu"), layers.Dense(2)])
    model.double()
    out = model(torch.tensor(X))
    assert out.dtype == torch.float64


def test_conv_and_a_mask_kept_through_the_conversion():
    conv = layers.Conv1D(2, 2, dtype="float64")
    assert conv(torch.ones(1, 5, 3)).dtype == torch.float64
    emb = layers.Embedding(5, 3, mask_zero=True)
    lstm = layers.LSTM(2)
    ids = torch.tensor([[1, 2, 0]])
    h = emb(ids).double()
    h._keras_mask = emb.compute_mask(ids)
    assert lstm(h).dtype == torch.float32


def test_lookup_text_and_hashing_layers_take_inputs_as_they_are():
    for cls in (layers.StringLookup, layers.IntegerLookup, layers.Hashing, layers.TextVectorization,
                layers.CategoryEncoding, layers.RandomFlip, layers.RandomCrop):
        assert cls._convert_input_args is False, cls
    assert layers.Dense._convert_input_args is True


def test_no_conversion_under_a_mixed_policy_or_with_autocast_off():
    dense = layers.Dense(2, autocast=False)
    dense(torch.zeros(1, 4))
    with pytest.raises(RuntimeError, match="same dtype"):
        dense(torch.tensor(X))  # autocast=False: the input is taken as it is, as in Keras
    try:
        kerasish.mixed_precision.set_global_policy("mixed_bfloat16")
        bf = torch.tensor(X, dtype=torch.bfloat16)
        from kerasish.layers.calling import input_cast_dtype

        assert input_cast_dtype(layers.Dense(2)) is None and bf.dtype == torch.bfloat16
    finally:
        kerasish.mixed_precision.set_global_policy("float32")
