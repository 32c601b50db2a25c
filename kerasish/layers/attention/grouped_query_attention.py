"""GroupedQueryAttention (Keras's `GroupQueryAttention`): fewer key/value heads than query heads."""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

import torch

from kerasish import constraints, initializers, regularizers
from kerasish.layers.attention import attention_core as core
from kerasish.layers.attention.einsum_dense import EinsumDense
from kerasish.layers.attention.multi_head_attention import check_dropout, check_positive_int
from kerasish.layers.core import Dropout
from kerasish.layers.layer import Layer


class GroupedQueryAttention(Layer):
    """Grouped-query attention (Ainslie et al., 2023): each key/value head serves a group of query heads.

    Keras 3 exports this class as `keras.layers.GroupQueryAttention` (its configs name it
    `GroupedQueryAttention`); kerasish exports both names. Inputs are `(B, T, dim)` and
    `(B, S, dim)`; the sublayers `query` `(dim, num_query_heads, head_dim)`, `key` and
    `value` `(dim, num_key_value_heads, head_dim)` and `attention_output`
    `(num_query_heads, head_dim, dim)` have Keras's shapes and order. The fused path hands the
    grouped heads to torch's kernel without repeating them (`enable_gqa`).

    Args:
        head_dim: size of each head.
        num_query_heads: number of query heads.
        num_key_value_heads: number of key and value heads; must divide `num_query_heads`.
        dropout: dropout rate on the attention probabilities. Defaults to `0.0`.
        use_bias: whether the projections have biases. Defaults to `True`.
        sliding_window: restricts each query to keys closer than this many positions.
            Defaults to `None`.
        flash_attention: `True` forces torch's flash kernel. Defaults to `None`.
        kernel_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        kernel_regularizer: Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: applied to each projection's output. Defaults to `None`.
        kernel_constraint: Defaults to `None`.
        bias_constraint: Defaults to `None`.
        use_gate: adds a sigmoid gate of the query on the attention output. Defaults to `False`.
        seed: seed of the dropout. Defaults to `None`.
        **kwargs: `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for non-positive sizes, `num_query_heads` not divisible by
            `num_key_value_heads`, a bad dropout or sliding window, or flash attention with dropout.

    Example:
        >>> gqa = GroupedQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)
        >>> x = torch.ones(2, 5, 8)
        >>> gqa(x, x).shape
        torch.Size([2, 5, 8])
    """

    def __init__(
        self,
        head_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        dropout: float = 0.0,
        use_bias: bool = True,
        sliding_window: Optional[int] = None,
        flash_attention: Optional[bool] = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        use_gate: bool = False,
        seed: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        name = "GroupedQueryAttention"
        for arg, value in (("head_dim", head_dim), ("num_query_heads", num_query_heads),
                           ("num_key_value_heads", num_key_value_heads)):
            check_positive_int(value, arg, name)
        if num_query_heads % num_key_value_heads:
            raise ValueError(
                f"{name}: num_query_heads must be divisible by num_key_value_heads, received "
                f"num_query_heads={num_query_heads} and num_key_value_heads={num_key_value_heads}. Pick a "
                "num_key_value_heads that divides num_query_heads."
            )
        dropout = check_dropout(dropout, name)
        super().__init__(**kwargs)
        self.supports_masking = True
        self.head_dim = head_dim
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.num_repeats = num_query_heads // num_key_value_heads
        self.dropout = dropout
        self.use_bias = bool(use_bias)
        self.use_gate = bool(use_gate)
        self.sliding_window = check_positive_int(sliding_window, "sliding_window", name, optional=True)
        if flash_attention and dropout > 0:
            raise ValueError(
                f"{name}: flash_attention=True cannot apply dropout={dropout}. Set dropout=0.0, or leave "
                "flash_attention=None."
            )
        self._flash_attention = flash_attention
        self._kernel_init_arg = kernel_initializer
        self._bias_init_arg = bias_initializer
        initializers.get(kernel_initializer), initializers.get(bias_initializer)  # validate names now
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._inverse_sqrt_head_dim = 1.0 / math.sqrt(float(head_dim))
        self._query_dense: Optional[EinsumDense] = None

    def _dense(self, equation: str, output_shape: Any, bias_axes: str, name: str, activation: Any = None):
        return EinsumDense(
            equation, output_shape=output_shape, bias_axes=bias_axes if self.use_bias else None,
            activation=activation, name=name, kernel_initializer=self._kernel_init_arg,
            bias_initializer=self._bias_init_arg, kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer, activity_regularizer=self._activity_regularizer,
            kernel_constraint=self.kernel_constraint, bias_constraint=self.bias_constraint, dtype=self._dtype_config)

    def build(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> None:
        if value_shape is None:
            return  # called as layer(query, value=...): built in call() from the tensors
        key_shape = value_shape if key_shape is None else key_shape
        self.feature_dim = query_shape[-1]
        self._query_dense = self._dense("bqm,muh->bquh", (None, self.num_query_heads, self.head_dim), "uh", "query")
        self._query_dense.build_from_shape(tuple(query_shape))
        self._key_dense = self._dense("bkm,mvh->bkvh", (None, self.num_key_value_heads, self.head_dim), "vh", "key")
        self._key_dense.build_from_shape(tuple(key_shape))
        if self.use_gate:
            self._gate_dense = self._dense("bqm,muh->bquh", (None, self.num_query_heads, self.head_dim), "uh",
                                           "gate", activation="sigmoid")
            self._gate_dense.build_from_shape(tuple(query_shape))
        self._value_dense = self._dense("bkm,mvh->bkvh", (None, self.num_key_value_heads, self.head_dim), "vh",
                                        "value")
        self._value_dense.build_from_shape(tuple(value_shape))
        self._dropout_layer = Dropout(self.dropout, seed=self.seed)
        self._output_dense = self._dense("bquh,uhm->bqm", (None, self.feature_dim), "m", "attention_output")
        self._output_dense.build_from_shape((None, None, self.num_query_heads, self.head_dim))

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        if self._query_dense is None:
            shape = lambda t: (None,) + tuple(t.shape[1:])  # noqa: E731
            self.build(shape(query), shape(value), None if key is None else shape(key))
            self.to(query.device)
            if not self._trainable:
                self.trainable = False
        key, query_mask, mask, causal_only = core.resolve_masks(
            "GroupedQueryAttention", query, value, key, query_mask, value_mask, key_mask, attention_mask, use_causal_mask,
            self.sliding_window, return_attention_scores, self._flash_attention)
        gate = self._gate_dense(query) if self.use_gate else None
        q = self._query_dense(query)
        k = self._key_dense(key)
        v = self._value_dense(value)
        dropout_on = self.dropout > 0 and (self.training if training is None else bool(training))
        if not return_attention_scores and not dropout_on:
            out = core.fused_attention(q, k, v, mask, self._inverse_sqrt_head_dim, causal_only,
                                       self._flash_attention, zero_empty_rows=self.dropout > 0)
            scores = None
        else:
            if causal_only:
                mask = core.causal_mask(q.shape[1], v.shape[1], q.device)
            k = k.repeat_interleave(self.num_repeats, dim=2)
            v = v.repeat_interleave(self.num_repeats, dim=2)
            scores = torch.einsum("bquh,bkuh->buqk", q * self._inverse_sqrt_head_dim, k)
            scores = core.masked_softmax(scores, mask, 1)
            dropped = self._dropout_layer(scores, training=training) if self.dropout > 0 else scores
            out = torch.einsum("buqk,bkuh->bquh", dropped, v)
        out = self._output_dense(out if gate is None else out * gate)
        if query_mask is not None:
            out._keras_mask = query_mask
        return (out, scores) if return_attention_scores else out

    def compute_output_shape(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> Any:
        if value_shape is not None and query_shape[-1] != value_shape[-1]:
            raise ValueError(
                f"GroupedQueryAttention: query and value must have the same last dimension, received "
                f"query_shape={tuple(query_shape)} and value_shape={tuple(value_shape)}."
            )
        if value_shape is not None and key_shape is not None and tuple(value_shape)[1:-1] != tuple(key_shape)[1:-1]:
            raise ValueError(
                f"GroupedQueryAttention: value and key must have the same shape except the last axis, received "
                f"value_shape={tuple(value_shape)} and key_shape={tuple(key_shape)}."
            )
        return tuple(query_shape)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(
            head_dim=self.head_dim,
            num_query_heads=self.num_query_heads,
            num_key_value_heads=self.num_key_value_heads,
            use_bias=self.use_bias,
            use_gate=self.use_gate,
            sliding_window=self.sliding_window,
            dropout=self.dropout,
            kernel_initializer=initializers.serialize(self._kernel_init_arg),
            bias_initializer=initializers.serialize(self._bias_init_arg),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            activity_regularizer=regularizers.serialize(self._activity_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
            seed=self.seed,
        )
        return config


#: Keras 3's exported name for the class.
GroupQueryAttention = GroupedQueryAttention
