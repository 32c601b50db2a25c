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


# Found by review of the conversion: each failed on its first version.
def test_float_ids_into_a_bfloat16_embedding_pick_the_right_rows_as_keras():
    keras = keras_module()
    ours, theirs = layers.Embedding(300, 2, dtype="bfloat16"), keras.layers.Embedding(300, 2, dtype="bfloat16")
    ids = torch.tensor([[257.0, 1.0, 299.0]])  # 257 and 299 are not bfloat16 numbers
    assert torch.equal(theirs(keras.ops.convert_to_tensor(ids)), theirs(keras.ops.convert_to_tensor(ids.long())))
    assert torch.equal(ours(ids), ours(ids.long()))


@pytest.mark.parametrize("name,kw", [("LayerNormalization", {}), ("GroupNormalization", {"groups": 2})])
def test_bfloat16_normalization_of_float32_data_is_computed_as_keras(name, kw):
    keras = keras_module()
    x = 50 + torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    ours, theirs = getattr(layers, name)(dtype="bfloat16", **kw), getattr(keras.layers, name)(dtype="bfloat16", **kw)
    got, expected = ours(x), theirs(keras.ops.convert_to_tensor(x))
    assert got.dtype == torch.bfloat16
    np.testing.assert_allclose(to_numpy(got.float()), to_numpy(expected.float()), atol=2e-2)


def test_a_symbolic_dense_reports_the_dtype_its_call_returns():
    keras = keras_module()
    out = layers.Dense(2)(layers.Input((4,), dtype="float64"))
    assert out.dtype == "float32" == keras.layers.Dense(2)(keras.Input((4,), dtype="float64")).dtype


def test_the_conversion_keeps_the_mask_and_compiles_without_a_graph_break():
    class Probe(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), initializer="ones")

        def call(self, x, mask=None):
            self.seen = mask
            return x * self.w

    probe = Probe()
    probe(torch.zeros(1, 3, 2))
    mask = torch.tensor([[True, True, False]])

    def step(h):
        h = h.double()
        h._keras_mask = mask
        return probe(h)

    out = torch.compile(step, fullgraph=True, backend="eager")(torch.randn(1, 3, 2))
    assert out.dtype == torch.float32 and torch.equal(probe.seen, mask)
