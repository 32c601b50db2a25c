"""`kerasish.random`: Keras 3's `keras.random` on torch.

Every function takes `seed`: an int (the same numbers on every call), a `SeedGenerator`
(new numbers on every call, in a reproducible sequence) or None (the global generator,
which `kerasish.utils.set_random_seed` resets). Draws use a `torch.Generator` on the
device of the result: `kerasish.ops.dtypes.current_device()` for shape-only functions,
the input's device for `dropout`, `shuffle` and `categorical`.

Beyond Keras, `seed` may also be a `(seed, counter)` pair, such as `SeedGenerator.next()`
returns; it draws what the generator would have drawn at that point.

Example:
    >>> from kerasish import random
    >>> x = random.normal((2, 3), seed=1)
    >>> bool((x == random.normal((2, 3), seed=1)).all())
    True
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch

from kerasish import config
from kerasish.ops.dtypes import (
    FLOAT_TYPES, INT_TYPES, convert_to_tensor, current_device, standardize_dtype, to_torch_dtype,
)
from kerasish.random.seed_generator import SeedGenerator, SeedLike, check_seed, make_generator

__all__ = [
    "SeedGenerator", "normal", "uniform", "randint", "truncated_normal", "dropout", "shuffle", "categorical",
    "gamma", "beta", "binomial",
]

Shape = Sequence[int]


# ----------------------------------------------------------------- argument checks
def _shape(shape: Any, fn: str) -> Tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        raise ValueError(
            f"`{fn}` expects `shape` to be a tuple of integers. Received: shape={shape!r}. "
            f"Pass shape=({shape},) for a 1-D result."
        )
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(
            f"`{fn}` expects `shape` to be a tuple of non-negative integers, such as (2, 3). "
            f"Received: shape={shape!r} (of type {type(shape).__name__})."
        ) from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0:
            raise ValueError(
                f"`{fn}` expects `shape` to be a tuple of non-negative integers, such as (2, 3). "
                f"Received: shape={shape!r}; {d!r} is not one. Random draws need a fully known shape."
            )
    return tuple(int(d) for d in dims)


def _float_dtype(dtype: Any, fn: str) -> torch.dtype:
    name = standardize_dtype(dtype)
    if name not in FLOAT_TYPES:
        raise ValueError(
            f"`kerasish.random.{fn}` requires a floating point `dtype` (one of {list(FLOAT_TYPES)}). "
            f"Received: dtype={dtype!r}."
        )
    return to_torch_dtype(name)


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype samplers run in: float64 for float64 results, float32 for the rest (as Keras)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _param(value: Any, name: str, fn: str, dtype: torch.dtype, device: torch.device, shape: Tuple[int, ...],
           valid: Any, expected: str) -> torch.Tensor:
    """`value` as a tensor broadcast to `shape`, after checking `valid(values)` holds everywhere."""
    if isinstance(value, torch.Tensor):
        tensor = value.to(device=device, dtype=dtype)
        # host sync: once per call, to refuse bad parameters as Keras does (gamma/beta/binomial only).
        ok = bool(valid(tensor).all()) if tensor.numel() else True
    else:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise ValueError(
                f"`{fn}` expects `{name}` to be a number or an array of numbers. Received: {name}={value!r}."
            )
        ok = bool(np.all(valid(array.astype(np.float64))))
        tensor = convert_to_tensor(array, dtype=dtype, device=device)
    if not ok:
        raise ValueError(f"`{fn}` expects `{name}` to be {expected}. Received: {name}={value!r}.")
    try:
        return torch.broadcast_to(tensor, shape)
    except RuntimeError:
        raise ValueError(
            f"`{fn}` could not broadcast `{name}` of shape {tuple(tensor.shape)} to shape={shape}. Pass a scalar "
            f"or an array whose shape broadcasts to {shape}."
        ) from None


def _device_of(*values: Any) -> torch.device:
    for v in values:
        if isinstance(v, torch.Tensor):
            return current_device(like=v)
    return current_device()


# ----------------------------------------------------------------- distributions
def normal(shape: Shape, mean: Any = 0.0, stddev: Any = 1.0, dtype: Any = None, seed: SeedLike = None) -> torch.Tensor:
    """Samples of a normal distribution.

    Args:
        shape: the shape of the result, a tuple of ints.
        mean: the mean, a float or a tensor broadcastable to `shape`. Defaults to `0.0`.
        stddev: the standard deviation. Defaults to `1.0`.
        dtype: a floating point dtype. Defaults to `None` (floatx).
        seed: an int, a `SeedGenerator` or None. Defaults to `None`.

    Returns:
        A tensor of `shape` and `dtype` on the current device.

    Raises:
        ValueError: for a bad shape, a non-float dtype, a negative `stddev` or a bad seed.
    """
    shape = _shape(shape, "normal")
    dtype = _float_dtype(dtype, "normal")
    check_seed(seed)
    if _is_number(stddev) and stddev < 0:
        raise ValueError(f"`normal` expects `stddev` >= 0. Received: stddev={stddev!r}.")
    device = _device_of(mean, stddev)
    generator = make_generator(seed, device)
    if _is_number(mean) and _is_number(stddev):
        return torch.normal(float(mean), float(stddev), size=shape, generator=generator, dtype=dtype, device=device)
    z = torch.randn(shape, generator=generator, dtype=dtype, device=device)
    return (z * _on(stddev, device) + _on(mean, device)).to(dtype)


def _on(value: Any, device: torch.device) -> Any:
    return value if _is_number(value) else convert_to_tensor(value, device=device).to(device)


def uniform(shape: Shape, minval: Any = 0.0, maxval: Any = 1.0, dtype: Any = None,
            seed: SeedLike = None) -> torch.Tensor:
    """Samples of a uniform distribution on `[minval, maxval)`.

    Args:
        shape: the shape of the result, a tuple of ints.
        minval: the lower bound (included). Defaults to `0.0`.
        maxval: the upper bound (excluded). Defaults to `1.0`.
        dtype: a floating point dtype. Defaults to `None` (floatx).
        seed: an int, a `SeedGenerator` or None. Defaults to `None`.

    Raises:
        ValueError: for a bad shape, a non-float dtype or a bad seed.
    """
    shape = _shape(shape, "uniform")
    dtype = _float_dtype(dtype, "uniform")
    check_seed(seed)
    device = _device_of(minval, maxval)
    generator = make_generator(seed, device)
    u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
    if _is_number(minval) and _is_number(maxval):
        return (maxval - minval) * u + minval
    low, high = _on(minval, device), _on(maxval, device)
    return ((high - low) * u + low).to(dtype)


def randint(shape: Shape, minval: int, maxval: int, dtype: Any = "int32", seed: SeedLike = None) -> torch.Tensor:
    """Integers drawn uniformly from `[minval, maxval)`.

    Args:
        shape: the shape of the result, a tuple of ints.
        minval: the lowest value (included), an int.
        maxval: the bound (excluded), an int greater than `minval`.
        dtype: an integer dtype. Defaults to `"int32"`.
        seed: an int, a `SeedGenerator` or None. Defaults to `None`.

    Raises:
        ValueError: for a bad shape, a non-integer dtype, non-integer bounds,
            `minval >= maxval`, bounds outside the dtype's range, or a bad seed.
    """
    shape = _shape(shape, "randint")
    name = standardize_dtype(dtype)
    if name not in INT_TYPES:
        raise ValueError(
            f"`kerasish.random.randint` requires an integer `dtype` (one of {list(INT_TYPES)}). "
            f"Received: dtype={dtype!r}."
        )
    for arg, value in (("minval", minval), ("maxval", maxval)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(
                f"`randint` expects `{arg}` to be an integer. Received: {arg}={value!r} (of type "
                f"{type(value).__name__}). Use uniform() for floats."
            )
    if minval >= maxval:
        raise ValueError(
            f"`randint` expects `minval` < `maxval` (the range [minval, maxval) must hold a value). "
            f"Received: minval={minval}, maxval={maxval}."
        )
    info = torch.iinfo(to_torch_dtype(name))
    if minval < info.min or maxval - 1 > info.max:
        raise ValueError(
            f"`randint` bounds [{minval}, {maxval}) do not fit dtype={name!r} (values {info.min} to {info.max}). "
            "Pass a wider integer dtype."
        )
    check_seed(seed)
    device = current_device()
    generator = make_generator(seed, device)
    return torch.randint(int(minval), int(maxval), shape, generator=generator, dtype=to_torch_dtype(name),
                         device=device)


# Φ(-2) and Φ(2): the uniform range whose inverse normal CDF lies in [-2, 2].
_LOW_P = 0.5 * math.erfc(2 / math.sqrt(2))
_HIGH_P = 1.0 - _LOW_P


def truncated_normal(shape: Shape, mean: Any = 0.0, stddev: Any = 1.0, dtype: Any = None,
                     seed: SeedLike = None) -> torch.Tensor:
    """Samples of a normal distribution truncated to two standard deviations around the mean.

    Each value is the first of four normal draws inside the bounds, which gives Keras's
    numbers for the same seed. Where all four fall outside (about 4 in a million values),
    Keras's torch backend returns an out-of-bounds value; here an exact truncated sample
    (by the inverse CDF) takes its place, so every value lies within `mean ± 2 * stddev`.

    Args:
        shape: the shape of the result, a tuple of ints.
        mean: the mean of the untruncated normal. Defaults to `0.0`.
        stddev: its standard deviation. Defaults to `1.0`.
        dtype: a floating point dtype. Defaults to `None` (floatx).
        seed: an int, a `SeedGenerator` or None. Defaults to `None`.

    Raises:
        ValueError: for a bad shape, a non-float dtype, a negative `stddev` or a bad seed.
    """
    shape = _shape(shape, "truncated_normal")
    dtype = _float_dtype(dtype, "truncated_normal")
    check_seed(seed)
    if _is_number(stddev) and stddev < 0:
        raise ValueError(f"`truncated_normal` expects `stddev` >= 0. Received: stddev={stddev!r}.")
    device = _device_of(mean, stddev)
    generator = make_generator(seed, device)
    candidates = torch.normal(0.0, 1.0, size=shape + (4,), generator=generator, dtype=dtype, device=device)
    valid = (candidates > -2) & (candidates < 2)
    first = valid.to(torch.uint8).argmax(dim=-1, keepdim=True)
    z = candidates.gather(-1, first).squeeze(-1)
    # The rare all-outside case: an inverse-CDF sample from the same generator, drawn after the candidates.
    u = torch.empty(shape, dtype=_compute_dtype(dtype), device=device)
    u.uniform_(2 * _LOW_P - 1, 2 * _HIGH_P - 1, generator=generator)
    exact = u.erfinv_().mul_(math.sqrt(2)).clamp_(-2.0, 2.0).to(dtype)
    z = torch.where(valid.any(dim=-1), z, exact)
    if _is_number(mean) and _is_number(stddev):
        return z.mul_(stddev).add_(mean)
    return (z * _on(stddev, device) + _on(mean, device)).to(dtype)


def dropout(inputs: Any, rate: float, noise_shape: Optional[Sequence[Optional[int]]] = None,
            seed: SeedLike = None) -> torch.Tensor:
    """Zeroes each entry with probability `rate` and scales the rest by `1 / (1 - rate)`.

    With `noise_shape`, one draw is shared along the axes where it is 1 (a None entry takes
    the input's size). Unlike Keras's torch backend, `seed=None` draws from the global
    `SeedGenerator` rather than torch's global generator; `set_random_seed` fixes both.

    Args:
        inputs: a tensor (or array).
        rate: the probability of dropping an entry, in [0, 1]; 1 gives zeros, 0 the input.
        noise_shape: the shape of the mask, broadcastable to the input's. Defaults to `None`
            (the input's shape).
        seed: an int, a `SeedGenerator` or None. Defaults to `None`.

    Returns:
        The input's dtype for float inputs, floatx for integer ones (as Keras), on the input's device.

    Raises:
        ValueError: for a rate outside [0, 1], a noise_shape that does not fit the input, or a bad seed.
    """
    x = convert_to_tensor(inputs)
    if isinstance(rate, torch.Tensor) and rate.numel() == 1:
        rate = float(rate)  # host sync: once per call, a tensor rate decides which branch runs
    if not _is_number(rate) or not 0 <= rate <= 1:
        raise ValueError(f"`dropout` expects `rate` to be a number in [0, 1]. Received: rate={rate!r}.")
    mask_shape = tuple(x.shape) if noise_shape is None else _noise_shape(noise_shape, tuple(x.shape))
    check_seed(seed)
    if rate == 1:
        return torch.zeros_like(x)
    if rate == 0:
        return x
    if not x.is_floating_point():
        x = x.to(config.floatx_dtype())
    keep = 1.0 - float(rate)
    generator = make_generator(seed, x.device)
    mask = torch.bernoulli(torch.full(mask_shape, keep, device=x.device), generator=generator).bool()
    return torch.where(mask, x / keep, torch.zeros((), dtype=x.dtype, device=x.device))


def _noise_shape(noise_shape: Any, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
    try:
        dims = tuple(noise_shape)
    except TypeError:
        dims = None
    if dims is None or len(dims) != len(input_shape):
        raise ValueError(
            f"`dropout` expects `noise_shape` to have one entry per input axis ({len(input_shape)}). "
            f"Received: noise_shape={noise_shape!r} for an input of shape {input_shape}."
        )
    out = tuple(size if d is None else d for d, size in zip(dims, input_shape))
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or (d != 1 and d != size)
           for d, size in zip(out, input_shape)):
        raise ValueError(
            f"`dropout` expects each `noise_shape` entry to be 1, None or the input's size. Received: "
            f"noise_shape={noise_shape!r} for an input of shape {input_shape}."
        )
    return tuple(int(d) for d in out)


def shuffle(x: Any, axis: int = 0, seed: SeedLike = None) -> torch.Tensor:
    """Permutes `x` at random along `axis`.

    As Keras's torch backend, each position along the axes before `axis` gets its own
    permutation (Keras's JAX and TensorFlow backends share one); for `axis=0` there is
    one. Deviation: Keras's torch backend mishandles negative axes; here -1 is the last.

    Args:
        x: a tensor (or array) of at least one dimension.
        axis: the axis to shuffle. Defaults to `0`.
        seed: an int, a `SeedGenerator` or None. Defaults to `None`.

    Raises:
        ValueError: for a scalar `x`, an axis out of range or a bad seed.
    """
    x = convert_to_tensor(x)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < max(x.ndim, 1) \
            or x.ndim == 0:
        raise ValueError(
            f"`shuffle` expects `axis` to be an int in [{-x.ndim}, {x.ndim}) for an input of shape "
            f"{tuple(x.shape)}. Received: axis={axis!r}." + (" A scalar cannot be shuffled." if x.ndim == 0 else "")
        )
    axis = int(axis) % x.ndim
    check_seed(seed)
    generator = make_generator(seed, x.device)
    keys = torch.rand(x.shape[: axis + 1], generator=generator, device=x.device)
    order = keys.argsort(dim=axis).reshape(keys.shape + (1,) * (x.ndim - axis - 1))
    return torch.take_along_dim(x, order, dim=axis)


def categorical(logits: Any, num_samples: int, dtype: Any = "int32", seed: SeedLike = None) -> torch.Tensor:
    """Class indices drawn from each row of `logits` (unnormalized log-probabilities).

    Args:
        logits: a 2-D tensor `(batch_size, num_classes)`.
        num_samples: how many indices to draw per row (with replacement).
        dtype: the dtype of the result. Defaults to `"int32"`.
        seed: an int, a `SeedGenerator` or None. Defaults to `None`.

    Returns:
        A tensor of shape `(batch_size, num_samples)`.

    Raises:
        ValueError: for logits that are not 2-D or have no class, a negative or
            non-integer `num_samples`, or a bad seed.
    """
    logits = convert_to_tensor(logits)
    if logits.ndim != 2:
        raise ValueError(
            "`logits` should be a 2-D tensor with shape [batch_size, num_classes]. "
            f"Received: logits of shape {tuple(logits.shape)}. Add a batch axis with logits[None] for one row."
        )
    if logits.shape[1] == 0:
        raise ValueError("`categorical` expects at least one class: received logits of shape "
                         f"{tuple(logits.shape)}.")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 0:
        raise ValueError(
            f"`categorical` expects `num_samples` to be a non-negative int. Received: num_samples={num_samples!r}."
        )
    out_dtype = to_torch_dtype(standardize_dtype(dtype))
    check_seed(seed)
    if num_samples == 0 or logits.shape[0] == 0:
        return torch.zeros((logits.shape[0], int(num_samples)), dtype=out_dtype, device=logits.device)
    if not logits.is_floating_point():
        logits = logits.to(config.floatx_dtype())
    probs = torch.softmax(logits, dim=-1, dtype=_compute_dtype(logits.dtype))
    generator = make_generator(seed, logits.device)
    return torch.multinomial(probs, int(num_samples), replacement=True, generator=generator).to(out_dtype)


def gamma(shape: Shape, alpha: Any, dtype: Any = None, seed: SeedLike = None) -> torch.Tensor:
    """Samples of a Gamma distribution of concentration `alpha` (rate 1).

    Args:
        shape: the shape of the result, a tuple of ints.
        alpha: the concentration, a positive float or a tensor broadcastable to `shape`.
        dtype: a floating point dtype. Defaults to `None` (floatx).
        seed: an int, a `SeedGenerator` or None. Defaults to `None`.

    Raises:
        ValueError: for a bad shape, a non-float dtype, a non-positive `alpha` or a bad seed.
    """
    shape = _shape(shape, "gamma")
    dtype = _float_dtype(dtype, "gamma")
    check_seed(seed)
    device = _device_of(alpha)
    concentration = _param(alpha, "alpha", "gamma", _compute_dtype(dtype), device, shape, lambda a: a > 0,
                           "positive")
    generator = make_generator(seed, device)
    sample = torch._standard_gamma(concentration, generator=generator)
    # As torch.distributions.Gamma: no exact zeros, which would break log-densities.
    return sample.clamp_(min=torch.finfo(sample.dtype).tiny).to(dtype)


def beta(shape: Shape, alpha: Any, beta: Any, dtype: Any = None, seed: SeedLike = None) -> torch.Tensor:
    """Samples of a Beta distribution with concentrations `alpha` and `beta`.

    Args:
        shape: the shape of the result, a tuple of ints.
        alpha: the first concentration, positive, a float or a tensor broadcastable to `shape`.
        beta: the second concentration, positive, likewise.
        dtype: a floating point dtype. Defaults to `None` (floatx).
        seed: an int, a `SeedGenerator` or None. Defaults to `None`.

    Raises:
        ValueError: for a bad shape, a non-float dtype, non-positive concentrations or a bad seed.
    """
    shape = _shape(shape, "beta")
    dtype = _float_dtype(dtype, "beta")
    check_seed(seed)
    device = _device_of(alpha, beta)
    work = _compute_dtype(dtype)
    a = _param(alpha, "alpha", "beta", work, device, shape, lambda v: v > 0, "positive")
    b = _param(beta, "beta", "beta", work, device, shape, lambda v: v > 0, "positive")
    generator = make_generator(seed, device)
    # A Beta(a, b) sample is the first coordinate of a Dirichlet(a, b) one (as torch.distributions.Beta).
    return torch._sample_dirichlet(torch.stack([a, b], dim=-1), generator=generator)[..., 0].to(dtype)


def binomial(shape: Shape, counts: Any, probabilities: Any, dtype: Any = None, seed: SeedLike = None) -> torch.Tensor:
    """Samples of a Binomial distribution: successes in `counts` trials of probability `probabilities`.

    Args:
        shape: the shape of the result, a tuple of ints.
        counts: the number of trials, a non-negative integer (or a tensor of them) broadcastable to `shape`.
        probabilities: the success probability of each trial, in [0, 1], likewise.
        dtype: the dtype of the result. Defaults to `None` (floatx).
        seed: an int, a `SeedGenerator` or None. Defaults to `None`.

    Raises:
        ValueError: for a bad shape, negative or fractional counts, probabilities outside
            [0, 1], or a bad seed.
    """
    shape = _shape(shape, "binomial")
    out_dtype = to_torch_dtype(standardize_dtype(dtype))
    check_seed(seed)
    device = _device_of(counts, probabilities)
    work = _compute_dtype(out_dtype)
    n = _param(counts, "counts", "binomial", work, device, shape, lambda c: (c >= 0) & (c == c.round()),
               "a non-negative integer")
    p = _param(probabilities, "probabilities", "binomial", work, device, shape, lambda q: (q >= 0) & (q <= 1),
               "in [0, 1]")
    generator = make_generator(seed, device)
    return torch.binomial(n, p, generator=generator).to(out_dtype)


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
