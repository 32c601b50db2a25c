"""Attention layers: EinsumDense, MultiHeadAttention, GroupedQueryAttention, Attention, AdditiveAttention."""

from kerasish.layers.attention.attention import AdditiveAttention, Attention
from kerasish.layers.attention.einsum_dense import EinsumDense
from kerasish.layers.attention.grouped_query_attention import GroupedQueryAttention, GroupQueryAttention
from kerasish.layers.attention.multi_head_attention import MultiHeadAttention

__all__ = ["AdditiveAttention", "Attention", "EinsumDense", "GroupQueryAttention", "GroupedQueryAttention",
           "MultiHeadAttention"]
