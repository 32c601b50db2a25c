"""Every kerasish layer that Keras 3 has, built in both from the same constructor arguments,
given the same (random, non-default) weights and inputs: outputs in inference and training
mode, gradients of the inputs and of every trainable weight, the weights after a training
call (BatchNormalization's moving statistics) and `compute_output_shape`.

Then whole models: `kerasish_model.set_weights(keras_model.get_weights())` and `predict`
equals Keras's `predict` for an MLP, a CNN with BatchNormalization and Conv2DTranspose, and a
BiLSTM + GRU text model (with and without a padding mask), in both directions of the copy.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers as klayers
from tests.keras_parity import assert_close, copy_weights, grads, keras_layout_grads, keras_module, to_numpy

# (id, class name, constructor kwargs, input shape(s), options)
# options: "int" (token ids in [0, 10)), "random" (training output is random: shapes only),
# "mask" (a padding mask is passed), "inputs" (number of inputs of a merging layer).
CASES: List[Tuple[str, str, Dict[str, Any], Any, Dict[str, Any]]] = [
    ("dense", "Dense", dict(units=4, activation="relu"), (3, 5), {}),
    ("dense_rank3", "Dense", dict(units=4, use_bias=False), (2, 3, 5), {}),
    ("activation", "Activation", dict(activation="selu"), (3, 5), {}),
    ("dropout", "Dropout", dict(rate=0.5), (3, 5), {"random": True}),
    ("flatten", "Flatten", {}, (2, 3, 4), {}),
    ("reshape", "Reshape", dict(target_shape=(4, 3)), (2, 3, 4), {}),
    ("conv1d_same_s2", "Conv1D", dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 9, 2), {}),
    ("conv1d_dilated", "Conv1D", dict(filters=3, kernel_size=3, dilation_rate=2, padding="same", activation="tanh"),
     (2, 9, 2), {}),
    ("conv1d_groups", "Conv1D", dict(filters=4, kernel_size=2, groups=2), (2, 7, 4), {}),
    ("conv2d_valid", "Conv2D", dict(filters=4, kernel_size=(3, 2), strides=(2, 1)), (2, 7, 6, 3), {}),
    ("conv2d_same_s2", "Conv2D", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 7, 6, 3), {}),
    ("conv2d_groups", "Conv2D", dict(filters=4, kernel_size=3, groups=2, padding="same"), (2, 6, 6, 4), {}),
    ("conv2d_channels_first", "Conv2D", dict(filters=4, kernel_size=3, padding="same", data_format="channels_first"),
     (2, 3, 6, 5), {}),
    ("conv2d_transpose_same_op", "Conv2DTranspose",
     dict(filters=3, kernel_size=3, strides=2, padding="same", output_padding=1), (2, 4, 5, 2), {}),
    ("conv2d_transpose_same", "Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same"),
     (2, 4, 5, 2), {}),
    ("conv2d_transpose_valid_s3", "Conv2DTranspose", dict(filters=3, kernel_size=2, strides=3), (2, 4, 5, 2), {}),
    ("conv2d_transpose_dilated", "Conv2DTranspose", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"),
     (2, 4, 5, 2), {}),
    ("separable_conv2d", "SeparableConv2D",
     dict(filters=4, kernel_size=3, depth_multiplier=2, padding="same", strides=2), (2, 7, 6, 3), {}),
    ("max_pooling1d_same", "MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 3), {}),
    ("average_pooling1d_same", "AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 3), {}),
    ("max_pooling2d", "MaxPooling2D", dict(pool_size=(3, 2), strides=(2, 1)), (2, 7, 6, 3), {}),
    ("max_pooling2d_same", "MaxPooling2D", dict(pool_size=(3, 2), strides=2, padding="same"), (2, 7, 6, 3), {}),
    ("average_pooling2d", "AveragePooling2D", dict(pool_size=2), (2, 7, 6, 3), {}),
    # An odd axis (7 -> 4 windows) needs padding at its end only: the (4, 3) case.
    ("average_pooling2d_same", "AveragePooling2D", dict(pool_size=2, padding="same"), (2, 7, 6, 3), {}),
    ("global_average_pooling1d", "GlobalAveragePooling1D", {}, (2, 5, 3), {}),
    ("global_average_pooling1d_mask", "GlobalAveragePooling1D", {}, (3, 5, 3), {"mask": True}),
    ("global_max_pooling1d", "GlobalMaxPooling1D", dict(keepdims=True), (2, 5, 3), {}),
    ("global_average_pooling2d", "GlobalAveragePooling2D", dict(keepdims=True), (2, 4, 5, 3), {}),
    ("global_max_pooling2d", "GlobalMaxPooling2D", {}, (2, 4, 5, 3), {}),
    ("batch_normalization", "BatchNormalization", {}, (6, 4), {}),
    ("batch_normalization_images", "BatchNormalization", dict(momentum=0.9, epsilon=1e-2), (3, 4, 5, 2), {}),
    ("batch_normalization_axis1", "BatchNormalization", dict(axis=1, center=False), (3, 2, 4, 5), {}),
    ("layer_normalization", "LayerNormalization", {}, (3, 4, 5), {}),
    ("layer_normalization_axes", "LayerNormalization", dict(axis=[1, 2], scale=False), (3, 4, 5), {}),
    ("zero_padding2d", "ZeroPadding2D", dict(padding=((1, 2), (0, 1))), (2, 3, 4, 2), {}),
    ("up_sampling2d", "UpSampling2D", dict(size=(2, 3)), (2, 3, 4, 2), {}),
    ("spatial_dropout1d", "SpatialDropout1D", dict(rate=0.5), (2, 5, 3), {"random": True}),
    ("spatial_dropout2d", "SpatialDropout2D", dict(rate=0.5), (2, 4, 5, 3), {"random": True}),
    ("embedding", "Embedding", dict(input_dim=10, output_dim=4), (3, 5), {"int": True}),
    ("masking", "Masking", dict(mask_value=0.0), (3, 5, 2), {}),
    ("simple_rnn", "SimpleRNN", dict(units=3, return_sequences=True), (3, 5, 4), {}),
    ("simple_rnn_sigmoid_mask", "SimpleRNN", dict(units=3, activation="sigmoid"), (3, 5, 4), {"mask": True}),
    ("lstm", "LSTM", dict(units=3, return_state=True), (3, 5, 4), {}),
    ("lstm_mask_sequences", "LSTM", dict(units=3, return_sequences=True), (3, 5, 4), {"mask": True}),
    ("lstm_relu_hard_sigmoid", "LSTM",
     dict(units=3, activation="relu", recurrent_activation="hard_sigmoid", go_backwards=True), (3, 5, 4), {}),
    ("gru", "GRU", dict(units=3, return_sequences=True, go_backwards=True), (3, 5, 4), {}),
    ("gru_reset_before", "GRU", dict(units=3, reset_after=False), (3, 5, 4), {"mask": True}),
    ("gru_elu", "GRU", dict(units=3, activation="elu", return_sequences=True), (3, 5, 4), {}),
    ("bidirectional_lstm", "Bidirectional", dict(layer=("LSTM", dict(units=3, return_sequences=True))),
     (3, 5, 4), {"mask": True}),
    ("bidirectional_gru_sum", "Bidirectional", dict(layer=("GRU", dict(units=3)), merge_mode="sum"), (3, 5, 4), {}),
    ("relu", "ReLU", dict(max_value=1.0, negative_slope=0.1, threshold=0.2), (3, 5), {}),
    ("leaky_relu", "LeakyReLU", dict(negative_slope=0.2), (3, 5), {}),
    ("prelu", "PReLU", {}, (3, 5), {}),
    ("elu", "ELU", dict(alpha=0.5), (3, 5), {}),
    ("softmax", "Softmax", dict(axis=-1), (3, 5), {}),
    ("add", "Add", {}, (3, 4), {"inputs": 2}),
    ("subtract", "Subtract", {}, (3, 4), {"inputs": 2}),
    ("multiply", "Multiply", {}, (3, 4), {"inputs": 3}),
    ("average", "Average", {}, (3, 4), {"inputs": 2}),
    ("maximum", "Maximum", {}, (3, 4), {"inputs": 2}),
    ("minimum", "Minimum", {}, (3, 4), {"inputs": 2}),
    ("concatenate", "Concatenate", dict(axis=1), (3, 4), {"inputs": 2}),
    ("dot", "Dot", dict(axes=1, normalize=True), (3, 4), {"inputs": 2}),
]

_MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 1, 1, 1]], dtype=bool)


def _build(module: Any, name: str, kwargs: Dict[str, Any]) -> Any:
    kwargs = dict(kwargs)
    if "layer" in kwargs:
        inner, inner_kwargs = kwargs["layer"]
        kwargs["layer"] = getattr(module, inner)(**inner_kwargs)
    return getattr(module, name)(**kwargs)


def _inputs(shape: Tuple[int, ...], options: Dict[str, Any], rng: np.random.Generator) -> List[np.ndarray]:
    if options.get("int"):
        return [rng.integers(0, 10, size=shape).astype("int64")]
    xs = [rng.standard_normal(shape).astype("float32") for _ in range(options.get("inputs", 1))]
    if options.get("mask") and len(shape) == 3:
        xs[0][~_MASK[: shape[0], : shape[1]]] = 0.0
    return xs


def _randomize(keras_layer: Any, rng: np.random.Generator) -> None:
    """Non-default Keras weights (variances positive), so copied weights are really exercised."""
    new = []
    for v, w in zip(keras_layer.weights, keras_layer.get_weights()):
        if "variance" in v.name:
            new.append(rng.uniform(0.5, 1.5, size=w.shape).astype(w.dtype))
        else:
            new.append((0.5 * rng.standard_normal(w.shape)).astype(w.dtype))
    keras_layer.set_weights(new)


def _call(layer: Any, tensors: List[torch.Tensor], options: Dict[str, Any], training: bool) -> List[torch.Tensor]:
    x: Any = tensors if options.get("inputs") else tensors[0]
    kwargs: Dict[str, Any] = {"training": training}
    if options.get("mask"):
        kwargs["mask"] = torch.as_tensor(_MASK[: tensors[0].shape[0], : tensors[0].shape[1]])
    out = layer(x, **kwargs)
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_keras(case: Tuple[str, str, Dict[str, Any], Any, Dict[str, Any]]) -> None:
    keras = keras_module()
    _, name, kwargs, shape, options = case
    rng = np.random.default_rng(0)
    xs = _inputs(shape, options, rng)
    keras_layer = _build(keras.layers, name, kwargs)
    ours = _build(klayers, name, kwargs)
    # Build both (inference calls change no state), then give ours Keras's random weights.
    _call(keras_layer, [torch.as_tensor(x) for x in xs], options, training=False)
    _call(ours, [torch.as_tensor(x) for x in xs], options, training=False)
    _randomize(keras_layer, rng)
    copy_weights(keras_layer, ours)
    assert_close(ours.get_weights(), keras_layer.get_weights(), atol=0, rtol=0)

    # Inference.
    expected = _call(keras_layer, [torch.as_tensor(x) for x in xs], options, training=False)
    got = _call(ours, [torch.as_tensor(x) for x in xs], options, training=False)
    assert_close(got, expected, atol=1e-5, rtol=1e-4)
    # compute_output_shape is Keras's real output shape (Keras's own returns None for some
    # Conv2DTranspose output_padding cases).
    in_shape: Any = [(None,) + s.shape[1:] for s in xs] if options.get("inputs") else (None,) + tuple(shape[1:])
    out_shape = ours.compute_output_shape(in_shape)
    out_shapes = out_shape if isinstance(out_shape, list) else [out_shape]
    assert [tuple(s) for s in out_shapes] == [(None,) + tuple(t.shape[1:]) for t in expected]

    # Training: outputs, the weights afterwards (moving statistics), gradients.
    differentiable = not options.get("int")
    k_in = [torch.tensor(x, requires_grad=differentiable) for x in xs]
    o_in = [torch.tensor(x, requires_grad=differentiable) for x in xs]
    k_out = _call(keras_layer, k_in, options, training=True)
    o_out = _call(ours, o_in, options, training=True)
    assert [tuple(t.shape) for t in o_out] == [tuple(t.shape) for t in k_out]
    if options.get("random"):
        return
    assert_close(o_out, k_out, atol=1e-5, rtol=1e-4)
    assert_close(ours.get_weights(), keras_layer.get_weights(), atol=1e-6, rtol=1e-5)
    cotangents = [torch.as_tensor(rng.standard_normal(tuple(t.shape)).astype("float32")) for t in k_out]
    if not any(t.requires_grad for t in k_out):
        return
    sum((t * c).sum() for t, c in zip(k_out, cotangents)).backward()
    sum((t * c).sum() for t, c in zip(o_out, cotangents)).backward()
    if differentiable:
        assert_close([t.grad for t in o_in], [t.grad for t in k_in], atol=1e-5, rtol=1e-4)
    assert_close(keras_layout_grads(ours), grads(keras_layer.trainable_weights), atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------- whole models
def _mlp(lib: Any) -> Any:
    L = lib.layers
    return lib.Sequential([L.Input((8,)), L.Dense(16, activation="relu"), L.Dropout(0.3),
                           L.Dense(8, activation="tanh"), L.Dense(3, activation="softmax")])


def _cnn(lib: Any) -> Any:
    L = lib.layers
    return lib.Sequential([
        L.Input((12, 12, 3)),
        L.Conv2D(8, 3, strides=2, padding="same"),
        L.BatchNormalization(),
        L.ReLU(),
        L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1),
        L.BatchNormalization(),
        L.Conv2DTranspose(4, 3, strides=2, padding="same"),
        L.SeparableConv2D(4, 3),
        L.MaxPooling2D(),
        L.AveragePooling2D(2, padding="same"),
        L.Flatten(),
        L.Dense(5),
    ])


def _text(lib: Any, mask_zero: bool) -> Any:
    L = lib.layers
    inputs = L.Input((7,), dtype="int32")
    x = L.Embedding(30, 8, mask_zero=mask_zero)(inputs)
    x = L.Bidirectional(L.LSTM(6, return_sequences=True))(x)
    x = L.GRU(5)(x)
    outputs = L.Dense(2, activation="softmax")(x)
    return lib.Model(inputs, outputs)


def _models():
    return [
        ("mlp", _mlp, lambda rng: rng.standard_normal((10, 8)).astype("float32")),
        ("cnn", _cnn, lambda rng: rng.standard_normal((4, 12, 12, 3)).astype("float32")),
        ("text", lambda lib: _text(lib, False), lambda rng: rng.integers(1, 30, size=(6, 7)).astype("int32")),
        ("text_masked", lambda lib: _text(lib, True),
         lambda rng: np.where(np.arange(7) < rng.integers(1, 8, size=(6, 1)), rng.integers(1, 30, size=(6, 7)), 0)
         .astype("int32")),
    ]


@pytest.mark.parametrize("make,data", [m[1:] for m in _models()], ids=[m[0] for m in _models()])
def test_model_set_weights_from_keras_then_predict(make: Any, data: Any) -> None:
    keras = keras_module()
    rng = np.random.default_rng(1)
    keras_model = make(keras)
    _randomize(keras_model, rng)
    model = make(kerasish)
    assert [w.shape for w in model.get_weights()] == [w.shape for w in keras_model.get_weights()]
    model.set_weights(keras_model.get_weights())  # the one-line copy
    x = data(rng)
    assert_close(model.predict(x, verbose=0), keras_model.predict(x, verbose=0), atol=1e-5, rtol=1e-4)
    assert_close(model.get_weights(), keras_model.get_weights(), atol=0, rtol=0)
    # And back: Keras takes kerasish's arrays.
    other = make(keras)
    other.set_weights(model.get_weights())
    assert_close(other.predict(x, verbose=0), keras_model.predict(x, verbose=0), atol=1e-6, rtol=1e-6)


def test_model_set_weights_rejects_torch_layout_with_keras_shape_in_message() -> None:
    model = _cnn(kerasish)
    weights = model.get_weights()
    assert weights[0].shape == (3, 3, 3, 8)  # Keras's (kh, kw, in, filters)
    weights[0] = weights[0].transpose(3, 2, 0, 1)  # torch's layout
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"weight 0 \(.*kernel\) has Keras shape \(3, 3, 3, 8\), received an array "
                                         r"of shape \(8, 3, 3, 3\)"):
        model.set_weights(weights)
    assert_close(model.get_weights(), before, atol=0, rtol=0)  # nothing changed
    with pytest.raises(ValueError, match=r"expects \d+ weight arrays, received 1"):
        model.set_weights(weights[:1])


def test_saved_model_keeps_weights_and_predictions(tmp_path: Any) -> None:
    """Files keep torch's layout under torch's names (state_dict), so load_model is unchanged."""
    rng = np.random.default_rng(2)
    model = _text(kerasish, True)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    x = np.where(np.arange(7) < 4, rng.integers(1, 30, size=(3, 7)), 0).astype("int32")
    path = str(tmp_path / "text.kerasish")
    model.save(path)
    loaded = kerasish.models.load_model(path)
    assert_close(loaded.get_weights(), model.get_weights(), atol=0, rtol=0)
    assert_close(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6, rtol=1e-6)
    # The file holds torch's layout: the LSTM kernel (4 * units, features) under its torch key.
    state = model.state_dict()
    kernel_key = next(k for k in state if k.endswith("forward_layer.kernel"))
    assert tuple(state[kernel_key].shape) == (24, 8)


@pytest.mark.parametrize("name", ["Add", "Multiply", "Average", "Maximum", "Minimum", "Subtract"])
def test_elementwise_merges_broadcast_axes_of_size_one_as_keras(name):
    keras = keras_module()
    a = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype("float32")
    b = np.random.default_rng(1).normal(size=(2, 1, 1, 3)).astype("float32")
    ours, theirs = getattr(klayers, name)(), getattr(keras.layers, name)()
    assert_close(ours([torch.tensor(a), torch.tensor(b)]), theirs([a, b]))
    assert ours.compute_output_shape([(None, 4, 4, 3), (None, 1, 1, 3)]) == \
        tuple(theirs.compute_output_shape([(None, 4, 4, 3), (None, 1, 1, 3)]))
    with pytest.raises(ValueError, match=r"needs inputs of one rank whose axes are equal or 1"):
        getattr(klayers, name)().compute_output_shape([(None, 4, 3), (None, 5, 3)])
