"""Keras 3's common layer arguments: constraints on every layer that takes them, Input(batch_shape=...),
and the Keras arguments kerasish accepts only at their defaults."""

import json

import numpy as np
import pytest
import torch

from kerasish import constraints
from kerasish.layers import (
    GRU, LSTM, BatchNormalization, Bidirectional, Conv1D, Conv2D, Conv2DTranspose, Dense, Embedding, Flatten, Input,
    InputLayer, LayerNormalization, SeparableConv2D, SimpleRNN, TextVectorization,
)
from kerasish.models import Model, Sequential
from tests.keras_parity import keras_module


def apply_constraints(layer):
    """What the optimizer does after each step: p <- p.constraint(p)."""
    with torch.no_grad():
        for p in layer.parameters():
            if getattr(p, "constraint", None) is not None:
                p.data.copy_(p.constraint(p.data))


def _same(weights):
    return list(weights)


# (kerasish class, Keras class name, constructor kwargs, input shape, get_weights() -> Keras layout
#  (every layer's get_weights() is Keras's layout now, so the identity),
#  constrained weight args with a constraint whose result depends on Keras's axis and layout)
LAYERS = [
    (Dense, "Dense", {"units": 5}, (7, 6), _same,
     {"kernel_constraint": ("MaxNorm", {"max_value": 0.5, "axis": 0}), "bias_constraint": ("NonNeg", {})}),
    (Dense, "Dense", {"units": 5}, (7, 6), _same,
     {"kernel_constraint": ("UnitNorm", {"axis": 1}), "bias_constraint": ("MaxNorm", {"max_value": 0.1})}),
    (Conv1D, "Conv1D", {"filters": 4, "kernel_size": 3}, (2, 9, 3), _same,
     {"kernel_constraint": ("MaxNorm", {"max_value": 0.3, "axis": [0, 1]}), "bias_constraint": ("NonNeg", {})}),
    (Conv2D, "Conv2D", {"filters": 4, "kernel_size": 3}, (2, 7, 7, 3), _same,
     {"kernel_constraint": ("UnitNorm", {"axis": [0, 1, 2]}), "bias_constraint": ("NonNeg", {})}),
    (Conv2D, "Conv2D", {"filters": 4, "kernel_size": (2, 3)}, (2, 7, 7, 3), _same,
     {"kernel_constraint": ("MinMaxNorm", {"min_value": 0.5, "max_value": 0.6, "axis": 3})}),
    (Conv2DTranspose, "Conv2DTranspose", {"filters": 4, "kernel_size": 3}, (2, 5, 5, 3),
     _same,
     {"kernel_constraint": ("MaxNorm", {"max_value": 0.3, "axis": [0, 1, 2]}), "bias_constraint": ("NonNeg", {})}),
    (SeparableConv2D, "SeparableConv2D", {"filters": 4, "kernel_size": 3, "depth_multiplier": 2}, (2, 7, 7, 3),
     _same,
     {"depthwise_constraint": ("MaxNorm", {"max_value": 0.3, "axis": 2}),
      "pointwise_constraint": ("UnitNorm", {"axis": 2}), "bias_constraint": ("NonNeg", {})}),
    (Embedding, "Embedding", {"input_dim": 10, "output_dim": 4}, None, _same,
     {"embeddings_constraint": ("UnitNorm", {"axis": 1})}),
    (SimpleRNN, "SimpleRNN", {"units": 3}, (2, 4, 5), _same,
     {"kernel_constraint": ("MaxNorm", {"max_value": 0.4, "axis": 0}),
      "recurrent_constraint": ("UnitNorm", {"axis": 1}), "bias_constraint": ("NonNeg", {})}),
    (LSTM, "LSTM", {"units": 3}, (2, 4, 5), _same,
     {"kernel_constraint": ("MaxNorm", {"max_value": 0.4, "axis": 0}),
      "recurrent_constraint": ("UnitNorm", {"axis": 1}), "bias_constraint": ("MaxNorm", {"max_value": 0.5})}),
    (GRU, "GRU", {"units": 3}, (2, 4, 5), _same,
     {"kernel_constraint": ("MinMaxNorm", {"min_value": 0.2, "max_value": 0.3, "axis": 1}),
      "recurrent_constraint": ("MaxNorm", {"max_value": 0.4, "axis": 0}),
      "bias_constraint": ("UnitNorm", {"axis": 1})}),
    (BatchNormalization, "BatchNormalization", {}, (8, 5), _same,
     {"gamma_constraint": ("MaxNorm", {"max_value": 0.5}), "beta_constraint": ("NonNeg", {})}),
    (LayerNormalization, "LayerNormalization", {}, (3, 5), _same,
     {"gamma_constraint": ("UnitNorm", {}), "beta_constraint": ("NonNeg", {})}),
]
IDS = [f"{row[1]}-{'-'.join(row[5])}" for row in LAYERS]


