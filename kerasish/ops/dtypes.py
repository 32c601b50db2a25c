"""Keras 3's dtype rules on torch: dtype names, type promotion and `convert_to_tensor`.

Keras names dtypes with strings ('float32', 'int32', 'bool', ...). Python scalars are
"weak": `int32_tensor + 1` stays int32, `float16_tensor + 1.0` stays float16, and a
Python int alone becomes int32 (not torch's int64), a Python float floatx (float32).
`result_type` follows Keras's promotion lattice (adapted by Keras from JAX's), which
agrees with torch's for tensor pairs except where noted in the lattice below.

New tensors (`convert_to_tensor` of non-tensors, `zeros`, `arange`, ...) are created on
the current device: the one a `device_scope` names, else the device of a tensor
argument, else `kerasish.config.default_device()`.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np
import torch

from kerasish import config

_TORCH: Dict[str, torch.dtype] = {
    "bool": torch.bool,
    "uint8": torch.uint8,
    "uint16": torch.uint16,
    "uint32": torch.uint32,
    "uint64": torch.uint64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
}
_NAMES: Dict[torch.dtype, str] = {v: k for k, v in _TORCH.items()}
_ALIASES = {"float": "float32", "int": "int32", "double": "float64", "half": "float16", "long": "int64",
            "complex": "complex64"}

FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
INT_TYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")

# Keras's promotion lattice: each dtype and the dtypes directly above it. "int" and
# "float" are the weak types of Python scalars.
_LATTICE: Dict[str, Tuple[str, ...]] = {
    "bool": ("int",),
    "int": ("uint8", "int8", "complex64"),
    "uint8": ("uint16", "int16"),
    "uint16": ("uint32", "int32"),
    "uint32": ("uint64", "int64"),
    "uint64": ("float",),
    "int8": ("int16",),
    "int16": ("int32",),
    "int32": ("int64",),
    "int64": ("float",),
    "float": ("bfloat16", "float16"),
    "bfloat16": ("float32",),
    "float16": ("float32",),
    "float32": ("float64", "complex64"),
    "float64": ("complex128",),
    "complex64": ("complex128",),
    "complex128": (),
}


def _above(dtype: str) -> set:
    seen = {dtype}
    todo = [dtype]
    while todo:
        for up in _LATTICE[todo.pop()]:
            if up not in seen:
                seen.add(up)
                todo.append(up)
    return seen


_UPPER = {d: _above(d) for d in _LATTICE}


def standardize_dtype(dtype: Any) -> str:
    """A Keras dtype name for a name, a torch/NumPy dtype or a Python type (None: floatx).

    Raises:
        ValueError: for anything that names no dtype Keras knows.
    """
    if dtype is None:
        return config.floatx()
    if isinstance(dtype, torch.dtype):
        name = _NAMES.get(dtype)
    elif dtype is bool:
        name = "bool"
    elif dtype is int:
        name = "int32"
    elif dtype is float:
        name = config.floatx()
    elif dtype is complex:
        name = "complex64"
    elif isinstance(dtype, str):
        name = _ALIASES.get(dtype, dtype)
        name = name[len("torch."):] if name.startswith("torch.") else name
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = getattr(dtype, "name", None)
    if name not in _TORCH:
        raise ValueError(
            f"Invalid dtype: {dtype!r}. Expected a dtype name such as 'float32', 'int32' or 'bool' "
            f"(one of {sorted(_TORCH)}), a torch.dtype or a NumPy dtype."
        )
    return name


def to_torch_dtype(dtype: Any) -> torch.dtype:
    """The torch dtype for a Keras dtype name (or anything `standardize_dtype` accepts)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if type(dtype) is str and dtype in _TORCH:  # the common case, without standardize_dtype's checks
        return _TORCH[dtype]
    return _TORCH[standardize_dtype(dtype)]


def _weak_or_name(dtype: Any) -> str:
    if dtype is int:
        return "int"
    if dtype is float:
        return "float"
    if dtype is bool:
        return "bool"
    return standardize_dtype(dtype)


_TO_32 = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}


def result_type(*dtypes: Any) -> str:
    """The dtype Keras's `backend.result_type` gives inputs of these dtypes (Python types are weak).

    As Keras on torch: `result_type('int32', float)` is floatx, `result_type('bfloat16', int)`
    bfloat16, `result_type('int8', 'uint8')` int16, `result_type()` floatx, and a 64-bit
    result is reported as its 32-bit type (`result_type('int64')` is int32). Ops that keep
    64-bit inputs 64-bit do so themselves, as Keras's do.
    """
    # Cached: the promotion walk costs microseconds and ops call this on every call. The key
    # holds the types too (np.dtype('float64') == float, yet one is strong, the other weak).
    key = (config.floatx(), dtypes, tuple(map(type, dtypes)))
    try:
        out = _RESULT_TYPES.get(key)
    except TypeError:  # an unhashable argument: computed, not cached
        return _result_type(dtypes)
    if out is None:
        out = _result_type(dtypes)
        if len(_RESULT_TYPES) < 4096:
            _RESULT_TYPES[key] = out
    return out


_RESULT_TYPES: Dict[tuple, str] = {}


