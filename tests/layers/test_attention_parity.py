"""EinsumDense, MultiHeadAttention, GroupedQueryAttention, Attention and AdditiveAttention held
against Keras 3 (torch backend): same weights (Keras's layout), same inputs and masks, same
outputs, scores, gradients, shapes, parameter counts and configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish.layers.attention import (
    AdditiveAttention, Attention, EinsumDense, GroupedQueryAttention, GroupQueryAttention, MultiHeadAttention,
)
from kerasish.layers.attention import attention_core
from kerasish.utils.object_registration import register_builtin
from tests.keras_parity import assert_close, grads, keras_module, to_numpy

register_builtin(EinsumDense, MultiHeadAttention, GroupedQueryAttention, Attention, AdditiveAttention)

B, T, S, D = 2, 5, 6, 8


def _rand(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _padding(lengths, length):
    """(B, length) boolean masks, True for the first `lengths[b]` positions."""
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def _randomize(keras_layer, seed=0):
    rng = np.random.default_rng(seed)
    for w in keras_layer.weights:
        w.assign(rng.normal(scale=0.5, size=tuple(w.shape)).astype("float32"))


def _tensors(arrays, masks, requires_grad):
    """Torch tensors for both libraries, each carrying its Keras mask (`_keras_mask`) if given."""
    out = []
    for a, m in zip(arrays, masks):
        t = torch.tensor(a, requires_grad=requires_grad) if a is not None else None
        if t is not None and m is not None:
            t._keras_mask = torch.tensor(m)
        out.append(t)
    return out


def _check_pair(theirs, ours, arrays, masks, call_kwargs, atol=1e-5):
    """Calls both layers on the same inputs, then compares outputs, scores and every gradient."""
    results = []
    for layer in (theirs, ours):
        q, v, k = _tensors(arrays, masks, requires_grad=True)
        out = layer(q, v, k, **call_kwargs) if k is not None else layer(q, v, **call_kwargs)
        outs = out if isinstance(out, tuple) else (out,)
        weight = torch.tensor(_rand(tuple(outs[0].shape), 9))
        (outs[0] * weight).sum().backward()
        input_grads = [t.grad for t in (q, v, k) if t is not None]
        results.append((outs, input_grads, grads(layer.weights)))
    (k_outs, k_in, k_w), (m_outs, m_in, m_w) = results
    assert len(k_outs) == len(m_outs)
    for a, b in zip(k_outs, m_outs):
        assert_close(b, a, atol=atol)
    assert_close(m_in, k_in, atol=atol)
    assert_close(m_w, k_w, atol=atol)
    return k_outs, m_outs


def _mha_pair(cls_name, kwargs, shapes):
    k = keras_module()
    keras_cls = getattr(k.layers, "GroupQueryAttention" if cls_name == "GQA" else "MultiHeadAttention")
    ours_cls = GroupQueryAttention if cls_name == "GQA" else MultiHeadAttention
    theirs, ours = keras_cls(**kwargs), ours_cls(**kwargs)
    theirs.build(*shapes)
    ours.build(*[(None,) + tuple(s[1:]) for s in shapes])
    _randomize(theirs)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


Q_LEN, V_LEN = [5, 3], [6, 2]
# (layer, constructor kwargs, query shape, value shape, key shape, masks (q, v, k), call kwargs)
MHA_CASES = [
    ("MHA", dict(num_heads=2, key_dim=4), (B, T, D), (B, T, D), None, (None, None, None), {}),
    ("MHA", dict(num_heads=2, key_dim=4, value_dim=3, output_shape=(3, 5)), (B, T, D), (B, S, 6), (B, S, 7),
     (None, None, None), {}),
    ("MHA", dict(num_heads=3, key_dim=4, output_shape=7, use_bias=False), (B, T, D), (B, S, D), None,
     (None, None, None), {"return_attention_scores": True}),
    ("MHA", dict(num_heads=2, key_dim=4), (B, T, D), (B, S, D), None,
     (_padding(Q_LEN, T), _padding(V_LEN, S), None), {}),
    ("MHA", dict(num_heads=2, key_dim=4), (B, T, D), (B, S, D), None,
     (_padding(Q_LEN, T), _padding(V_LEN, S), None), {"return_attention_scores": True}),
    ("MHA", dict(num_heads=2, key_dim=4), (B, T, D), (B, S, D), (B, S, D),
     (None, _padding(V_LEN, S), _padding([4, 6], S)), {}),
    ("MHA", dict(num_heads=2, key_dim=4), (B, T, D), (B, T, D), None, (None, None, None),
     {"use_causal_mask": True}),
    ("MHA", dict(num_heads=2, key_dim=4), (B, T, D), (B, T, D), None, (None, None, None),
     {"use_causal_mask": True, "return_attention_scores": True}),
    ("MHA", dict(num_heads=2, key_dim=4), (B, T, D), (B, T, D), None,
     (_padding(Q_LEN, T), _padding(Q_LEN, T), None), {"use_causal_mask": True}),
    ("MHA", dict(num_heads=2, key_dim=4), (B, T, D), (B, S, D), None, (None, None, None),
     {"attention_mask": _padding([1, 4, 6, 2, 3], S)[None].repeat(B, 0)}),
    # Keras computes a layer with dropout on its explicit path even in inference (empty rows give 0).
    ("MHA", dict(num_heads=2, key_dim=4, dropout=0.3), (B, T, D), (B, S, D), None,
     (_padding(Q_LEN, T), _padding(V_LEN, S), None), {}),
    ("MHA", dict(num_heads=2, key_dim=3, attention_axes=(1, 2)), (B, 3, 4, D), (B, 3, 4, D), None,
     (None, None, None), {"return_attention_scores": True}),
    ("MHA", dict(num_heads=2, key_dim=3, attention_axes=2), (B, 3, 4, D), (B, 3, 4, D), None,
     (None, None, None), {}),
    ("MHA", dict(num_heads=2, key_dim=4, use_gate=True, sliding_window=2), (B, T, D), (B, T, D), None,
     (None, None, None), {"use_causal_mask": True}),
    ("GQA", dict(head_dim=4, num_query_heads=4, num_key_value_heads=2), (B, T, D), (B, S, D), None,
     (None, None, None), {}),
    ("GQA", dict(head_dim=4, num_query_heads=4, num_key_value_heads=2), (B, T, D), (B, S, D), (B, S, 5),
     (_padding(Q_LEN, T), _padding(V_LEN, S), None), {"return_attention_scores": True}),
    ("GQA", dict(head_dim=3, num_query_heads=2, num_key_value_heads=1, use_bias=False), (B, T, D), (B, T, D),
     None, (None, None, None), {"use_causal_mask": True}),
    ("GQA", dict(head_dim=4, num_query_heads=4, num_key_value_heads=4, dropout=0.2, use_gate=True), (B, T, D),
     (B, S, D), None, (_padding(Q_LEN, T), _padding(V_LEN, S), None), {}),
]


@pytest.mark.parametrize("cls_name, kwargs, q_shape, v_shape, k_shape, masks, call_kwargs", MHA_CASES)
def test_multi_head_attention_matches_keras(cls_name, kwargs, q_shape, v_shape, k_shape, masks, call_kwargs):
    shapes = [q_shape, v_shape] + ([k_shape] if k_shape else [])
    theirs, ours = _mha_pair(cls_name, kwargs, shapes)
    assert [w.path.split("/", 1)[1] for w in theirs.weights] == \
        [p for p in ["query/kernel", "query/bias", "key/kernel", "key/bias", "gate/kernel", "gate/bias",
                     "value/kernel", "value/bias", "attention_output/kernel", "attention_output/bias"]
         if (kwargs.get("use_bias", True) or p.endswith("kernel")) and (kwargs.get("use_gate") or "gate" not in p)]
    assert ours.count_params() == theirs.count_params()
    arrays = [_rand(q_shape, 1), _rand(v_shape, 2), _rand(k_shape, 3) if k_shape else None]
    k_outs, m_outs = _check_pair(theirs, ours, arrays, masks, call_kwargs)
    # compute_output_shape is Keras's.
    keys = [(None,) + tuple(s[1:]) for s in shapes]
    assert tuple(ours.compute_output_shape(*keys)) == tuple(theirs.compute_output_shape(*keys))
    if masks[0] is not None:  # the output carries the query's mask
        assert_close(m_outs[0]._keras_mask, masks[0])


def test_fused_and_explicit_paths_agree(monkeypatch):
    """Without scores MHA runs torch's fused kernel; asking for the scores runs the explicit
    softmax path; both give the same output (for masks that leave every query something to attend)."""
    calls = []
    real = attention_core.dot_product_attention
    monkeypatch.setattr(attention_core, "dot_product_attention", lambda *a, **k: calls.append(1) or real(*a, **k))
    layer = MultiHeadAttention(num_heads=4, key_dim=8, value_dim=6)
    q, v = torch.tensor(_rand((3, 7, 16), 1)), torch.tensor(_rand((3, 9, 16), 2))
    v._keras_mask = torch.tensor(_padding([9, 4, 1], 9))
    for kwargs in ({}, {"use_causal_mask": True}, {"attention_mask": torch.tensor(_padding([1, 3, 5, 7, 9, 9, 2], 9))}):
        fused = layer(q, v, **kwargs)
        n_fused = len(calls)
        explicit, scores = layer(q, v, return_attention_scores=True, **kwargs)
        assert len(calls) == n_fused > 0  # the explicit path does not call the fused kernel
        assert scores.shape == (3, 4, 7, 9)
        assert_close(fused, explicit, atol=1e-5)
    # Dropout: training switches to the explicit path (dropped probabilities), inference stays fused.
    drop = MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5, seed=3)
    x = torch.tensor(_rand((2, 5, 8), 4))
    n = len(calls)
    eval_out = drop(x, x)
    assert len(calls) == n + 1
    train_out = drop(x, x, training=True)
    assert len(calls) == n + 1
    assert not torch.allclose(eval_out, train_out)
    assert_close(drop(x, x, return_attention_scores=True)[0], eval_out, atol=1e-5)


# (name, constructor kwargs, query, value, key shapes, masks (q, v), call kwargs)
SIMPLE_CASES = [
    ("Attention", {}, (B, T, D), (B, S, D), None, None, {}),
    ("Attention", {"use_scale": True}, (B, T, D), (B, S, D), (B, S, D), None, {"return_attention_scores": True}),
    ("Attention", {"score_mode": "concat", "use_scale": True}, (B, T, D), (B, S, D), None,
     (_padding(Q_LEN, T), _padding(V_LEN, S)), {}),
    ("Attention", {"score_mode": "concat"}, (B, T, D), (B, T, D), None, None, {"use_causal_mask": True}),
    ("Attention", {}, (B, T, D), (B, S, D), None, (_padding(Q_LEN, T), _padding(V_LEN, S)),
     {"use_causal_mask": True, "return_attention_scores": True}),
    ("AdditiveAttention", {}, (B, T, D), (B, S, D), None, (None, _padding(V_LEN, S)), {}),
    ("AdditiveAttention", {"use_scale": False}, (B, T, D), (B, S, D), (B, S, D), None,
     {"return_attention_scores": True}),
    ("AdditiveAttention", {}, (B, T, D), (B, T, D), None, (_padding(Q_LEN, T), None), {"use_causal_mask": True}),
]


@pytest.mark.parametrize("name, kwargs, q_shape, v_shape, k_shape, masks, call_kwargs", SIMPLE_CASES)
def test_dot_and_additive_attention_match_keras(name, kwargs, q_shape, v_shape, k_shape, masks, call_kwargs):
    k = keras_module()
    theirs, ours = getattr(k.layers, name)(**kwargs), {"Attention": Attention, "AdditiveAttention":
                                                       AdditiveAttention}[name](**kwargs)
    shapes = [q_shape, v_shape] + ([k_shape] if k_shape else [])
    theirs.build(shapes)
    ours.build_from_shape([(None,) + s[1:] for s in shapes])
    _randomize(theirs)
    ours.set_weights(theirs.get_weights())
    assert [w.path.split("/")[-1] for w in theirs.weights] == [w.name for w in ours.weights]
    assert ours.count_params() == theirs.count_params()
    arrays = [_rand(s, i + 1) for i, s in enumerate(shapes)]
    results = []
    for layer in (theirs, ours):
        tensors = _tensors(arrays, list(masks or [None, None]) + [None], requires_grad=True)[:len(shapes)]
        out = layer(list(tensors), **call_kwargs)
        outs = out if isinstance(out, tuple) else (out,)
        (outs[0] * torch.tensor(_rand(tuple(outs[0].shape), 9))).sum().backward()
        results.append((outs, [t.grad for t in tensors], grads(layer.weights),
                        getattr(outs[0], "_keras_mask", None)))
    (k_outs, k_in, k_w, k_mask), (m_outs, m_in, m_w, m_mask) = results
    assert_close(list(m_outs), list(k_outs))
    assert_close(m_in, k_in)
    assert_close(m_w, k_w)
    assert (k_mask is None) == (m_mask is None)
    if k_mask is not None:
        assert_close(m_mask, k_mask)
    assert tuple(ours.compute_output_shape(shapes)) == tuple(theirs.compute_output_shape(shapes))


# (equation, output_shape, bias_axes, activation, input shape)
EINSUM_CASES = [
    ("ab,bc->ac", 4, "c", None, (3, 5)),
    ("abc,cde->abde", (None, 2, 4), "de", "relu", (3, 5, 6)),
    ("abc,cd->abd", (5, 7), None, None, (3, 5, 6)),
    ("...b,bc->...c", 4, "c", "tanh", (2, 3, 5)),
    ("...ab,bc->...ac", (4, 3), "c", None, (2, 3, 4, 5)),
    ("ab...,bc->ac...", (3, 4), "c", None, (2, 5, 4)),
    ("abcd,cde->abe", (3, 6), "be", None, (2, 3, 4, 5)),
]


@pytest.mark.parametrize("equation, output_shape, bias_axes, activation, shape", EINSUM_CASES)
def test_einsum_dense_matches_keras(equation, output_shape, bias_axes, activation, shape):
    k = keras_module()
    kwargs = dict(output_shape=output_shape, bias_axes=bias_axes, activation=activation)
    theirs, ours = k.layers.EinsumDense(equation, **kwargs), EinsumDense(equation, **kwargs)
    theirs.build(shape)
    ours.build_from_shape((None,) + shape[1:])
    _randomize(theirs)
    ours.set_weights(theirs.get_weights())
    assert [w.path.split("/")[-1] for w in theirs.weights] == [w.name for w in ours.weights]
    assert ours.count_params() == theirs.count_params()
    x = _rand(shape, 1)
    outs, in_grads = [], []
    for layer in (theirs, ours):
        t = torch.tensor(x, requires_grad=True)
        out = layer(t)
        (out * torch.tensor(_rand(tuple(out.shape), 2))).sum().backward()
        outs.append(out)
        in_grads.append(t.grad)
    assert_close(outs[1], outs[0])
    assert_close(in_grads[1], in_grads[0])
    assert_close(grads(ours.weights), grads(theirs.weights))
    assert tuple(ours.compute_output_shape((None,) + shape[1:])) == \
        tuple(theirs.compute_output_shape((None,) + shape[1:]))


def test_einsum_kernel_initializer_uses_einsum_fans():
    """glorot_uniform's limit comes from the kernel's input and output axes (Keras's rule)."""
    layer = EinsumDense("abc,cde->abde", output_shape=(None, 16, 32), kernel_initializer="glorot_uniform")
    layer.build_from_shape((None, 4, 64))
    kernel = layer.kernel.detach()
    limit = (6 / (64 + 16 * 32)) ** 0.5
    assert kernel.abs().max() <= limit and kernel.abs().max() > 0.9 * limit


CONFIG_CASES = [
    (MultiHeadAttention, dict(num_heads=2, key_dim=4, value_dim=3, output_shape=(5,), dropout=0.1, seed=1,
                              kernel_regularizer="l2", bias_constraint="non_neg"), [(None, T, D), (None, S, D)]),
    (MultiHeadAttention, dict(num_heads=2, key_dim=4, attention_axes=(1, 2), use_gate=True),
     [(None, 3, 4, D), (None, 3, 4, D)]),
    (GroupedQueryAttention, dict(head_dim=4, num_query_heads=4, num_key_value_heads=2, sliding_window=3),
     [(None, T, D), (None, S, D)]),
    (Attention, dict(use_scale=True, score_mode="concat", dropout=0.2, seed=4), [[(None, T, D), (None, S, D)]]),
    (AdditiveAttention, dict(use_scale=False), [[(None, T, D), (None, S, D)]]),
    (EinsumDense, dict(equation="abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de", activation="relu"),
     [(None, T, D)]),
]


@pytest.mark.parametrize("cls, kwargs, shapes", CONFIG_CASES)
def test_config_round_trip_and_keras_keys(cls, kwargs, shapes):
    layer = cls(**kwargs)
    layer.build(*shapes)
    config = json.loads(json.dumps(layer.get_config()))
    rebuilt = cls.from_config(config)
    assert rebuilt.get_config() == config
    k = keras_module()
    keras_cls = getattr(k.layers, "GroupQueryAttention" if cls is GroupedQueryAttention else cls.__name__)
    theirs = keras_cls(**kwargs)
    theirs.build(*shapes)
    assert set(config) - {"dtype"} <= set(theirs.get_config())
    assert set(theirs.get_config()) - set(config) <= {"dtype"}
    for key in ("attention_axes", "output_shape"):
        if key in config and config[key] is not None:
            assert tuple(config[key]) == tuple(theirs.get_config()[key])


def test_group_query_attention_is_keras_public_name():
    k = keras_module()
    assert GroupQueryAttention is GroupedQueryAttention
    assert k.layers.GroupQueryAttention.__name__ == GroupedQueryAttention.__name__
    assert GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1).name.startswith(
        "grouped_query_attention")


