"""The hashed feature cross of FeatureSpace: the bins of Keras's `HashedCrossing`, without TensorFlow.

Keras crosses features with TensorFlow's `sparse.cross_hashed`: each row's values are folded,
left to right, into a 64-bit fingerprint that starts from the key `0xDECAFCAFFE`, with
`FingerprintCat64`; an integer enters as its own 64 bits and a string as its FarmHash
Fingerprint64. The bin is that fingerprint modulo the number of bins. This module computes the
same bins with NumPy's wrapping uint64 arithmetic, once per distinct row of values.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np
import torch

from kerasish.layers.layer import Layer
from kerasish.layers.preprocessing.hashing import fingerprint64, to_host_array

_HASH_KEY = np.uint64(0xDECAFCAFFE)  # TensorFlow's default hash key of sparse.cross_hashed
_MUL = np.uint64(0xC6A4A7935BD1E995)
_47 = np.uint64(47)


def _shift_mix(v: np.ndarray) -> np.ndarray:
    return v ^ (v >> _47)


def _fingerprint_cat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TensorFlow's FingerprintCat64 on uint64 arrays (multiplication wraps modulo 2**64)."""
    with np.errstate(over="ignore"):
        out = a ^ _MUL
        out = out ^ (_shift_mix(b * _MUL) * _MUL)
        out = out * _MUL
        out = _shift_mix(out) * _MUL
        return _shift_mix(out)


def _as_uint64(values: np.ndarray) -> np.ndarray:
    """An integer as its 64 bits; a string (or bytes) as its Fingerprint64."""
    if values.dtype.kind in "iub":
        return values.astype(np.int64).view(np.uint64)
    flat = values.reshape(-1)
    out = np.empty(flat.shape, dtype=np.uint64)
    for i, v in enumerate(flat.tolist()):
        out[i] = fingerprint64(v if isinstance(v, bytes) else str(v).encode("utf-8"))
    return out.reshape(values.shape)


def cross_hashes(columns: Sequence[np.ndarray], num_bins: int) -> np.ndarray:
    """The bin (int64) of each row of the crossed `columns` (arrays of one shape)."""
    hashed = _HASH_KEY
    for column in columns:
        hashed = _fingerprint_cat(np.broadcast_to(hashed, column.shape), _as_uint64(column))
    return (hashed % np.uint64(num_bins)).astype(np.int64)


class HashedCross(Layer):
    """Crosses two or more integer or string features into `num_bins` bins (FeatureSpace's crosser).

    Gives the bins of Keras's `HashedCrossing(num_bins)` in its `'int'` mode. It runs on the
    host, as the lookups whose ids it crosses.

    Args:
        num_bins: the number of bins. No default.
        **kwargs: `name`, as for every layer.
    """

    _convert_input_args = False

    def __init__(self, num_bins: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_bins = int(num_bins)
        self.built = True

    def call(self, inputs: List[Any]) -> torch.Tensor:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(
                f"A feature cross needs a list of two or more inputs; received {type(inputs).__name__}"
                f"{'' if not isinstance(inputs, (list, tuple)) else f' of {len(inputs)}'}. Cross two features or more."
            )
        columns = [to_host_array(x) for x in inputs]  # host sync: crosses run on the host, once per batch
        shapes = {c.shape for c in columns}
        if len(shapes) > 1:
            raise ValueError(
                f"The crossed features {self.name!r} must have one shape; received shapes {sorted(shapes)}. "
                "Cross features of one value per row."
            )
        for column in columns:
            if column.dtype.kind not in "iubO":
                raise ValueError(
                    f"The crossed features {self.name!r} must be integers or strings after preprocessing; one is "
                    f"{column.dtype}. Cross categorical features (lookups, hashed or discretized features)."
                )
        return torch.from_numpy(cross_hashes(columns, self.num_bins))

    def compute_output_shape(self, input_shape: Any) -> Any:
        # Symbolic calls use this (the ids keep the shape of a crossed input): tracing on float
        # zeros would trip the dtype check of `call`.
        return tuple(input_shape[0])

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(num_bins=self.num_bins)
        return config
