"""`ops.rearrange`: einops-style axis rearrangement, as Keras 3's `keras.ops.rearrange`.

A pattern names the input axes and the output axes: `"b h w c -> b c h w"` permutes,
`"b h w c -> b (h w) c"` merges, `"b (h p) w c -> b h p w c"` splits (the new lengths
come from keyword arguments, e.g. `p=2`, one unknown per group inferred). Runs as one
reshape, one permute and one reshape; no data is copied unless torch must.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Tuple

import torch

from kerasish.ops.dtypes import convert_to_tensor
from kerasish.ops.operation import op

Group = List[str]


def _parse(side: str, pattern: str) -> List[Group]:
    groups: List[Group] = []
    for token in re.findall(r"\(([^()]*)\)|([^\s()]+)|(\S)", side):
        inner, name, bad = token
        if bad:
            raise ValueError(f"ops.rearrange: unexpected {bad!r} in pattern {pattern!r}.")
        groups.append(inner.split() if inner or not name else [name])
    names = [n for g in groups for n in g]
    for n in names:
        if not n.isidentifier():
            raise ValueError(f"ops.rearrange: axis name {n!r} in pattern {pattern!r} is not an identifier.")
    if len(set(names)) != len(names):
        raise ValueError(f"ops.rearrange: an axis name repeats on one side of {pattern!r}.")
    return groups


def _split(pattern: str) -> Tuple[List[Group], List[Group]]:
    if pattern.count("->") != 1:
        raise ValueError(f"ops.rearrange: the pattern must have the form 'inputs -> outputs', received {pattern!r}.")
    left, right = pattern.split("->")
    return _parse(left, pattern), _parse(right, pattern)


@op("einops")
def rearrange(tensor: Any, pattern: str, **axes_lengths: int) -> torch.Tensor:
    """Permutes, merges and splits axes as `pattern` says (einops notation)."""
    x = convert_to_tensor(tensor)
    inputs, outputs = _split(pattern)
    in_names = [n for g in inputs for n in g]
    out_names = [n for g in outputs for n in g]
    if sorted(in_names) != sorted(out_names):
        raise ValueError(
            f"ops.rearrange: both sides of {pattern!r} must name the same axes; only on the left "
            f"{sorted(set(in_names) - set(out_names))}, only on the right {sorted(set(out_names) - set(in_names))}."
        )
    if len(inputs) != x.dim():
        raise ValueError(f"ops.rearrange: {pattern!r} describes {len(inputs)} input axes, but the tensor has "
                         f"{x.dim()} (shape {tuple(x.shape)}).")
    unknown = sorted(set(axes_lengths) - set(in_names))
    if unknown:
        raise ValueError(f"ops.rearrange: axes_lengths names {unknown}, which {pattern!r} does not use.")
    sizes: Dict[str, int] = {}
    for group, dim in zip(inputs, x.shape):
        known = [axes_lengths[n] for n in group if n in axes_lengths]
        missing = [n for n in group if n not in axes_lengths]
        product = 1
        for k in known:
            product *= k
        if len(missing) > 1:
            raise ValueError(f"ops.rearrange: give the lengths of all but one of {group} (e.g. {missing[0]}=...).")
        if missing:
            if product == 0 or dim % product:
                raise ValueError(f"ops.rearrange: axis of size {dim} cannot split into {group} with {axes_lengths}.")
            sizes[missing[0]] = dim // product
        elif product != dim:
            raise ValueError(f"ops.rearrange: {group} multiply to {product}, but the axis has size {dim}.")
        sizes.update({n: axes_lengths[n] for n in group if n in axes_lengths})
    x = x.reshape([sizes[n] for n in in_names])
    x = x.permute([in_names.index(n) for n in out_names])
    shape = []
    for group in outputs:
        size = 1
        for n in group:
            size *= sizes[n]
        shape.append(size)
    return x.reshape(shape)
