"""The arithmetic shared by MultiHeadAttention and GroupedQueryAttention.

Masks follow Keras 3: booleans, True = attend. The query's mask becomes `[B, T, 1]`, the
value's and key's `[B, 1, S]`, a causal mask `[1, T, S]`, and all are combined with AND.
Two computations give the attention:

- fused: `kerasish.ops.nn.dot_product_attention` (torch's scaled_dot_product_attention,
  its flash / memory-efficient kernels on CUDA); a masked position gets a large negative
  bias, so a query row with nothing to attend to averages every value, as Keras's fused path;
- explicit: scores, Keras's masked softmax (a fully masked row becomes zeros), dropout,
  and the weighted sum; used when the scores are requested or dropout is active.
"""

from __future__ import annotations

import string
from typing import Any, Optional, Sequence, Tuple

import torch

from kerasish.ops.nn import dot_product_attention

_LETTERS = string.ascii_lowercase


def projection_equation(free_dims: int, bound_dims: int, output_dims: int) -> Tuple[str, str, int]:
    """(equation, bias_axes, output rank) of a projection keeping `free_dims` leading axes,
    contracting the next `bound_dims` with the kernel and producing `output_dims` new ones."""
    free = _LETTERS[:free_dims]
    bound = _LETTERS[free_dims:free_dims + bound_dims]
    new = _LETTERS[free_dims + bound_dims:free_dims + bound_dims + output_dims]
    return f"{free}{bound},{bound}{new}->{free}{new}", new, free_dims + output_dims