def test_functional_model_with_mha_saves_and_reloads(tmp_path):
    tokens = kerasish.layers.Input(shape=(T,), dtype="int32")
    memory = kerasish.layers.Input(shape=(S, D))
    x = kerasish.layers.Embedding(20, D, mask_zero=True)(tokens)
    mha = MultiHeadAttention(num_heads=2, key_dim=4, name="cross")
    y = mha(x, memory, key=memory, use_causal_mask=False)
    z = MultiHeadAttention(num_heads=2, key_dim=4, name="self")(y, y, use_causal_mask=True)
    out = kerasish.layers.Dense(3)(kerasish.layers.GlobalAveragePooling1D()(z))
    model = kerasish.Model([tokens, memory], out)
    ids = torch.tensor([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    mem = torch.tensor(_rand((2, S, D), 5))
    before = model([ids, mem])
    path = tmp_path / "mha.kerasish"
    model.save(path)
    loaded = kerasish.saving.load_model(path)
    assert_close(loaded([ids, mem]), before, atol=1e-6)
    assert loaded.count_params() == model.count_params()
    # The padding mask flows through both attentions to the pooling: the embedding of the padding
    # token (used only at masked positions) cannot change the first sample's output.
    embedding = next(m for m in loaded.modules() if isinstance(m, kerasish.layers.Embedding))
    with torch.no_grad():
        embedding.embeddings[0] += 5.0
    after = loaded([ids, mem])
    assert_close(after[0], before[0], atol=1e-5)
    with torch.no_grad():
        embedding.embeddings[3] += 5.0  # a real token of sample 0 does change it
    assert not torch.allclose(loaded([ids, mem])[0], before[0])


def test_keras_mask_drives_the_attention_mask():
    """A query/value `_keras_mask` (e.g. from Embedding(mask_zero=True)) is the same as passing
    query_mask/value_mask, and the output carries the query's mask."""
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    q, v = torch.tensor(_rand((B, T, D), 1)), torch.tensor(_rand((B, S, D), 2))
    qm, vm = torch.tensor(_padding(Q_LEN, T)), torch.tensor(_padding(V_LEN, S))
    explicit = layer(q, v, query_mask=qm, value_mask=vm)
    q._keras_mask, v._keras_mask = qm, vm
    implicit = layer(q, v)
    assert_close(implicit, explicit)
    assert torch.equal(implicit._keras_mask, qm) and torch.equal(explicit._keras_mask, qm)


@pytest.mark.parametrize("make, match", [
    (lambda: MultiHeadAttention(0, 4), "num_heads must be a positive integer"),
    (lambda: MultiHeadAttention(2, 4.0), "key_dim must be a positive integer"),
    (lambda: MultiHeadAttention(2, 4, value_dim=-1), "value_dim must be a positive integer or None"),
    (lambda: MultiHeadAttention(2, 4, dropout=1.5), r"dropout must be a number in \[0, 1\)"),
    (lambda: MultiHeadAttention(2, 4, output_shape="x"), "output_shape must be a positive int"),
    (lambda: MultiHeadAttention(2, 4, attention_axes="1"), "attention_axes must be an int"),
    (lambda: MultiHeadAttention(2, 4, sliding_window=0), "sliding_window must be a positive integer"),
    (lambda: MultiHeadAttention(2, 4, dropout=0.1, flash_attention=True), "flash_attention=True cannot apply"),
    (lambda: MultiHeadAttention(2, 4).build((None, 3, 8), (None, 4, 8), (None, 5, 8)),
     "value and key must have the same shape except the last axis"),
    (lambda: MultiHeadAttention(2, 4, flash_attention=True)(torch.ones(1, 3, 8), torch.ones(1, 3, 8),
                                                          return_attention_scores=True),
     "return_attention_scores=True needs the explicit scores"),
    (lambda: GroupedQueryAttention(4, 4, 3), "num_query_heads must be divisible by num_key_value_heads"),
    (lambda: GroupedQueryAttention(0, 4, 2), "head_dim must be a positive integer"),
    (lambda: GroupedQueryAttention(4, 4, 2).compute_output_shape((None, 3, 8), (None, 3, 6)),
     "query and value must have the same last dimension"),
    (lambda: GroupedQueryAttention(4, 4, 2, flash_attention=True)(torch.ones(1, 3, 8), torch.ones(1, 3, 8),
                                                                  return_attention_scores=True),
     "return_attention_scores=True needs the explicit scores"),
    (lambda: Attention(score_mode="add"), "score_mode must be 'dot' or 'concat'"),
    (lambda: AdditiveAttention(dropout=-0.1), r"dropout must be a number in \[0, 1\)"),
    (lambda: Attention()(torch.ones(1, 2, 3)), "must be called on a list of inputs"),
    (lambda: Attention()([torch.ones(1, 2, 3)]), "accepts a list of 2 or 3 inputs"),
    (lambda: Attention()([torch.ones(1, 2, 3)] * 2, mask=torch.ones(1, 2)), "mask must be a list"),
    (lambda: EinsumDense("ab->b", 3), "equation must be a string 'input,kernel->output'"),
    (lambda: EinsumDense("ab,bc->ac", 3, bias_axes=1), "bias_axes must be a string"),
    (lambda: EinsumDense("ab,bc->ac", [[1]]).build((None, 3)), "output_shape must be an int or a tuple"),
    (lambda: EinsumDense("a.b,bc->ac", 3).build((None, 3)), "invalid equation"),
    (lambda: EinsumDense("ab,bc->ac", 3, bias_axes="d").build((None, 3)), "bias_axes='d' names"),
    (lambda: EinsumDense("abc,cd->abd", (4, 5)).build((None, 3, 6)), "disagree on the shared axis 'b'"),
    (lambda: EinsumDense("ab,bc->acd", (3, 4)).build((None, 3)), "output axis 'd' appears in neither"),
    (lambda: EinsumDense("ab,bcd->ac", 3).build((None, 3)), "kernel axis 'd' is in neither"),
    (lambda: EinsumDense("ab,bc->ac", 3, gptq_unpacked_column_size=4), "gptq_unpacked_column_size=4"),
    (lambda: EinsumDense("ab,bc->ac", 3, lora_rank=2), "lora_rank"),
])
def test_errors_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("name, kwargs", [
    ("MultiHeadAttention", dict(num_heads=2, key_dim=4, dropout=0.5, seed=7)),
    ("GroupQueryAttention", dict(head_dim=4, num_query_heads=2, num_key_value_heads=1, dropout=0.5, seed=7)),
    ("Attention", dict(dropout=0.5, seed=7)),
    ("AdditiveAttention", dict(dropout=0.5, seed=7)),
])
def test_seeded_dropout_in_training_matches_keras(name, kwargs):
    """In training the dropped probabilities are Keras's own: the same seed draws the same masks on the CPU."""
    k = keras_module()
    ours_cls = {"MultiHeadAttention": MultiHeadAttention, "GroupQueryAttention": GroupQueryAttention,
                "Attention": Attention, "AdditiveAttention": AdditiveAttention}[name]
    theirs, ours = getattr(k.layers, name)(**kwargs), ours_cls(**kwargs)
    x = torch.tensor(_rand((B, T, D), 1))
    call = (lambda layer, **kw: layer(x, x, **kw)) if "Query" in name or "Head" in name else \
        (lambda layer, **kw: layer([x, x], **kw))
    call(theirs)
    call(ours)
    _randomize(theirs)
    ours.set_weights(theirs.get_weights())
    trained = [call(layer, training=True) for layer in (theirs, ours)]
    assert_close(trained[1], trained[0])
    assert not np.allclose(to_numpy(trained[1]), to_numpy(call(ours)))  # dropout was active
