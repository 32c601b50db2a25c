"""Module-level helpers of the Layer base: dtype arguments, weight shapes and layouts,
keys for new variables, build-config shapes, and state snapshots for shape probes."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np
import torch
from torch import nn


# Marks a parameter made non-trainable on purpose (a counter, a statistic): state a forward pass may move.
STATE_MARK = "_kerasish_state"


def mark_state(tensor: torch.Tensor) -> torch.Tensor:
    """Marks `tensor` (a parameter created with `trainable=False`) as state that shape probes restore."""
    setattr(tensor, STATE_MARK, True)
    return tensor


def _is_probe_state(owner: nn.Module, p: torch.Tensor) -> bool:
    """Whether a parameter without gradient is state a forward pass may change, as opposed to a weight
    frozen by `trainable=False` (a frozen backbone, which no forward pass writes and which is not copied).

    kerasish keeps no flag for "created non-trainable" beyond `requires_grad`, so: a marked parameter is
    state; in a trainable Layer a parameter without gradient was made so (`add_weight(trainable=False)`);
    in a frozen Layer it is a frozen weight (a frozen layer runs in inference mode); a plain torch module
    keeps its state in buffers, so its parameters without gradient are frozen weights.
    """
    if getattr(p, STATE_MARK, False):
        return True
    return owner.__dict__.get("_trainable") is True


def state_snapshot(module: nn.Module) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """Copies of the state (counters, statistics, seed generators) a shape probe must not change:
    every buffer and every non-trainable state parameter, but no frozen weight (see `_is_probe_state`)."""
    out, seen = [], set()
    for owner in module.modules():
        for p in owner.parameters(recurse=False):
            if id(p) not in seen and not p.requires_grad and _is_probe_state(owner, p):
                out.append((p, p.detach().clone()))
            seen.add(id(p))
    out += [(b, b.clone()) for b in module.buffers()]
    return out


def state_restore(saved: List[Tuple[torch.Tensor, torch.Tensor]]) -> None:
    with torch.no_grad():
        for t, copy in saved:
            t.copy_(copy)


# The dtype policy classes of Keras's config envelopes (`{'class_name': 'DTypePolicy', 'config': {'name': ...}}`).
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy", "Policy")


def dtype_name(dtype: Any) -> Any:
    """A dtype argument as a plain name: Keras's DTypePolicy envelope `{'class_name': 'DTypePolicy',
    'config': {'name': 'int64'}}` gives 'int64'; anything else is returned as it is."""
    if isinstance(dtype, dict) and dtype.get("class_name") in _POLICY_CLASSES:
        return (dtype.get("config") or {}).get("name")
    return dtype


def _resolve_dtype(dtype: Any) -> Tuple[Optional[str], Optional[torch.dtype]]:
    """(variable dtype name, autocast dtype or None) for a layer's `dtype` argument."""
    if dtype is None:
        return None, None
    if isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", ""), None
    name = getattr(dtype, "name", dtype)  # a DTypePolicy-like object
    if isinstance(dtype, dict) and dtype.get("class_name") in _POLICY_CLASSES:  # Keras's config envelope
        name = (dtype.get("config") or {}).get("name")
    if not isinstance(name, str):
        raise TypeError(f"dtype must be a dtype name such as 'float32' or a policy name, received {dtype!r}.")
    if name in ("mixed_float16", "mixed_bfloat16"):
        return "float32", torch.float16 if name == "mixed_float16" else torch.bfloat16
    if name == "string":
        raise ValueError(
            "dtype='string' is not supported: kerasish has no string tensors (torch has none), so "
            "keras.Input(dtype='string') cannot be honoured. Pass the strings (a list or a NumPy array) "
            "to the text layer itself (TextVectorization, StringLookup, Hashing) and give its output to "
            "the model, or start a Sequential model with that layer: Sequential([text_vectorizer, ...])."
        )
    if not isinstance(getattr(torch, name, None), torch.dtype):
        raise ValueError(
            f"Unknown dtype {name!r}. Expected a dtype name ('float32', 'float64', 'bfloat16', 'float16', "
            "'int32' ...) or a policy name ('mixed_float16', 'mixed_bfloat16')."
        )
    return name, None


def _torch_dtype(name: Any) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    dt = getattr(torch, str(name), None)
    if not isinstance(dt, torch.dtype):
        raise ValueError(f"Unknown dtype {name!r}; expected a name such as 'float32', 'int32' or 'bool'.")
    return dt


def _check_weight_shape(shape: Any, layer_name: str) -> Tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    ok = isinstance(shape, (tuple, list)) and all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in shape)
    if not ok:
        raise ValueError(
            f"add_weight on layer {layer_name!r} received shape={shape!r}; a weight's shape must be a tuple of "
            "known non-negative ints, e.g. shape=(input_shape[-1], self.units). Create weights in build(), "
            "where the input shape is known, instead of using None."
        )
    return tuple(int(d) for d in shape)


def _fill_keras_layout(data: torch.Tensor, init: Any) -> None:
    """Runs a kerasish initializer (which computes fans in torch's (out, in, *k) layout) on a
    tensor in Keras's (*k, in, out) layout, so fans match Keras's."""
    if data.dim() < 2:
        init(data)
        return
    n = data.dim()
    torch_view = data.permute(n - 1, n - 2, *range(n - 2))
    init(torch_view)


def _free_key(module: nn.Module, base: str) -> str:
    key, i = base, 0
    while key in module._parameters or key in module._buffers or key in module._modules or key in module.__dict__:
        i += 1
        key = f"{base}_{i}"
    return key


def _jsonable_shape(shape: Any) -> Any:
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [_jsonable_shape(s) for s in shape]
    return None if shape is None else list(shape)


def _shape_from_json(shape: Any) -> Any:
    if isinstance(shape, list) and shape and isinstance(shape[0], list):
        return [tuple(s) for s in shape]
    return tuple(shape)