def attention_equations(rank: int, attn_axes: Sequence[int]) -> Tuple[str, str, int]:
    """Einsum equations (key . query -> scores, scores . value -> output) for projected tensors
    of shape `(batch, <other axes>, <attention axes>, heads, channels)`, and the scores' rank.

    The scores have the batch-like axes (batch, other axes, heads) first, then the query's
    attention axes, then the key's.
    """
    target = _LETTERS[:rank]
    batch_axes = [i for i in range(rank) if i not in attn_axes and i != rank - 1]
    source, extra = "", rank
    for i in range(rank):
        if i in batch_axes or i == rank - 1:
            source += target[i]
        else:
            source += _LETTERS[extra]
            extra += 1
    product = "".join([target[i] for i in batch_axes] + [target[i] for i in attn_axes]
                      + [source[i] for i in attn_axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def causal_mask(q_len: int, kv_len: int, device: torch.device) -> torch.Tensor:
    """`[1, T, S]`, True where key position <= query position."""
    return torch.ones(q_len, kv_len, dtype=torch.bool, device=device).tril().unsqueeze(0)


def sliding_window_mask(q_len: int, kv_len: int, window: int, device: torch.device) -> torch.Tensor:
    """`[1, T, S]`, True where |query position - key position| < window."""
    rows = torch.arange(q_len, device=device).unsqueeze(1)
    cols = torch.arange(kv_len, device=device).unsqueeze(0)
    return ((rows - cols).abs() < window).unsqueeze(0)


def combined_mask(query: torch.Tensor, value: torch.Tensor, query_mask: Any = None, value_mask: Any = None,
                  key_mask: Any = None, attention_mask: Any = None, use_causal_mask: bool = False,
                  sliding_window: Optional[int] = None) -> Optional[torch.Tensor]:
    """Every mask that applies, as one boolean `[B, T, S]`-broadcastable tensor (None: no mask)."""
    device = query.device
    auto = None
    if query_mask is not None:
        auto = torch.as_tensor(query_mask, device=device).bool().unsqueeze(-1)
    for m in (value_mask, key_mask):
        if m is not None:
            m = torch.as_tensor(m, device=device).bool().unsqueeze(-2)
            auto = m if auto is None else auto & m
    if use_causal_mask:
        m = causal_mask(query.shape[1], value.shape[1], device)
        auto = m if auto is None else auto & m
    if sliding_window is not None:
        m = sliding_window_mask(query.shape[1], value.shape[1], sliding_window, device)
        auto = m if auto is None else auto & m
    if attention_mask is not None:
        attention_mask = torch.as_tensor(attention_mask, device=device).bool()
        return attention_mask if auto is None else attention_mask & auto
    return auto


def resolve_masks(owner: str, query: torch.Tensor, value: torch.Tensor, key: Optional[torch.Tensor],
                  query_mask: Any, value_mask: Any, key_mask: Any, attention_mask: Any, use_causal_mask: bool,
                  sliding_window: Optional[int], return_attention_scores: bool,
                  flash_attention: Optional[bool]) -> Tuple[torch.Tensor, Any, Optional[torch.Tensor], bool]:
    """`(key, query_mask, mask, causal_only)` for an attention call, as Keras fills them.

    Each `<input>_mask` not given comes from that input's `_keras_mask` (the key's only when a
    key tensor is passed; otherwise the key is the value). `causal_only`: causal masking alone,
    which the fused kernel does itself (mask is then None).

    Raises:
        ValueError: for `return_attention_scores` with `flash_attention=True`.
    """
    if query_mask is None:
        query_mask = getattr(query, "_keras_mask", None)
    if value_mask is None:
        value_mask = getattr(value, "_keras_mask", None)
    if key is None:
        key = value
    elif key_mask is None:
        key_mask = getattr(key, "_keras_mask", None)
    if return_attention_scores and flash_attention:
        raise ValueError(
            f"{owner}: return_attention_scores=True needs the explicit scores, which "
            "flash_attention=True does not compute. Build the layer with flash_attention=None."
        )
    causal_only = (use_causal_mask and query_mask is None and value_mask is None and key_mask is None
                   and attention_mask is None and sliding_window is None)
    mask = None if causal_only else combined_mask(
        query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask, sliding_window)
    return key, query_mask, mask, causal_only


def expand_mask(mask: torch.Tensor, rank: int, n_attn_axes: int) -> torch.Tensor:
    """Inserts axes (at the heads' place) until the mask has the scores' rank."""
    axis = -2 * n_attn_axes - 1
    while mask.dim() < rank:
        mask = mask.unsqueeze(axis)
    return mask


def masked_softmax(scores: torch.Tensor, mask: Optional[torch.Tensor], n_axes: int) -> torch.Tensor:
    """Keras's Softmax(mask=...) over the last `n_axes` axes: masked scores become -1e9 (-3e4 in
    float16) before the softmax and exact zeros after it."""
    if mask is not None:
        mask = expand_mask(mask, scores.dim(), n_axes)
        low = -3e4 if scores.dtype == torch.float16 else -1e9
        scores = scores.masked_fill(~mask, low)
    if n_axes == 1:
        probs = torch.softmax(scores, dim=-1)
    else:
        lead = scores.shape[:-n_axes]
        probs = torch.softmax(scores.reshape(*lead, -1), dim=-1).reshape(scores.shape)
    if mask is not None:
        probs = probs.masked_fill(~mask, 0.0)
    return probs


def fused_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: Optional[torch.Tensor],
                    scale: float, is_causal: bool, flash_attention: Optional[bool],
                    zero_empty_rows: bool) -> torch.Tensor:
    """softmax(q k^T * scale) v on `(B, T, N, H)` tensors with torch's fused kernel.

    `zero_empty_rows` gives the explicit path's result for query rows whose mask is all False
    (zeros instead of the mean of the values): Keras computes a layer with dropout on its
    explicit path even in inference, and kerasish keeps that layer's output while fusing.
    """
    if mask is not None:
        mask = expand_mask(mask, 4, 1)
    out = dot_product_attention(query, key, value, mask=mask, scale=scale, is_causal=is_causal,
                                flash_attention=flash_attention)
    if zero_empty_rows and mask is not None:
        keep = mask.any(-1).transpose(1, 2).unsqueeze(-1)  # [B, T, 1 or N, 1]
        out = out * keep.to(out.dtype)
    return out