def _ours(cls, kwargs, constrained, input_shape):
    kw = dict(kwargs)
    kw.update({arg: getattr(constraints, name)(**ckw) for arg, (name, ckw) in constrained.items()})
    layer = cls(**kw)
    # Built as Keras's twin is: an Embedding (no input shape here) is built on a (None, 3) shape too.
    layer.build_from_shape((None,) + input_shape[1:] if input_shape is not None else (None, 3))
    return layer


@pytest.mark.parametrize("cls,keras_name,kwargs,input_shape,to_keras,constrained", LAYERS, ids=IDS)
def test_constraints_match_keras_in_keras_layout(cls, keras_name, kwargs, input_shape, to_keras, constrained):
    keras = keras_module()
    ours = _ours(cls, kwargs, constrained, input_shape)
    theirs = getattr(keras.layers, keras_name)(
        **kwargs, **{arg: getattr(keras.constraints, name)(**ckw) for arg, (name, ckw) in constrained.items()})
    theirs.build((None,) + input_shape[1:] if input_shape is not None else (None, 3))
    # Large random weights (scaled so every constraint changes them), moving statistics left alone.
    rng = np.random.default_rng(1)
    weights = ours.get_weights()
    n_trainable = len(ours.trainable_weights)
    weights[:n_trainable] = [rng.normal(size=w.shape).astype("float32") * 2 for w in weights[:n_trainable]]
    ours.set_weights(weights)
    theirs.set_weights([np.ascontiguousarray(w) for w in to_keras(ours.get_weights())])

    apply_constraints(ours)
    for v in theirs.trainable_variables:
        if v.constraint is not None:
            v.assign(v.constraint(v))

    got = to_keras(ours.get_weights())
    expected = [keras.ops.convert_to_numpy(w) for w in theirs.weights]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    # The forward passes still agree: the weight layouts were compared correctly.
    if input_shape is not None and keras_name != "BatchNormalization":
        x = rng.normal(size=input_shape).astype("float32")
        ours.eval()
        np.testing.assert_allclose(ours(torch.tensor(x)).detach().numpy(),
                                   keras.ops.convert_to_numpy(theirs(x)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cls,keras_name,kwargs,input_shape,to_keras,constrained", LAYERS, ids=IDS)
def test_constraints_are_in_the_config_as_keras_writes_them(cls, keras_name, kwargs, input_shape, to_keras,
                                                           constrained):
    keras = keras_module()
    ours = _ours(cls, kwargs, constrained, input_shape)
    theirs = getattr(keras.layers, keras_name)(
        **kwargs, **{arg: getattr(keras.constraints, name)(**ckw) for arg, (name, ckw) in constrained.items()})
    config = ours.get_config()
    keras_config = theirs.get_config()
    for arg in constrained:
        assert config[arg] == keras_config[arg]
    # Every constraint argument Keras's layer has is in ours, None when not given.
    keras_args = {k for k in keras_config if k.endswith("_constraint")}
    plain = cls(**kwargs).get_config()
    assert {k for k in plain if k.endswith("_constraint")} == keras_args
    assert all(plain[k] is None for k in keras_args)

    rebuilt = cls.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    rebuilt.build_from_shape((None,) + input_shape[1:] if input_shape is not None else (None, 3))
    owned = [p for p in rebuilt.parameters() if getattr(p, "constraint", None) is not None]
    assert len(owned) == len(constrained)


def test_constraint_from_name_string_and_none_parameter():
    layer = Dense(3, kernel_constraint="non_neg", use_bias=False, bias_constraint="max_norm")
    layer.build((None, 2))
    assert layer.get_config()["kernel_constraint"]["class_name"] == "NonNeg"
    assert layer.bias is None  # no bias: the bias constraint has nothing to attach to
    with torch.no_grad():
        layer.kernel.fill_(-1.0)
    apply_constraints(layer)
    assert torch.equal(layer.kernel.data, torch.zeros(2, 3))


def test_unknown_constraint_name_on_a_layer():
    with pytest.raises(ValueError, match="Unknown constraint 'nonneg'.*Did you mean 'non_neg'"):
        Conv2D(2, 3, kernel_constraint="nonneg")


def test_constraint_survives_dtype_change_and_set_weights():
    layer = Dense(2, kernel_constraint=constraints.NonNeg())
    layer.build((None, 2))
    layer.double()
    layer.set_weights([-np.ones((2, 2)), np.zeros(2)])
    apply_constraints(layer)
    assert layer.kernel.dtype == torch.float64
    assert torch.equal(layer.kernel.data, torch.zeros(2, 2, dtype=torch.float64))


def test_bidirectional_passes_constraints_to_both_directions():
    layer = Bidirectional(LSTM(2, kernel_constraint=constraints.NonNeg()))
    layer.build_from_shape((None, 3, 4))
    kernels = [layer.forward_layer.kernel, layer.backward_layer.kernel]
    with torch.no_grad():
        for k in kernels:
            k.fill_(-1.0)
    apply_constraints(layer)
    assert all(torch.equal(k.data, torch.zeros_like(k)) for k in kernels)


def test_custom_callable_constraint_is_applied_in_keras_layout():
    seen = []

    def record(w):
        seen.append(tuple(w.shape))
        return w

    layer = Conv2D(4, (2, 3), kernel_constraint=record)
    layer.build((None, 6, 6, 5))
    apply_constraints(layer)
    assert seen == [(2, 3, 5, 4)]
    assert layer.get_config()["kernel_constraint"] == {  # what Keras's Conv2D writes
        "module": "builtins", "class_name": "function", "config": "record", "registered_name": "function"}


# ------------------------------------------------------------------ Input(batch_shape=...)
def test_input_batch_shape_sets_batch_size_and_sample_shape():
    x = Input(batch_shape=(None, 28, 28, 1))
    assert x.shape == (None, 28, 28, 1)
    fixed = Input(batch_shape=[32, 10], name="fixed")
    assert fixed.shape == (32, 10)
    assert fixed.layer.batch_shape == (32, 10)
    assert fixed.layer.get_config() == {"shape": [10], "batch_size": 32, "dtype": None, "name": "fixed"}


def test_input_batch_shape_matches_keras():
    keras = keras_module()
    for batch_shape in [(None, 3), (4, 5, 6)]:
        assert tuple(Input(batch_shape=batch_shape).shape) == tuple(keras.Input(batch_shape=batch_shape).shape)


def test_models_built_from_batch_shape_inputs():
    inputs = Input(batch_shape=(None, 4))
    model = Model(inputs, Dense(2)(inputs))
    assert tuple(model(torch.ones(3, 4)).shape) == (3, 2)
    seq = Sequential([Input(batch_shape=(None, 4)), Dense(3)])
    assert tuple(seq(torch.ones(5, 4)).shape) == (5, 3)
    assert seq.count_params() == 15


def test_input_layer_takes_batch_shape_and_keras_2_batch_input_shape():
    assert InputLayer(batch_shape=(None, 7)).shape == (None, 7)
    assert InputLayer(batch_input_shape=(2, 7)).shape == (2, 7)
    layer = InputLayer(batch_shape=(None, 7), sparse=False, ragged=False, optional=False)
    assert InputLayer.from_config(layer.get_config()).shape == (None, 7)


@pytest.mark.parametrize("kwargs,match", [
    ({"shape": (3,), "batch_shape": (None, 3)}, "pass either shape or batch_shape, not both"),
    ({"batch_size": 2, "batch_shape": (None, 3)}, "pass either batch_size or batch_shape, not both"),
    ({"batch_shape": ()}, "batch_shape must be a tuple with the batch size"),
    ({"batch_shape": "3"}, "batch_shape must be a tuple with the batch size"),
    ({"batch_shape": (0, 3)}, "the batch entry of batch_shape must be a positive int or None"),
    ({"batch_shape": (None, -3)}, "batch_shape must hold positive ints"),
    ({"shape": (3,), "batch_size": 0}, "batch_size must be a positive int or None, received batch_size=0"),
    ({}, r"Input\(\) needs shape=\.\.\..*or batch_shape=\.\.\."),
    ({"shape": (3,), "sparse": True}, "Input: sparse=True is not supported by kerasish: kerasish has no sparse"),
    ({"shape": (3,), "ragged": True}, "Input: ragged=True is not supported.*pad sequences"),
    ({"shape": (3,), "tensor": torch.ones(2, 3)}, "Input: tensor=.* is not supported.*model\\(tensor\\)"),
    ({"shape": (3,), "optional": True}, "Input: optional=True is not supported.*cannot be None"),
])
def test_input_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Input(**kwargs)


def test_input_layer_errors_name_input_layer():
    with pytest.raises(ValueError, match=r"InputLayer\(\) needs shape=\.\.\."):
        InputLayer()
    with pytest.raises(ValueError, match="InputLayer: pass either shape or batch_shape"):
        InputLayer(shape=(2,), batch_shape=(None, 2))


def test_input_layer_rejects_input_tensor():
    with pytest.raises(ValueError, match="InputLayer: input_tensor=.* is not supported.*model\\(tensor\\)"):
        InputLayer(shape=(3,), input_tensor=torch.ones(1, 3))


# ------------------------------------------------------------------ other Keras arguments
@pytest.mark.parametrize("make,match", [
    (lambda: Dense(2, lora_rank=4), "Dense: lora_rank=4 is not supported by kerasish: kerasish layers have no LoRA"),
    (lambda: Dense(2, lora_alpha=8.0), "Dense: lora_alpha=8.0 is not supported.*only scales LoRA weights"),
    (lambda: Dense(2, quantization_config={"mode": "int8"}), "Dense: quantization_config=.*does not quantize"),
    (lambda: Embedding(5, 2, lora_rank=2), "Embedding: lora_rank=2 is not supported"),
    (lambda: BatchNormalization(renorm=True), "BatchNormalization: renorm=True is not supported.*renorm=False"),
    (lambda: BatchNormalization(synchronized=True), "synchronized=True is not supported.*own batch statistics"),
    (lambda: LayerNormalization(rms_scaling=True), "LayerNormalization: rms_scaling=True is not supported"),
    (lambda: TextVectorization(idf_weights=[1.0]), "TextVectorization: idf_weights=.* output_mode='tf_idf'"),
    (lambda: TextVectorization(sparse=True), "TextVectorization: sparse=True is not supported"),
    (lambda: TextVectorization(ragged=True), "TextVectorization: ragged=True.*output_sequence_length"),
    (lambda: TextVectorization(encoding="klingon"), "TextVectorization: unknown encoding='klingon'"),
    (lambda: LSTM(2, use_cudnn="yes"), "LSTM: use_cudnn must be 'auto', True or False, received use_cudnn='yes'"),
    (lambda: GRU(2, use_cudnn=1), "GRU: use_cudnn must be 'auto', True or False"),
])
def test_unsupported_keras_arguments_are_rejected_with_the_way_out(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_keras_arguments_at_their_defaults_are_accepted():
    Dense(2, lora_rank=None, lora_alpha=None, quantization_config=None)
    Embedding(5, 2, weights=None, lora_rank=None)
    BatchNormalization(renorm=False, renorm_clipping=None, renorm_momentum=0.99, synchronized=False)
    LayerNormalization(rms_scaling=False)
    TextVectorization(idf_weights=None, sparse=False, ragged=False, encoding="utf-8")
    # As Keras 3, use_cudnn is a runtime choice its LSTM/GRU configs leave out.
    assert LSTM(2, use_cudnn=False).use_cudnn is False and "use_cudnn" not in LSTM(2, use_cudnn=False).get_config()
    assert GRU(2).use_cudnn == "auto" and "use_cudnn" not in GRU(2).get_config()


def test_use_cudnn_true_needs_cuda_inputs():
    layer = LSTM(2, use_cudnn=True)
    with pytest.raises(ValueError, match="has use_cudnn=True, but its inputs are on cpu.*use_cudnn='auto'"):
        layer(torch.ones(1, 3, 2))


def test_use_cudnn_false_gives_the_same_result():
    auto = GRU(3, return_sequences=True)
    auto.build((None, 5, 2))
    off = GRU.from_config({**auto.get_config(), "use_cudnn": False, "name": "off"})
    off.build((None, 5, 2))
    off.set_weights(auto.get_weights())
    x = torch.randn(4, 5, 2)
    torch.testing.assert_close(off(x), auto(x))


def test_embedding_weights_argument_sets_the_initial_embeddings():
    table = np.arange(12, dtype="float32").reshape(6, 2)
    for weights in (table, [table]):
        layer = Embedding(6, 2, weights=weights)
        np.testing.assert_array_equal(layer.get_weights()[0], table)
    with pytest.raises(ValueError, match=r"has Keras shape \(6, 2\), received an array of shape \(2, 6\)"):
        Embedding(6, 2, weights=table.T)


def test_text_vectorization_encoding_decodes_bytes_and_round_trips():
    layer = TextVectorization(encoding="latin-1", vocabulary=["café"])
    assert layer(["café".encode("latin-1")]).tolist() == [[2]]
    config = layer.get_config()
    assert config["encoding"] == "latin-1"
    assert TextVectorization.from_config(json.loads(json.dumps(config))).get_config() == config


@pytest.mark.parametrize("make,x", [
    (lambda r: Dense(2, activity_regularizer=r), torch.randn(2, 4)),
    (lambda r: Conv1D(2, 2, activity_regularizer=r), torch.randn(2, 3, 4)),
    (lambda r: SimpleRNN(2, activity_regularizer=r), torch.randn(2, 3, 4)),
    (lambda r: Embedding(4, 2, activity_regularizer=r), torch.tensor([[1, 2], [3, 0]])),
    (lambda r: BatchNormalization(activity_regularizer=r), torch.randn(8, 4)),
])
def test_activity_regularizer_reaches_the_layer(make, x):
    layer = make("l2")
    layer(x)
    assert len(layer.losses) == 1 and layer.losses[0].item() > 0


@pytest.mark.parametrize("cls,keras_name", [(GRU, "GRU"), (LSTM, "LSTM")])
def test_recurrent_constraints_see_keras_gate_order(cls, keras_name):
    """A constraint that depends on the column position (Keras's first gate block) acts on the same gate."""
    keras = keras_module()

    def zero_first_gate(w):
        keep = torch.ones_like(w)
        keep[..., :3] = 0  # units = 3: Keras's first gate (the GRU's update gate z, the LSTM's input gate i)
        return w * keep

    args = {"kernel_constraint": zero_first_gate, "recurrent_constraint": zero_first_gate,
            "bias_constraint": zero_first_gate}
    ours = cls(3, **args)
    ours.build((None, 4, 5))
    theirs = getattr(keras.layers, keras_name)(3, **args)
    theirs.build((None, 4, 5))
    rng = np.random.default_rng(2)
    ours.set_weights([rng.normal(size=w.shape).astype("float32") for w in ours.get_weights()])
    theirs.set_weights(ours.get_weights())
    apply_constraints(ours)
    for v in theirs.trainable_variables:
        v.assign(v.constraint(v.value))
    for got, expected in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(got, expected)
        assert np.all(got[..., :3] == 0) and np.any(got[..., 3:] != 0)


def test_fit_keeps_the_constraints_after_every_step():
    """End to end through the optimizer: Keras's axis semantics hold on a torch-layout Conv2D kernel."""
    model = Sequential([
        Input(batch_shape=(None, 6, 6, 2)),
        Conv2D(3, 3, kernel_constraint=constraints.MaxNorm(0.5, axis=[0, 1, 2])),
        Flatten(),
        Dense(2, kernel_constraint="non_neg"),
    ])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6, 6, 2)).astype("float32") * 10
    y = rng.normal(size=(16, 2)).astype("float32") * 10
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    conv, _, dense = model.layers
    filter_norms = conv.kernel.detach().flatten(1).norm(dim=1)  # torch (filters, in, kh, kw): one row per filter
    assert torch.all(filter_norms <= 0.5 + 1e-5)
    assert torch.all(dense.kernel.detach() >= 0)


def test_add_weight_resolves_constraint_names():
    from kerasish.layers import Layer

    class Scale(Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), constraint="unit_norm")

        def call(self, inputs):
            return inputs @ self.w

    layer = Scale()
    layer(torch.ones(1, 3))
    assert isinstance(layer.w.constraint, constraints.UnitNorm)
    apply_constraints(layer)
    torch.testing.assert_close(layer.w.detach().norm(dim=0), torch.ones(2))
