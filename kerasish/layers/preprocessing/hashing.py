"""Hashing: values to bins by FarmHash Fingerprint64 (or keyed SipHash-2-4), exactly as Keras's layer.

Keras hashes with TensorFlow's `to_hash_bucket_fast` (FarmHash's Fingerprint64 of the UTF-8
bytes, modulo the number of bins) or, with a salt, `to_hash_bucket_strong` (SipHash-2-4 keyed
by the two salt integers). Both are written out below in plain Python over 64-bit integers;
each distinct value of a batch is hashed once, so a batch costs one hash per unique value.
Integers are hashed as their decimal text and floats are first truncated to integers, as Keras does.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from kerasish.layers.preprocessing.base import PreprocessingLayer
from kerasish.layers.preprocessing.category_encoding import (
    check_not_sparse, check_output_mode, encode,
)
from kerasish.layers.layer import Shape
from kerasish.layers.layer_utils import dtype_name

_M = (1 << 64) - 1
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F


def _f64(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 8], "little")


def _f32(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 4], "little")


def _rot(v: int, r: int) -> int:
    return v if r == 0 else ((v >> r) | (v << (64 - r))) & _M


def _mix(v: int) -> int:
    return v ^ (v >> 47)


def _len16(u: int, v: int, mul: int) -> int:
    a = ((u ^ v) * mul) & _M
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M
    b ^= b >> 47
    return (b * mul) & _M


def _upto16(s: bytes, n: int) -> int:
    if n >= 8:
        mul = _K2 + n * 2
        a = (_f64(s, 0) + _K2) & _M
        b = _f64(s, n - 8)
        c = (_rot(b, 37) * mul + a) & _M
        d = ((_rot(a, 25) + b) * mul) & _M
        return _len16(c, d, mul)
    if n >= 4:
        mul = _K2 + n * 2
        return _len16((n + (_f32(s, 0) << 3)) & _M, _f32(s, n - 4), mul)
    if n > 0:
        y = (s[0] + (s[n >> 1] << 8)) & 0xFFFFFFFF
        z = (n + (s[n - 1] << 2)) & 0xFFFFFFFF
        return (_mix(((y * _K2) ^ (z * _K0)) & _M) * _K2) & _M
    return _K2


def _upto32(s: bytes, n: int) -> int:
    mul = _K2 + n * 2
    a = (_f64(s, 0) * _K1) & _M
    b = _f64(s, 8)
    c = (_f64(s, n - 8) * mul) & _M
    d = (_f64(s, n - 16) * _K2) & _M
    return _len16((_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M,
                  (a + _rot((b + _K2) & _M, 18) + c) & _M, mul)


def _upto64(s: bytes, n: int) -> int:
    mul = _K2 + n * 2
    a = (_f64(s, 0) * _K2) & _M
    b = _f64(s, 8)
    c = (_f64(s, n - 8) * mul) & _M
    d = (_f64(s, n - 16) * _K2) & _M
    y = (_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M
    z = _len16(y, (a + _rot((b + _K2) & _M, 18) + c) & _M, mul)
    e = (_f64(s, 16) * mul) & _M
    f = _f64(s, 24)
    g = ((y + _f64(s, n - 32)) * mul) & _M
    h = ((z + _f64(s, n - 24)) * mul) & _M
    return _len16((_rot((e + f) & _M, 43) + _rot(g, 30) + h) & _M,
                  (e + _rot((f + a) & _M, 18) + g) & _M, mul)


def _weak32(s: bytes, i: int, a: int, b: int):
    w, x, y, z = _f64(s, i), _f64(s, i + 8), _f64(s, i + 16), _f64(s, i + 24)
    a = (a + w) & _M
    b = _rot((b + a + z) & _M, 21)
    c = a
    a = (a + x + y) & _M
    b = (b + _rot(a, 44)) & _M
    return (a + z) & _M, (b + c) & _M


def fingerprint64(s: bytes) -> int:
    """FarmHash's Fingerprint64 of `s` (TensorFlow's `Fingerprint64`), an unsigned 64-bit int."""
    n = len(s)
    if n <= 16:
        return _upto16(s, n)
    if n <= 32:
        return _upto32(s, n)
    if n <= 64:
        return _upto64(s, n)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _M
    z = (_mix((y * _K2 + 113) & _M) * _K2) & _M
    v0 = v1 = w0 = w1 = 0
    x = (x * _K2 + _f64(s, 0)) & _M
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    i = 0
    while True:
        x = (_rot((x + y + v0 + _f64(s, i + 8)) & _M, 37) * _K1) & _M
        y = (_rot((y + v1 + _f64(s, i + 48)) & _M, 42) * _K1) & _M
        x ^= w1
        y = (y + v0 + _f64(s, i + 40)) & _M
        z = (_rot((z + w0) & _M, 33) * _K1) & _M
        v0, v1 = _weak32(s, i, (v1 * _K1) & _M, (x + w0) & _M)
        w0, w1 = _weak32(s, i + 32, (z + w1) & _M, (y + _f64(s, i + 16)) & _M)
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = _K1 + ((z & 0xFF) << 1)
    i = last64
    w0 = (w0 + ((n - 1) & 63)) & _M
    v0 = (v0 + w0) & _M
    w0 = (w0 + v0) & _M
    x = (_rot((x + y + v0 + _f64(s, i + 8)) & _M, 37) * mul) & _M
    y = (_rot((y + v1 + _f64(s, i + 48)) & _M, 42) * mul) & _M
    x ^= (w1 * 9) & _M
    y = (y + v0 * 9 + _f64(s, i + 40)) & _M
    z = (_rot((z + w0) & _M, 33) * mul) & _M
    v0, v1 = _weak32(s, i, (v1 * mul) & _M, (x + w0) & _M)
    w0, w1 = _weak32(s, i + 32, (z + w1) & _M, (y + _f64(s, i + 16)) & _M)
    z, x = x, z
    return _len16((_len16(v0, w0, mul) + _mix(y) * _K0 + z) & _M, (_len16(v1, w1, mul) + x) & _M, mul)


def _rotl(v: int, r: int) -> int:
    return ((v << r) | (v >> (64 - r))) & _M


def siphash24(key0: int, key1: int, s: bytes) -> int:
    """SipHash-2-4 of `s` under the 128-bit key (key0, key1) (TensorFlow's strong hash)."""
    k0, k1 = key0 & _M, key1 & _M
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(count: int) -> None:
        v0, v1, v2, v3 = v
        for _ in range(count):
            v0 = (v0 + v1) & _M
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _M
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _M
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _M
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        v[:] = [v0, v1, v2, v3]

    n = len(s)
    full = n - n % 8
    for i in range(0, full, 8):
        m = _f64(s, i)
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    last = int.from_bytes(s[full:], "little") | ((n & 0xFF) << 56)
    v[3] ^= last
    rounds(2)
    v[0] ^= last
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def as_hash_text(values: np.ndarray, encoding: str = "utf-8") -> List[bytes]:
    """The bytes Keras hashes for each value: UTF-8 text, decimal integers, truncated floats."""
    if values.dtype.kind == "f":
        values = values.astype(np.int64)
    out = []
    for v in values.tolist():
        if isinstance(v, bytes):
            out.append(v)
        elif isinstance(v, str):
            out.append(v.encode(encoding))
        elif isinstance(v, float):
            out.append(str(int(v)).encode())
        else:
            out.append(str(v).encode())
    return out


def hash_buckets(values: np.ndarray, num_buckets: int, salt: Optional[Sequence[int]] = None) -> np.ndarray:
    """Bucket ids (int64, same shape) of `values`, hashing each distinct value once."""
    flat = values.reshape(-1)
    if flat.size == 0:
        return np.zeros(values.shape, dtype=np.int64)
    uniques, inverse = np.unique(flat, return_inverse=True)
    if salt is None:
        hashed = [fingerprint64(b) % num_buckets for b in as_hash_text(uniques)]
    else:
        hashed = [siphash24(salt[0], salt[1], b) % num_buckets for b in as_hash_text(uniques)]
    return np.asarray(hashed, dtype=np.int64)[inverse.reshape(-1)].reshape(values.shape)


def to_host_array(inputs: Any) -> np.ndarray:
    """Strings, lists, NumPy arrays or tensors as a NumPy array (strings as objects)."""
    if isinstance(inputs, torch.Tensor):
        return inputs.detach().cpu().numpy()  # host sync: these layers run on the host, once per batch
    if isinstance(inputs, (str, bytes)):
        return np.asarray(inputs, dtype=object)
    if isinstance(inputs, (list, tuple)):
        first = inputs
        while isinstance(first, (list, tuple)) and first:
            first = first[0]
        if isinstance(first, (str, bytes)):
            return np.array(inputs, dtype=object)  # keeps str and bytes as they are (no ASCII decoding)
    arr = np.asarray(inputs)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    return arr


class Hashing(PreprocessingLayer):
    """Hashes strings or integers into `num_bins` bins, with the same bins as Keras's layer.

    Values are hashed with FarmHash Fingerprint64 (SipHash-2-4 when `salt` is given) and
    taken modulo the number of bins. With `mask_value`, bin 0 is kept for that value and the
    others hash into bins 1 to `num_bins - 1`. The layer runs on the host (CPU) because its
    inputs are usually strings; a model that starts with it trains on arrays of strings.

    Args:
        num_bins: the number of bins, the mask bin included. No default.
        mask_value: a value that maps to bin 0. Defaults to `None`.
        salt: an int or a pair of ints; turns on the keyed SipHash. Defaults to `None`.
        output_mode: `'int'` (bin ids, int64), `'one_hot'`, `'multi_hot'` or `'count'`
            (float32 vectors of size `num_bins`). Defaults to `'int'`.
        sparse: must be False (kerasish has no sparse tensors). Defaults to `False`.
        **kwargs: `name`, `dtype`, as for every layer.

    Example:
        >>> layer = Hashing(num_bins=3)
        >>> layer([["A"], ["B"], ["C"], ["D"], ["E"]]).tolist()
        [[1], [0], [1], [1], [2]]
    """

    _convert_input_args = False  # as Keras: inputs reach call() in their own dtype

    #: fit/predict pass raw strings to a model that starts with this layer.
    string_input = True
    #: Integer inputs are hashed as integers (fit does not cast them to float).
    integer_input = True

    def __init__(self, num_bins: Optional[int] = None, mask_value: Any = None,
                 salt: Union[int, Sequence[int], None] = None, output_mode: str = "int", sparse: bool = False,
                 **kwargs: Any) -> None:
        check_not_sparse("Hashing", sparse)
        if "dtype" in kwargs:
            kwargs["dtype"] = dtype_name(kwargs["dtype"])  # Keras's config writes a DTypePolicy envelope
        if kwargs.get("dtype") is not None and output_mode == "int" and kwargs["dtype"] not in ("int32", "int64"):
            raise ValueError(
                f"Hashing with output_mode='int' outputs integer bins; received dtype={kwargs['dtype']!r}. "
                "Pass dtype='int64' (the default) or 'int32', or choose another output_mode."
            )
        dtype = kwargs.pop("dtype", None)
        super().__init__(**kwargs)
        self._out_dtype = dtype
        if not isinstance(num_bins, (int, np.integer)) or isinstance(num_bins, bool) or num_bins <= 0:
            raise ValueError(
                f"Hashing needs num_bins, a positive int; received num_bins={num_bins!r}. Pass e.g. num_bins=1000."
            )
        check_output_mode("Hashing", output_mode, ("int", "one_hot", "multi_hot", "count"))
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2 and all(isinstance(s, int) for s in salt):
                salt = [int(salt[0]), int(salt[1])]
            elif isinstance(salt, int) and not isinstance(salt, bool):
                salt = [salt, salt]
            else:
                raise ValueError(
                    f"Hashing received salt={salt!r}; expected an int or a pair of ints. "
                    "Pass e.g. salt=1337 or salt=(1, 2)."
                )
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.salt = salt
        self.output_mode = output_mode
        self.sparse = False
        self._is_adapted = True
        self.built = True

    def update_state(self, data: Any) -> None:
        raise ValueError(
            "Hashing has no state to learn: its bins depend only on num_bins and salt. Call the layer "
            "directly, without adapt()."
        )

    def call(self, inputs: Any) -> torch.Tensor:
        values = to_host_array(inputs)
        if self.output_mode == "one_hot" and values.ndim > 0 and values.shape[-1] == 1:
            values = values.reshape(values.shape[:-1])
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = values == self.mask_value
        ids = hash_buckets(values, bins, self.salt)
        if mask is not None:
            ids = np.where(mask, 0, ids + 1)
        out = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
        if self.output_mode == "int":
            return out.to(torch.int32) if self._out_dtype == "int32" else out
        dtype = getattr(torch, self._out_dtype) if self._out_dtype else torch.float32
        return encode(out, self.output_mode, self.num_bins, dtype=dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.output_mode == "int":
            return tuple(input_shape)
        if not input_shape:
            return (self.num_bins,)
        return tuple(input_shape[:-1]) + (self.num_bins,)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        # Keras's Hashing defaults its dtype to int64 for output_mode='int', else floatx.
        default = "int64" if self.output_mode == "int" else config["dtype"]["config"]["name"]
        config["dtype"]["config"]["name"] = self._out_dtype or default
        config.update(num_bins=self.num_bins, salt=self.salt, mask_value=self.mask_value,
                      output_mode=self.output_mode, sparse=self.sparse)
        return config
