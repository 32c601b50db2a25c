"""Keras's guide "Understanding masking & padding" (keras-io `guides/understanding_masking_and_padding.py`),
run on kerasish.

Each test is one section of the guide. The guide's code is kept as written; the only changes are
the imports (`import kerasish as keras`, `from kerasish import layers, ops`) and the lines marked
`# changed:` (TensorFlow calls become the `ops` calls of Keras 3's version of the guide, smaller
arrays). Keras 3 on its torch backend runs the same code as the oracle (`tests/keras_parity.py`):
masks, outputs from the same weights, warnings and errors are compared with what Keras gives.
`tests/layers/test_mask_passing.py` covers masks through the built-in layers in more depth.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, keras_module, to_numpy

RAW_INPUTS = [
    [711, 632, 71],
    [73, 8, 3215, 55, 927],
    [83, 91, 1, 645, 1253, 927],
]


def _padded(lib):
    return lib.utils.pad_sequences(RAW_INPUTS, padding="post")  # changed: keras.utils, as in Keras 3


def test_padding_sequence_data():
    k = keras_module()
    padded_inputs = _padded(kerasish)
    expected = _padded(k)
    np.testing.assert_array_equal(padded_inputs, expected)
    assert padded_inputs.dtype == expected.dtype == np.int32
    assert padded_inputs.tolist()[0] == [711, 632, 71, 0, 0, 0]


def _masks(lib):
    layers, ops = lib.layers, lib.ops
    padded_inputs = _padded(lib)
    embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    masked_output = embedding(padded_inputs)
    masking_layer = layers.Masking()
    # Simulate the embedding lookup by expanding the 2D input to 3D,
    # with embedding dimension of 10.
    unmasked_embedding = ops.cast(
        ops.tile(ops.expand_dims(padded_inputs, axis=-1), [1, 1, 10]), "float32"
    )  # changed: ops for tf
    masked_embedding = masking_layer(unmasked_embedding)
    return masked_output._keras_mask, masked_embedding


def test_mask_generating_layers_embedding_and_masking():
    k = keras_module()
    ours, theirs = _masks(kerasish), _masks(k)
    for a, b in zip((ours[0], ours[1]._keras_mask), (theirs[0], theirs[1]._keras_mask)):
        assert a.dtype == b.dtype and tuple(a.shape) == (3, 6)
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    assert to_numpy(ours[0]).tolist()[0] == [True, True, True, False, False, False]


def _propagation_models(lib):
    keras, layers = lib, lib.layers
    lib.utils.set_random_seed(1)
    model = keras.Sequential(
        [layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True), layers.LSTM(32)]
    )
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    outputs = layers.LSTM(32)(x)
    return model, keras.Model(inputs, outputs)


def test_mask_propagation_in_the_functional_and_sequential_api():
    k = keras_module()
    padded_inputs = _padded(kerasish)
    theirs, ours = _propagation_models(k), _propagation_models(kerasish)
    theirs[0].build((None, None))
    ours[0].build((None, None))
    for mine, keras_twin in zip(ours, theirs):
        mine.set_weights(keras_twin.get_weights())
        expected = keras_twin.predict(padded_inputs, verbose=0)
        assert_close(mine.predict(padded_inputs, verbose=0), expected, atol=1e-5)
        # The padded steps are skipped: the same sequences padded further give the same outputs.
        longer = np.pad(padded_inputs, ((0, 0), (0, 3)))
        assert_close(mine.predict(longer, verbose=0), expected, atol=1e-5)


def _my_layer(lib):
    layers = lib.layers

    class MyLayer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
            self.lstm = layers.LSTM(32)

        def call(self, inputs):
            x = self.embedding(inputs)
            # Note that you could also prepare a `mask` tensor manually.
            # It only needs to be a boolean tensor
            # with the right shape, i.e. (batch_size, timesteps).
            mask = self.embedding.compute_mask(inputs)
            output = self.lstm(x, mask=mask)  # The layer will ignore the masked values
            return output

    return MyLayer()


def test_passing_mask_tensors_directly_to_layers():
    k = keras_module()
    x = np.random.RandomState(0).random_sample((32, 10)) * 100
    x = x.astype("int32")
    x[:, 7:] = 0  # changed: padded ends, so that the mask matters
    theirs, layer = _my_layer(k), _my_layer(kerasish)
    expected = theirs(x)
    layer(x)
    layer.set_weights(theirs.get_weights())
    out = layer(x)
    assert tuple(out.shape) == (32, 32)
    assert_close(out, expected, atol=1e-5)


def _temporal_split(lib):
    ops = lib.ops

    class TemporalSplit(lib.layers.Layer):
        """Split the input tensor into 2 tensors along the time dimension."""

        def call(self, inputs):
            # Expect the input to be 3D and mask to be 2D, split the input tensor into 2
            # subtensors along the time axis (axis 1).
            return ops.split(inputs, 2, axis=1)  # changed: ops for tf

        def compute_mask(self, inputs, mask=None):
            # Also split the mask into 2 if it presents.
            if mask is None:
                return None
            return ops.split(mask, 2, axis=1)  # changed: ops for tf

    return TemporalSplit


def test_a_custom_layer_that_splits_the_mask_eagerly():
    k = keras_module()
    masks = {}
    for lib in (k, kerasish):
        _, masked_embedding = _masks(lib)
        first_half, second_half = _temporal_split(lib)()(masked_embedding)
        masks[lib] = [to_numpy(first_half._keras_mask), to_numpy(second_half._keras_mask)]
    np.testing.assert_array_equal(masks[kerasish], masks[k])


def test_a_custom_layer_that_splits_the_mask_in_a_functional_model():
    k = keras_module()
    specs = {}
    for lib in (k, kerasish):
        inputs = lib.Input(shape=(6, 10))  # changed: the symbolic twin of the guide's eager call
        first_half, second_half = _temporal_split(lib)()(lib.layers.Masking()(inputs))
        specs[lib] = [(t.shape, t._keras_mask.shape, str(t._keras_mask.dtype)) for t in (first_half, second_half)]
    assert specs[kerasish] == specs[k] == [((None, 3, 10), (None, 3), "bool")] * 2


def _custom_embedding(lib):
    keras, ops = lib, lib.ops

    class CustomEmbedding(keras.layers.Layer):
        def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
            super().__init__(**kwargs)
            self.input_dim = input_dim
            self.output_dim = output_dim
            self.mask_zero = mask_zero

        def build(self, input_shape):
            self.embeddings = self.add_weight(
                shape=(self.input_dim, self.output_dim),
                initializer="random_normal",
                dtype="float32",
            )

        def call(self, inputs):
            return ops.take(self.embeddings, inputs)  # changed: ops.take for tf.nn.embedding_lookup

        def compute_mask(self, inputs, mask=None):
            if not self.mask_zero:
                return None
            return ops.not_equal(inputs, 0)  # changed: ops for tf

    return CustomEmbedding


def test_a_custom_layer_that_generates_a_mask():
    k = keras_module()
    x = np.random.RandomState(0).random_sample((3, 10)) * 9
    x = x.astype("int32")
    results = {}
    for lib in (k, kerasish):
        layer = _custom_embedding(lib)(10, 32, mask_zero=True)
        y = layer(x)
        if lib is kerasish:
            layer.set_weights(results[k][0].get_weights())
            y = layer(x)
        mask = layer.compute_mask(x)
        results[lib] = (layer, y, mask)
    _, y, mask = results[kerasish]
    np.testing.assert_array_equal(to_numpy(mask), to_numpy(results[k][2]))
    np.testing.assert_array_equal(to_numpy(y._keras_mask), to_numpy(results[k][1]._keras_mask))
    assert_close(y, results[k][1])


def _activation_models(lib, opt_in):
    keras, layers, ops = lib, lib.layers, lib.ops

    class MyActivation(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Signal that the layer is safe for mask propagation
            self.supports_masking = opt_in  # changed: False for the guide's counter-example

        def call(self, inputs):
            return ops.relu(inputs)  # changed: ops for tf

    lib.utils.set_random_seed(2)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)  # Will pass the mask along
    found = getattr(x, "_keras_mask", None)
    outputs = layers.LSTM(32)(x)  # Will receive the mask
    return found, keras.Model(inputs, outputs)


def test_opting_in_to_mask_propagation():
    k = keras_module()
    padded_inputs = _padded(kerasish)
    their_mask, theirs = _activation_models(k, True)
    mask, model = _activation_models(kerasish, True)
    # "Mask found:" a symbolic boolean mask, as Keras shows it while the model is built.
    assert mask is not None and mask.shape == their_mask.shape == (None, None) and str(mask.dtype) == "bool"
    model.set_weights(theirs.get_weights())
    assert_close(model.predict(padded_inputs, verbose=0), theirs.predict(padded_inputs, verbose=0), atol=1e-5)


def test_a_layer_that_does_not_opt_in_destroys_the_mask_with_a_warning():
    k = keras_module()
    padded_inputs = _padded(kerasish)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, theirs = _activation_models(k, False)
    with pytest.warns(UserWarning, match=r"'my_activation' \(MyActivation\) received an input with a Keras mask, "
                                         r"but it does not support masking.*self\.supports_masking = True"):
        mask, model = _activation_models(kerasish, False)
    assert mask is None
    model.set_weights(theirs.get_weights())
    # The LSTM then reads every step, padding included, as in Keras.
    assert_close(model.predict(padded_inputs, verbose=0), theirs.predict(padded_inputs, verbose=0), atol=1e-5)


def _softmax_model(lib):
    keras, layers, ops = lib, lib.layers, lib.ops

    class TemporalSoftmax(keras.layers.Layer):
        def call(self, inputs, mask=None):
            broadcast_float_mask = ops.expand_dims(ops.cast(mask, "float32"), -1)  # changed: ops for tf
            inputs_exp = ops.exp(inputs) * broadcast_float_mask
            inputs_sum = ops.sum(inputs * broadcast_float_mask, axis=1, keepdims=True)
            return inputs_exp / inputs_sum

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    x = layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)
    return keras.Model(inputs, outputs)


def test_writing_layers_that_need_mask_information():
    k = keras_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that TemporalSoftmax drops the mask it consumed
        theirs = _softmax_model(k)
    model = _softmax_model(kerasish)  # traced with a mask, as Keras builds it: no error
    model.set_weights(theirs.get_weights())
    data = np.random.RandomState(0).randint(0, 10, size=(32, 100))
    expected = theirs(data)
    assert_close(model(data), expected, rtol=1e-4, atol=1e-5)
    # The guide passes a second positional array; Keras 3 takes it as `training` and raises a
    # TypeError, kerasish raises a ValueError that says what it received.
    with pytest.raises(TypeError):
        theirs(data, np.random.random((32, 100, 1)))
    with pytest.raises(ValueError, match="has 1 input, received 2"):
        model(data, np.random.random((32, 100, 1)))
