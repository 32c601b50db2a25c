"""MultiHeadAttention: Keras 3's layer, computed with torch's fused attention kernels."""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch

from kerasish import constraints, initializers, regularizers
from kerasish.layers.attention import attention_core as core
from kerasish.layers.attention.einsum_dense import EinsumDense
from kerasish.layers.core import Dropout
from kerasish.layers.layer import Layer


def check_positive_int(value: Any, arg: str, layer: str, optional: bool = False) -> Optional[int]:
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{layer}: {arg} must be a positive integer{' or None' if optional else ''}, received "
            f"{arg}={value!r}."
        )
    return value


def check_dropout(value: Any, layer: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{layer}: dropout must be a number in [0, 1), received dropout={value!r}.")
    return float(value)


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al., 2017) with Keras 3's arguments and weights.

    `query`, `value` and `key` are projected by the `EinsumDense` sublayers `query`, `key`
    and `value` to `num_heads` heads, attended over `attention_axes`, and projected back by
    `attention_output`. The kernels have Keras's shapes (`query`: `(dim, num_heads, key_dim)`,
    `attention_output`: `(num_heads, value_dim, *output_shape)`), so `get_weights()` lists
    the same arrays in the same order as Keras's layer.

    The attention runs on torch's fused `scaled_dot_product_attention` whenever the scores
    are not requested, dropout is inactive (inference, or `dropout=0`) and the attention
    is over one axis; otherwise it computes the scores and Keras's masked softmax.

    Masks (True = attend) come from the inputs' Keras masks (`query._keras_mask`, e.g. from
    `Embedding(mask_zero=True)`) or the `*_mask` arguments, plus `attention_mask` and the
    causal mask, combined with AND. The output carries the query's mask.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value. Defaults to `None` (`key_dim`).
        dropout: dropout rate on the attention probabilities. Defaults to `0.0`.
        use_bias: whether the projections have biases. Defaults to `True`.
        output_shape: the output's last dimension(s) (an int or tuple). Defaults to `None`
            (the query's last dimension).
        attention_axes: the axes attention runs over (batch, heads and features excluded).
            Defaults to `None` (every axis between the batch and the features).
        sliding_window: a positive int restricts each query position to keys closer than
            `sliding_window` positions. Defaults to `None`.
        flash_attention: `True` forces torch's flash kernel (CUDA, half precision). Defaults
            to `None` (torch chooses its fastest kernel).
        kernel_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        kernel_regularizer: Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: applied to each projection's output, as Keras. Defaults to `None`.
        kernel_constraint: Defaults to `None`.
        bias_constraint: Defaults to `None`.
        use_gate: adds a sigmoid gate projection of the query (`gate`) multiplying the
            attention output. Defaults to `False`.
        seed: seed of the dropout. Defaults to `None`.
        **kwargs: `name`, `dtype`, `trainable`.

    Call arguments:
        query: `(B, T, dim)` (or more axes). value: `(B, S, dim)`. key: `(B, S, dim)`,
        defaults to `value`. query_mask / value_mask / key_mask: `(B, T)` / `(B, S)` booleans,
        default to the inputs' Keras masks. attention_mask: `(B, T, S)` booleans.
        return_attention_scores: also return the `(B, heads, T, S)` probabilities.
        training: dropout on. use_causal_mask: position t attends to positions <= t only.

    Raises:
        ValueError: for a non-positive `num_heads`, `key_dim` or `value_dim`, a dropout rate
            outside [0, 1), a bad `output_shape`, `attention_axes` or `sliding_window`, or
            `flash_attention=True` with dropout.

    Example:
        >>> mha = MultiHeadAttention(num_heads=2, key_dim=4)
        >>> x = torch.ones(3, 5, 8)
        >>> mha(x, x).shape
        torch.Size([3, 5, 8])
        >>> [tuple(w.shape) for w in mha.get_weights()][:2]
        [(8, 2, 4), (2, 4)]
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: Optional[int] = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: Any = None,
        attention_axes: Any = None,
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
        name = "MultiHeadAttention"
        check_positive_int(num_heads, "num_heads", name)
        check_positive_int(key_dim, "key_dim", name)
        check_positive_int(value_dim, "value_dim", name, optional=True)
        dropout = check_dropout(dropout, name)
        super().__init__(**kwargs)
        self.supports_masking = True
        self._num_heads = num_heads
        self._key_dim = key_dim
        self._value_dim = value_dim or key_dim
        self._dropout = dropout
        self._use_bias = bool(use_bias)
        self._use_gate = bool(use_gate)
        if output_shape:
            if isinstance(output_shape, int) and not isinstance(output_shape, bool):
                output_shape = (output_shape,)
            if not isinstance(output_shape, (list, tuple)) or not all(
                    isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in output_shape):
                raise ValueError(
                    f"{name}: output_shape must be a positive int or a tuple of them, received "
                    f"output_shape={output_shape!r}. Example: output_shape=64 or output_shape=(4, 16)."
                )
            output_shape = tuple(output_shape)
        self._output_shape = output_shape or None
        if isinstance(attention_axes, int) and not isinstance(attention_axes, bool):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and not (isinstance(attention_axes, (list, tuple)) and all(
                isinstance(a, int) and not isinstance(a, bool) for a in attention_axes)):
            raise ValueError(
                f"{name}: attention_axes must be an int, a list or tuple of ints, or None, received "
                f"attention_axes={attention_axes!r}. Example: attention_axes=(1, 2) for 2-D attention."
            )
        self._attention_axes = tuple(attention_axes) if attention_axes else None
        self._sliding_window = check_positive_int(sliding_window, "sliding_window", name, optional=True)
        if flash_attention and dropout > 0:
            raise ValueError(
                f"{name}: flash_attention=True cannot apply dropout={dropout}. Set dropout=0.0, or leave "
                "flash_attention=None (torch then picks a kernel that fits)."
            )
        self._flash_attention = flash_attention
        self._kernel_init_arg = kernel_initializer
        self._bias_init_arg = bias_initializer
        initializers.get(kernel_initializer), initializers.get(bias_initializer)  # validate names now
        self._kernel_regularizer = regularizers.get(kernel_regularizer)
        self._bias_regularizer = regularizers.get(bias_regularizer)
        self._activity_regularizer = regularizers.get(activity_regularizer)
        self._kernel_constraint = constraints.get(kernel_constraint)
        self._bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(key_dim))
        self._query_dense: Optional[EinsumDense] = None

    # Keras's read-only properties (`output_shape` is left out, as in Keras).
    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)
    attention_axes = property(lambda self: self._attention_axes)
    query_dense = property(lambda self: self._query_dense)
    key_dense = property(lambda self: self._key_dense)
    value_dense = property(lambda self: self._value_dense)
    output_dense = property(lambda self: self._output_dense)

    def _sublayer_kwargs(self) -> Dict[str, Any]:
        return dict(
            kernel_initializer=self._kernel_init_arg,
            bias_initializer=self._bias_init_arg,
            kernel_regularizer=self._kernel_regularizer,
            bias_regularizer=self._bias_regularizer,
            activity_regularizer=self._activity_regularizer,
            kernel_constraint=self._kernel_constraint,
            bias_constraint=self._bias_constraint,
            dtype=self._dtype_config,
        )

    def _projection(self, name: str, input_rank: int, heads: int, size: int, activation: Any = None) -> EinsumDense:
        equation, bias_axes, out_rank = core.projection_equation(input_rank - 1, 1, 2)
        return EinsumDense(equation, output_shape=[None] * (out_rank - 3) + [heads, size],
                           bias_axes=bias_axes if self._use_bias else None, activation=activation, name=name,
                           **self._sublayer_kwargs())

    def build(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> None:
        if value_shape is None:
            return  # called as layer(query, value=...): built in call() from the tensors
        key_shape = value_shape if key_shape is None else key_shape
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError(
                f"MultiHeadAttention: value and key must have the same shape except the last axis, received "
                f"value_shape={tuple(value_shape)} and key_shape={tuple(key_shape)}."
            )
        q_rank = len(query_shape)
        self._query_dense = self._projection("query", q_rank, self._num_heads, self._key_dim)
        self._query_dense.build_from_shape(tuple(query_shape))
        self._key_dense = self._projection("key", len(key_shape), self._num_heads, self._key_dim)
        self._key_dense.build_from_shape(tuple(key_shape))
        if self._use_gate:
            self._gate_dense = self._projection("gate", q_rank, self._num_heads, self._value_dim, "sigmoid")
            self._gate_dense.build_from_shape(tuple(query_shape))
        self._value_dense = self._projection("value", len(value_shape), self._num_heads, self._value_dim)
        self._value_dense.build_from_shape(tuple(value_shape))
        rank = q_rank + 1  # of the projected tensors
        if self._attention_axes is None:
            self._attention_axes = tuple(range(1, rank - 2))
        else:
            self._attention_axes = tuple(a if a >= 0 else rank - 1 + a for a in self._attention_axes)
        self._dot_product_equation, self._combine_equation, _ = core.attention_equations(rank, self._attention_axes)
        self._dropout_layer = Dropout(self._dropout, seed=self.seed)
        out_dims = list(self._output_shape or [query_shape[-1]])
        equation, bias_axes, out_rank = core.projection_equation(q_rank - 1, 2, len(out_dims))
        self._output_dense = EinsumDense(equation, output_shape=[None] * (out_rank - 1 - len(out_dims)) + out_dims,
                                         bias_axes=bias_axes if self._use_bias else None, name="attention_output",
                                         **self._sublayer_kwargs())
        projected = list(self._query_dense.compute_output_shape(tuple(query_shape)))
        projected[-1] = self._value_dim
        self._output_dense.build_from_shape(tuple(projected))

    def _build_from_tensors(self, query: torch.Tensor, value: torch.Tensor, key: Optional[torch.Tensor]) -> None:
        shape = lambda t: (None,) + tuple(t.shape[1:])  # noqa: E731
        self.build(shape(query), shape(value), None if key is None else shape(key))
        self.built = True
        self._build_input_shape = shape(query)
        self.to(query.device)
        if not self._trainable:
            self.trainable = False

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        if self._query_dense is None:
            self._build_from_tensors(query, value, key)
        key, query_mask, mask, causal_only = core.resolve_masks(
            "MultiHeadAttention", query, value, key, query_mask, value_mask, key_mask, attention_mask, use_causal_mask,
            self._sliding_window, return_attention_scores, self._flash_attention)
        gate = self._gate_dense(query) if self._use_gate else None
        q = self._query_dense(query)
        k = self._key_dense(key)
        v = self._value_dense(value)
        out, scores = self._attend(q, k, v, mask, training, return_attention_scores, causal_only)
        out = self._output_dense(out if gate is None else out * gate)
        if query_mask is not None:
            out._keras_mask = query_mask
        return (out, scores) if return_attention_scores else out

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor],
                training: Any, return_scores: bool, causal_only: bool) -> Tuple[torch.Tensor, Any]:
        dropout_on = self._dropout > 0 and (self.training if training is None else bool(training))
        if not return_scores and not dropout_on and q.dim() == 4:
            out = core.fused_attention(q, k, v, mask, self._inverse_sqrt_key_dim, causal_only,
                                       self._flash_attention, zero_empty_rows=self._dropout > 0)
            return out, None
        if causal_only:
            mask = core.causal_mask(q.shape[1], v.shape[1], q.device)
        scores = torch.einsum(self._dot_product_equation, k, q * self._inverse_sqrt_key_dim)
        probs = core.masked_softmax(scores, mask, len(self._attention_axes))
        dropped = self._dropout_layer(probs, training=training) if self._dropout > 0 else probs
        return torch.einsum(self._combine_equation, dropped, v), probs

    def compute_output_shape(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> Any:
        query_shape = tuple(query_shape)
        if value_shape is not None and key_shape is not None and tuple(value_shape)[1:-1] != tuple(key_shape)[1:-1]:
            raise ValueError(
                f"MultiHeadAttention: value and key must have the same shape except the last axis, received "
                f"value_shape={tuple(value_shape)} and key_shape={tuple(key_shape)}."
            )
        return query_shape[:-1] + self._output_shape if self._output_shape else query_shape

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(
            num_heads=self._num_heads,
            key_dim=self._key_dim,
            value_dim=self._value_dim,
            dropout=self._dropout,
            use_bias=self._use_bias,
            use_gate=self._use_gate,
            output_shape=None if self._output_shape is None else list(self._output_shape),
            attention_axes=None if self._attention_axes is None else list(self._attention_axes),
            sliding_window=self._sliding_window,
            kernel_initializer=initializers.serialize(self._kernel_init_arg),
            bias_initializer=initializers.serialize(self._bias_init_arg),
            kernel_regularizer=regularizers.serialize(self._kernel_regularizer),
            bias_regularizer=regularizers.serialize(self._bias_regularizer),
            activity_regularizer=regularizers.serialize(self._activity_regularizer),
            kernel_constraint=constraints.serialize(self._kernel_constraint),
            bias_constraint=constraints.serialize(self._bias_constraint),
            seed=self.seed,
        )
        return config
