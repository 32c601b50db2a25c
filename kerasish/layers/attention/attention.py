"""Attention (Luong, dot-product) and AdditiveAttention (Bahdanau), as Keras 3's layers."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch

from kerasish.layers.layer import Layer


def _is_sequence(x: Any) -> bool:
    return isinstance(x, (list, tuple))


class Attention(Layer):
    """Dot-product attention: `softmax(scores(query, key)) @ value`.

    Called on `[query, value]` or `[query, value, key]` of shapes `(B, Tq, dim)`,
    `(B, Tv, dim)`, `(B, Tv, dim)`. With `score_mode='dot'` the scores are
    `query @ key^T` (times the scalar `scale` with `use_scale=True`); with `'concat'` they
    are `concat_score_weight * sum(tanh(scale * (query + key)))`. A value mask (True =
    attend) removes keys from the softmax, a query mask zeroes the output rows, and the
    output carries the query's mask.

    Args:
        use_scale: whether to learn a scalar `scale` on the scores. Defaults to `False`.
        score_mode: `'dot'` or `'concat'`. Defaults to `'dot'`.
        dropout: dropout rate on the attention probabilities (in training). Defaults to `0.0`.
        seed: seed of the dropout. Defaults to `None`.
        **kwargs: `name`, `dtype`, `trainable`.

    Call arguments:
        inputs: `[query, value]` or `[query, value, key]` (key defaults to value).
        mask: `[query_mask, value_mask]` booleans `(B, Tq)`, `(B, Tv)`. Defaults to the
            inputs' Keras masks.
        training: dropout on. return_attention_scores: also return the `(B, Tq, Tv)`
        probabilities. use_causal_mask: query position i attends to keys j <= i only.

    Raises:
        ValueError: for an unknown `score_mode`, a dropout rate outside [0, 1), inputs that
            are not a list of 2 or 3 tensors, or a mask that is not a list of 2 or 3.

    Example:
        >>> layer = Attention()
        >>> q, v = torch.ones(2, 3, 4), torch.ones(2, 5, 4)
        >>> layer([q, v]).shape
        torch.Size([2, 3, 4])
    """

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: Optional[int] = None, **kwargs: Any) -> None:
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                f"{type(self).__name__}: score_mode must be 'dot' or 'concat', received score_mode={score_mode!r}."
            )
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(
                f"{type(self).__name__}: dropout must be a number in [0, 1), received dropout={dropout!r}."
            )
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = float(dropout)
        self.seed = seed
        if self.dropout > 0:
            from kerasish.random import SeedGenerator

            self.seed_generator = SeedGenerator(seed)
        self.scale = None
        self.concat_score_weight = None

    def build(self, input_shape: Any) -> None:
        self._validate(input_shape)
        if self.use_scale:
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(shape=(), initializer="ones", name="concat_score_weight")

    def _scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        if self.score_mode == "dot":
            scores = query @ key.transpose(-2, -1)
            return scores * self.scale if self.scale is not None else scores
        total = query.unsqueeze(-2) + key.unsqueeze(-3)  # [B, Tq, Tv, dim]
        if self.scale is not None:
            total = self.scale * total
        return self.concat_score_weight * torch.tanh(total).sum(-1)

    def _validate(self, inputs: Any, mask: Any = None) -> None:
        name = type(self).__name__
        if not _is_sequence(inputs):
            raise ValueError(
                f"{name} layer must be called on a list of inputs, [query, value] or [query, value, key]. "
                f"Received: inputs of type {type(inputs).__name__}."
            )
        if not 2 <= len(inputs) <= 3:
            raise ValueError(
                f"{name} layer accepts a list of 2 or 3 inputs, [query, value] or [query, value, key]. "
                f"Received length: {len(inputs)}."
            )
        if mask is not None and (not _is_sequence(mask) or not 2 <= len(mask) <= 3):
            raise ValueError(
                f"{name} layer mask must be a list [query_mask, value_mask] (a third entry is ignored). "
                f"Received: mask={mask!r}."
            )

    @staticmethod
    def _input_masks(inputs: Any) -> Optional[List[Any]]:
        masks = [getattr(t, "_keras_mask", None) for t in inputs]
        return masks if any(m is not None for m in masks) else None

    def call(self, inputs, mask=None, training=False, return_attention_scores=False, use_causal_mask=False):
        self._validate(inputs, mask)
        if mask is None:
            mask = self._input_masks(inputs)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._scores(query, key)
        keep = None if v_mask is None else torch.as_tensor(v_mask, device=scores.device).bool().unsqueeze(-2)
        if use_causal_mask:
            causal = torch.ones(scores.shape[-2], scores.shape[-1], dtype=torch.bool, device=scores.device).tril()
            keep = causal if keep is None else keep & causal
        if keep is not None:
            # Keras subtracts a large number (not -inf): a fully masked row stays finite.
            big = 65504.0 if scores.dtype == torch.float16 else 1.0e9
            scores = torch.where(keep, scores, scores - big)
        weights = torch.softmax(scores, dim=-1)
        applied = weights
        if training and self.dropout > 0:
            from kerasish import random

            applied = random.dropout(weights, self.dropout, seed=self.seed_generator)
        out = applied @ value
        if q_mask is not None:
            q_mask = torch.as_tensor(q_mask, device=out.device)
            out = torch.where(q_mask.bool().unsqueeze(-1), out, torch.zeros((), dtype=out.dtype, device=out.device))
            out._keras_mask = q_mask  # also when the scores are returned (a tuple the base class skips)
        return (out, weights) if return_attention_scores else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None and _is_sequence(inputs):
            mask = self._input_masks(inputs)
        if mask is None or mask[0] is None:
            return None
        return torch.as_tensor(mask[0])

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[0][:-1]) + (input_shape[1][-1],)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(use_scale=self.use_scale, score_mode=self.score_mode, dropout=self.dropout, seed=self.seed)
        return config


class AdditiveAttention(Attention):
    """Additive (Bahdanau) attention: scores `sum(scale * tanh(query + key), axis=-1)`.

    Same call as `Attention`; `scale` is a learned vector of the feature size (glorot
    uniform) when `use_scale=True`.

    Args:
        use_scale: whether to learn the per-feature `scale`. Defaults to `True`.
        dropout: dropout rate on the attention probabilities (in training). Defaults to `0.0`.
        **kwargs: `seed`, `name`, `dtype`, `trainable`.

    Example:
        >>> layer = AdditiveAttention()
        >>> q, v = torch.ones(2, 3, 4), torch.ones(2, 5, 4)
        >>> layer([q, v]).shape
        torch.Size([2, 3, 4])
    """

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape: Any) -> None:
        self._validate(input_shape)
        if self.use_scale:
            self.scale = self.add_weight(shape=(input_shape[0][-1],), initializer="glorot_uniform", name="scale")

    def _scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))
        return (t * self.scale if self.scale is not None else t).sum(-1)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        del config["score_mode"]
        return config