def _result_type(dtypes: tuple) -> str:
    if not dtypes:
        return config.floatx()
    names = [_weak_or_name(config.floatx() if d is None else d) for d in dtypes]
    strong = [n for n in names if n not in ("int", "float")]
    if len(set(names)) == 1 or (strong and len(set(strong)) == 1 and len(strong) == len(names)):
        out = names[0]
    else:
        if not strong:  # only weak types: promote their strong forms, keep the result weak
            names = ["int32" if n == "int" else "float32" if n == "float" else n for n in names]
        common = set.intersection(*(_UPPER[n] for n in names))
        # The least upper bound: the common dtype every other common dtype lies above.
        out = next(c for c in common if all(o in _UPPER[c] for o in common))
        if not strong:
            out = {"int32": "int", "float32": "float"}.get(out, out)
    if out in ("int", "float"):
        bits = config.floatx()[-2:]
        out = f"int{bits}" if out == "int" else f"float{bits}"
    return _TO_32.get(out, out)


def dtype_of(x: Any) -> Any:
    """The dtype `result_type` should see for `x`: a name, or a weak Python type for scalars."""
    if isinstance(x, torch.Tensor):
        return _NAMES[x.dtype]
    if isinstance(x, (bool, int, float, complex)):
        return type(x)
    if isinstance(x, (np.ndarray, np.generic)):
        return standardize_dtype(x.dtype)
    return standardize_dtype(getattr(x, "dtype", None))


def is_float_dtype(dtype: Any) -> bool:
    return standardize_dtype(dtype) in FLOAT_TYPES


def is_int_dtype(dtype: Any) -> bool:
    return standardize_dtype(dtype) in INT_TYPES


# ----------------------------------------------------------------- devices
_scope = threading.local()


@contextlib.contextmanager
def device_scope(device: Any) -> Iterator[None]:
    """Creates new tensors (from ops, `convert_to_tensor`, random ops) on `device` inside the block.

    `with kerasish.device("cpu"): ...` as Keras 3's `keras.device`.
    """
    dev = config.resolve_device(device)
    previous = getattr(_scope, "device", None)
    _scope.device = dev
    try:
        yield
    finally:
        _scope.device = previous


def current_device(like: Optional[torch.Tensor] = None) -> torch.device:
    """The device for a new tensor: the scope's, else `like`'s, else the default device."""
    dev = getattr(_scope, "device", None)
    if dev is not None:
        return dev
    if like is not None:
        return like.device
    return config.default_device()


def convert_to_tensor(x: Any, dtype: Any = None, sparse: Optional[bool] = None, ragged: Optional[bool] = None,
                      device: Optional[torch.device] = None) -> torch.Tensor:
    """A torch tensor for `x` (a tensor, Variable, NumPy array, list or Python scalar), with Keras's dtypes.

    A tensor stays on its device (cast when `dtype` is given). Python ints become int32
    (int64 beyond its range), Python floats floatx, NumPy arrays keep their dtype.
    """
    if sparse:
        raise ValueError("convert_to_tensor(sparse=True) is not supported: kerasish tensors are dense torch "
                         "tensors. Pass sparse=None or False.")
    if ragged:
        raise ValueError("convert_to_tensor(ragged=True) is not supported: torch has no ragged tensors. Pad the "
                         "sequences (kerasish.utils.pad_sequences) and pass ragged=None or False.")
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(to_torch_dtype(dtype))
    if type(x).__name__ == "KerasTensor":
        raise TypeError(
            "convert_to_tensor received a symbolic KerasTensor, which has no values. Call the op on the "
            "KerasTensor directly (ops record a node in the functional graph), or wrap the code in a layer."
        )
    dev = device if device is not None else current_device()
    if isinstance(x, (bool, int, float, complex)):
        if dtype is not None:
            dt = to_torch_dtype(dtype)
        elif isinstance(x, bool):
            dt = torch.bool
        elif isinstance(x, int):
            dt = torch.int64 if not -(2 ** 31) <= x < 2 ** 31 else torch.int32
        elif isinstance(x, float):
            dt = config.floatx_dtype()
        else:
            dt = torch.complex64
        return torch.tensor(x, dtype=dt, device=dev)
    if isinstance(x, (list, tuple)) and any(isinstance(i, torch.Tensor) for i in x):
        return torch.stack([convert_to_tensor(i, dtype, device=dev) for i in x])
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x) if not isinstance(x, (list, tuple)) else x
        except Exception as e:  # noqa: BLE001 - re-raised with what was expected
            raise TypeError(f"Cannot convert {type(x).__name__} to a tensor: {e}") from None
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "USO":
            raise TypeError(
                f"Cannot convert an array of dtype {x.dtype} to a tensor: torch tensors hold numbers only. "
                "Map strings to integers first (e.g. with a StringLookup or TextVectorization layer)."
            )
        if dtype is None:
            dtype = standardize_dtype(x.dtype)
        if not x.flags.writeable:  # torch would share it and warn that writes are undefined; Keras copies
            x = x.copy()
        return torch.as_tensor(x, device=dev).to(to_torch_dtype(dtype))
    # A (nested) Python list of scalars: Keras's promotion over its leaves.
    if dtype is None:
        leaves = list(_leaves(x))
        dtype = result_type(*[dtype_of(v) for v in leaves]) if leaves else config.floatx()
    return torch.tensor(x, dtype=to_torch_dtype(dtype), device=dev)


def _leaves(x: Any) -> Iterator[Any]:
    if isinstance(x, (list, tuple)):
        for item in x:
            yield from _leaves(item)
    else:
        yield x


def convert_to_numpy(x: Any) -> np.ndarray:
    """A NumPy array for a tensor (moved to the CPU, detached), Variable, array or scalar."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)
