"""Keras ops, nn namespace: activations, normalization, one-hot, losses and attention.

Everything of `keras.ops.nn` is here: the convolution and pooling ops live in
`kerasish.ops.nn_conv` and are re-exported. Dtypes follow Keras on torch: float inputs
keep their dtype; the ops torch computes only on floats (softmax, elu, gelu ...) raise a
TypeError for integer or bool tensors, as Keras's torch backend fails on them too;
those Keras computes on integers (relu, sigmoid, ...) give what Keras gives.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from kerasish import config
from kerasish.ops.dtypes import convert_to_tensor, result_type, standardize_dtype, to_torch_dtype
from kerasish.ops.nn_conv import (  # noqa: F401 - re-exported: kerasish.ops.nn.<name>
    adaptive_average_pool, adaptive_max_pool, average_pool, conv, conv_transpose, depth_to_space, depthwise_conv,
    float_input, fold, max_pool, separable_conv, space_to_depth, unfold,
)
from kerasish.ops.operation import op

Axis = Union[int, Sequence[int], None]


def _no_bool(x: Any, name: str) -> torch.Tensor:
    x = convert_to_tensor(x)
    if x.dtype == torch.bool:
        raise TypeError(f"ops.{name} does not accept bool tensors (as in Keras). Cast it first: "
                        f"ops.{name}(ops.cast(x, 'float32')).")
    return x


def _as_float(x: Any) -> torch.Tensor:
    """Ints and bools as float32 (torch's promotion, which Keras's torch backend inherits)."""
    x = convert_to_tensor(x)
    return x if x.is_floating_point() else x.to(torch.float32)


def _axes(axis: Axis, ndim: int, name: str, arg: str = "axis") -> Tuple[int, ...]:
    """`axis` (None: all) as sorted non-negative axes, or a ValueError naming the op."""
    if axis is None:
        return tuple(range(ndim))
    items = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, int) or not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"ops.{name}: {arg}={axis!r} is out of range for a tensor of rank {ndim} "
                             f"(valid axes are {-ndim}..{ndim - 1}).")
        out.append(a % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"ops.{name}: {arg}={axis!r} repeats an axis.")
    return tuple(sorted(out))


# ----------------------------------------------------------------- elementwise activations
@op("nn")
def relu(x: Any) -> torch.Tensor:
    """max(x, 0); integers stay integers."""
    return torch.relu(_no_bool(x, "relu"))


@op("nn")
def relu6(x: Any) -> torch.Tensor:
    """min(max(x, 0), 6); integers stay integers."""
    return F.relu6(_no_bool(x, "relu6"))


@op("nn")
def sigmoid(x: Any) -> torch.Tensor:
    """1 / (1 + exp(-x)); integers and bools give float32."""
    return torch.sigmoid(convert_to_tensor(x))


@op("nn")
def sparse_sigmoid(x: Any) -> torch.Tensor:
    """0 below -1, 1 above 1, (x + 1) / 2 between."""
    return torch.clamp((_as_float(x) + 1) * 0.5, 0.0, 1.0)


@op("nn")
def softplus(x: Any) -> torch.Tensor:
    """log(1 + exp(x))."""
    return F.softplus(float_input(x, "softplus"))


@op("nn")
def softsign(x: Any) -> torch.Tensor:
    """x / (1 + |x|)."""
    return F.softsign(_no_bool(x, "softsign"))


@op("nn")
def soft_shrink(x: Any, threshold: float = 0.5) -> torch.Tensor:
    """x - threshold above threshold, x + threshold below -threshold, 0 between."""
    return F.softshrink(float_input(x, "soft_shrink"), threshold)


@op("nn")
def sparse_plus(x: Any) -> torch.Tensor:
    """0 below -1, x above 1, (x + 1)**2 / 4 between."""
    x = _as_float(x)
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x < 1, 0.25 * (x + 1) ** 2, x))


@op("nn")
def silu(x: Any) -> torch.Tensor:
    """x * sigmoid(x) (also `swish`)."""
    return F.silu(float_input(x, "silu"))


swish = op("nn", "swish")(silu.__wrapped__)  # type: ignore[attr-defined]


@op("nn")
def squareplus(x: Any, b: float = 4) -> torch.Tensor:
    """(x + sqrt(x**2 + b)) / 2."""
    x = _as_float(x)
    return (x + torch.sqrt(x * x + b)) / 2


@op("nn")
def log_sigmoid(x: Any) -> torch.Tensor:
    """log(sigmoid(x)), computed stably."""
    return F.logsigmoid(float_input(x, "log_sigmoid"))


@op("nn")
def leaky_relu(x: Any, negative_slope: float = 0.2) -> torch.Tensor:
    """x for x >= 0, negative_slope * x below."""
    return F.leaky_relu(float_input(x, "leaky_relu"), negative_slope)


@op("nn")
def hard_sigmoid(x: Any) -> torch.Tensor:
    """clip(x / 6 + 1/2, 0, 1)."""
    return F.hardsigmoid(float_input(x, "hard_sigmoid"))


@op("nn")
def hard_silu(x: Any) -> torch.Tensor:
    """x * hard_sigmoid(x) (also `hard_swish`)."""
    return F.hardswish(float_input(x, "hard_silu"))


hard_swish = op("nn", "hard_swish")(hard_silu.__wrapped__)  # type: ignore[attr-defined]


@op("nn")
def elu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    """x for x > 0, alpha * (exp(x) - 1) below."""
    return F.elu(float_input(x, "elu"), alpha)


@op("nn")
def selu(x: Any) -> torch.Tensor:
    """Scaled ELU with the self-normalizing constants."""
    return F.selu(float_input(x, "selu"))


@op("nn")
def gelu(x: Any, approximate: bool = True) -> torch.Tensor:
    """Gaussian error linear unit; the tanh approximation by default (as `keras.ops.gelu`)."""
    return F.gelu(float_input(x, "gelu"), approximate="tanh" if approximate else "none")


@op("nn")
def celu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    """max(x, 0) + min(alpha * (exp(x / alpha) - 1), 0)."""
    return F.celu(float_input(x, "celu"), alpha)


@op("nn")
def glu(x: Any, axis: int = -1) -> torch.Tensor:
    """a * sigmoid(b) for the two halves a, b of `axis`."""
    x = float_input(x, "glu")
    (ax,) = _axes(axis, x.dim(), "glu")
    if x.shape[ax] % 2:
        raise ValueError(f"ops.glu: the size of axis {axis} must be even (it is split in two halves), "
                         f"received shape {tuple(x.shape)}.")
    return F.glu(x, ax)


@op("nn")
def tanh_shrink(x: Any) -> torch.Tensor:
    """x - tanh(x)."""
    return F.tanhshrink(_no_bool(x, "tanh_shrink"))


@op("nn")
def hard_tanh(x: Any) -> torch.Tensor:
    """clip(x, -1, 1); integers stay integers."""
    return F.hardtanh(_no_bool(x, "hard_tanh"), -1.0, 1.0)


@op("nn")
def hard_shrink(x: Any, threshold: float = 0.5) -> torch.Tensor:
    """x where |x| > threshold, else 0."""
    return F.hardshrink(float_input(x, "hard_shrink"), threshold)


@op("nn")
def threshold(x: Any, threshold: float, default_value: float) -> torch.Tensor:
    """x where x > threshold, else default_value."""
    return F.threshold(_no_bool(x, "threshold"), threshold, default_value)


# ----------------------------------------------------------------- softmax family
_SOFTMAX_IN_PLACE_DTYPES = (torch.float32, torch.float64, torch.bfloat16)  # float16 is computed in float32


def _softmax_input(x: Any, axis: Axis, name: str) -> Tuple[torch.Tensor, Tuple[int, ...]]:
    x = convert_to_tensor(x)
    if not x.is_floating_point():
        raise TypeError(
            f"ops.{name} expects a floating-point tensor, received dtype {standardize_dtype(x.dtype)} (Keras's "
            f"torch backend cannot compute it either). Cast it first: ops.{name}(ops.cast(x, 'float32')).")
    return x, _axes(axis, x.dim(), name)


def _softmax_like(x: torch.Tensor, axes: Tuple[int, ...], log: bool, axis: Axis) -> torch.Tensor:
    # float16 is computed in float32, as Keras does (torch's CPU kernels lack it); so is bfloat16 over
    # several axes, which torch's fused single-axis kernels also accumulate in float32.
    half = x.dtype == torch.float16 or (x.dtype == torch.bfloat16 and not isinstance(axis, int))
    work = x.float() if half else x
    if x.dim() == 0:
        y = torch.zeros_like(work) if log else torch.ones_like(work)
    elif isinstance(axis, int):
        y = torch.log_softmax(work, axes[0]) if log else torch.softmax(work, axes[0])
    else:  # several axes (or all): normalise by their joint log-sum-exp
        shifted = work - torch.logsumexp(work, dim=axes, keepdim=True)
        y = shifted if log else torch.exp(shifted)
    return y.to(x.dtype)


@op("nn")
def softmax(x: Any, axis: Axis = -1) -> torch.Tensor:
    """exp(x) / sum(exp(x)) over `axis` (an int, a tuple of axes, or None for all)."""
    if (isinstance(x, torch.Tensor) and type(axis) is int and x.dtype in _SOFTMAX_IN_PLACE_DTYPES
            and -x.ndim <= axis < x.ndim and x.shape[axis] != 1):
        return torch.softmax(x, axis)  # the common case: torch's fused kernel in x's dtype
    x, axes = _softmax_input(x, axis, "softmax")
    if isinstance(axis, int) and x.dim() and x.shape[axes[0]] == 1:
        warnings.warn(
            f"ops.softmax over axis {axis} of a tensor of shape {tuple(x.shape)}: that axis has size 1, so every "
            "output is 1. For a single logit use sigmoid instead.", stacklevel=3)
    return _softmax_like(x, axes, False, axis)


@op("nn")
def log_softmax(x: Any, axis: Axis = -1) -> torch.Tensor:
    """x - log(sum(exp(x))) over `axis` (an int, a tuple of axes, or None for all)."""
    x, axes = _softmax_input(x, axis, "log_softmax")
    return _softmax_like(x, axes, True, axis)


@op("nn")
def sparsemax(x: Any, axis: int = -1) -> torch.Tensor:
    """The Euclidean projection of `x` onto the probability simplex along `axis` (sparse probabilities)."""
    x = _no_bool(x, "sparsemax")
    x = _as_float(x)
    (ax,) = _axes(axis, x.dim(), "sparsemax")
    z, _ = torch.sort(x, dim=ax, descending=True)
    cumulative = torch.cumsum(z, dim=ax)
    shape = [1] * x.dim()
    shape[ax] = -1
    k = torch.arange(1, x.shape[ax] + 1, dtype=x.dtype, device=x.device).reshape(shape)
    support = (1 + k * z) > cumulative  # the sorted entries that stay positive
    size = support.sum(dim=ax, keepdim=True)
    tau = (torch.where(support, cumulative, torch.zeros_like(cumulative)).sum(dim=ax, keepdim=True) - 1) / size
    return torch.clamp(x - tau, min=0)


# ----------------------------------------------------------------- normalization
@op("nn")
def normalize(x: Any, axis: Axis = -1, order: int = 2, epsilon: Optional[float] = None) -> torch.Tensor:
    """x divided by its `order`-norm over `axis` (the norm floored at `epsilon`)."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"ops.normalize: order must be an int >= 1, received order={order!r}.")
    x = _as_float(x)
    x = x.reshape(1) if x.dim() == 0 else x
    eps = config.epsilon() if epsilon is None else epsilon
    axes = _axes(axis, x.dim(), "normalize")
    if order == 2:
        return x * torch.clamp(torch.rsqrt(torch.sum(x * x, dim=axes, keepdim=True)), max=1.0 / eps)
    if len(axes) == 1 or axis is None:
        norm = torch.linalg.vector_norm(x, ord=order, dim=axes, keepdim=True)
    elif len(axes) == 2:  # a norm over two axes is a matrix norm, as in Keras
        norm = torch.linalg.matrix_norm(x, ord=order, dim=axes, keepdim=True)
    else:
        raise ValueError(f"ops.normalize: order={order} needs one or two axes, received axis={axis!r}.")
    return x / torch.clamp(norm, min=eps)


@op("nn")
def moments(x: Any, axes: Axis, keepdims: bool = False,
            synchronized: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """(mean, variance) of `x` over `axes`; float16 is computed in float32."""
    if synchronized:
        raise NotImplementedError("ops.moments(synchronized=True) is not supported on torch (as in Keras). Reduce "
                                  "the moments across processes yourself with torch.distributed.all_reduce.")
    x = float_input(x, "moments")
    dims = _axes(axes, x.dim(), "moments", "axes")
    work = x.float() if x.dtype == torch.float16 else x
    variance, mean = torch.var_mean(work, dim=dims, correction=0, keepdim=keepdims)
    if x.dtype == torch.float16:
        limit = torch.finfo(torch.float16).max
        mean, variance = mean.clamp(-limit, limit).half(), variance.clamp(-limit, limit).half()
    return mean, variance


def _along(v: Any, x: torch.Tensor, axis: int, arg: str) -> torch.Tensor:
    v = convert_to_tensor(v)
    if v.dim() != 1 or v.shape[0] != x.shape[axis]:
        raise ValueError(f"ops.batch_normalization: {arg} must be a vector of length x.shape[axis] = "
                         f"{x.shape[axis]}, received shape {tuple(v.shape)}.")
    shape = [1] * x.dim()
    shape[axis] = -1
    return v.to(x.device).reshape(shape)


@op("nn")
def batch_normalization(x: Any, mean: Any, variance: Any, axis: int, offset: Any = None, scale: Any = None,
                        epsilon: float = 1e-3) -> torch.Tensor:
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the vectors lying along `axis`."""
    x = convert_to_tensor(x)
    (ax,) = _axes(axis, x.dim(), "batch_normalization")
    mean = _along(mean, x, ax, "mean")
    variance = _along(variance, x, ax, "variance")
    dtype = torch.promote_types(x.dtype, mean.dtype)
    factor = torch.rsqrt(variance + epsilon)
    if scale is not None:
        factor = factor * _along(scale, x, ax, "scale")
    y = (x - mean) * factor
    if offset is not None:
        y = y + _along(offset, x, ax, "offset")
    return y.to(dtype)


def _trailing(axes: Tuple[int, ...], ndim: int) -> bool:
    return axes == tuple(range(ndim - len(axes), ndim))


def _norm_param(v: Any, x: torch.Tensor, axes: Tuple[int, ...]) -> Optional[torch.Tensor]:
    if v is None:
        return None
    v = convert_to_tensor(v, x.dtype).to(x.device)
    if v.dim() != x.dim() and not _trailing(axes, x.dim()):  # a vector over non-trailing axes
        v = v.reshape([x.shape[d] if d in axes else 1 for d in range(x.dim())])
    return v


@op("nn")
def rms_normalization(x: Any, scale: Any = None, axis: Axis = -1, epsilon: Optional[float] = None) -> torch.Tensor:
    """x / sqrt(mean(x**2 over axis) + epsilon) * scale, computed in at least float32."""
    x = convert_to_tensor(x)
    original = x.dtype
    x = x.to(to_torch_dtype(result_type(standardize_dtype(x.dtype), "float32")))
    x = x.reshape(1) if x.dim() == 0 else x
    eps = config.epsilon() if epsilon is None else epsilon
    axes = _axes(axis, x.dim(), "rms_normalization")
    gamma = _norm_param(scale, x, axes)
    if _trailing(axes, x.dim()):
        y = F.rms_norm(x, tuple(x.shape[d] for d in axes), gamma, eps)
    else:
        y = x * torch.rsqrt(torch.mean(x * x, dim=axes, keepdim=True) + eps)
        y = y if gamma is None else y * gamma
    return y.to(original)


@op("nn")
def layer_normalization(x: Any, gamma: Any = None, beta: Any = None, axis: Axis = -1,
                        epsilon: Optional[float] = None, **kwargs: Any) -> torch.Tensor:
    """(x - mean) / sqrt(variance + epsilon) * gamma + beta over `axis`, computed in at least float32."""
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"ops.layer_normalization got unexpected keyword arguments {sorted(kwargs)}.")
    x = convert_to_tensor(x)
    original = x.dtype
    x = x.to(to_torch_dtype(result_type(standardize_dtype(x.dtype), "float32")))
    eps = config.epsilon() if epsilon is None else epsilon
    axes = _axes(axis, x.dim(), "layer_normalization")
    g, b = _norm_param(gamma, x, axes), _norm_param(beta, x, axes)
    if rms_scaling:
        warnings.warn("ops.layer_normalization(rms_scaling=True) is deprecated, as in Keras: it scales by the "
                      "variance, not the root mean square. Use ops.rms_normalization instead.", stacklevel=3)
        y = x * torch.rsqrt(torch.var(x, dim=axes, correction=0, keepdim=True) + eps)
        y = y if g is None else y * g
    elif _trailing(axes, x.dim()):
        y = F.layer_norm(x, tuple(x.shape[d] for d in axes), g, b, eps)
    else:
        variance, mean = torch.var_mean(x, dim=axes, correction=0, keepdim=True)
        y = (x - mean) * torch.rsqrt(variance + eps)
        y = y if g is None else y * g
        y = y if b is None else y + b
    return y.to(original)


# ----------------------------------------------------------------- one-hot encodings
@op("nn")
def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: Any = None, sparse: bool = False) -> torch.Tensor:
    """Class indices as one-hot vectors along `axis` (negative or too-large indices give all zeros)."""
    if sparse:
        raise ValueError("ops.one_hot(sparse=True) is not supported on torch (as in Keras's torch backend). "
                         "Pass sparse=False.")
    x = convert_to_tensor(x)
    out_dtype = to_torch_dtype(standardize_dtype(dtype))
    if not (axis == -1 or 0 <= axis <= x.dim()):
        raise ValueError(f"ops.one_hot: axis must be -1 or in [0, {x.dim()}] for an input of rank {x.dim()}, "
                         f"received axis={axis!r}.")
    classes = torch.arange(int(num_classes), device=x.device)
    y = (x.long().unsqueeze(-1) == classes).to(out_dtype)
    return y if axis == -1 else y.movedim(-1, axis)


@op("nn")
def multi_hot(inputs: Any, num_classes: Optional[int] = None, axis: int = -1, dtype: Any = None,
              sparse: bool = False, **kwargs: Any) -> torch.Tensor:
    """One-hot encodings of a batch of index lists, merged per sample (`num_tokens` is an alias of num_classes)."""
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if kwargs:
        raise TypeError(f"ops.multi_hot got unexpected keyword arguments {sorted(kwargs)}.")
    if num_classes is None:
        raise ValueError("ops.multi_hot: num_classes must be given, e.g. ops.multi_hot(x, num_classes=10).")
    x = convert_to_tensor(inputs)
    encoded = one_hot(x.to(torch.int32), num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return torch.amax(encoded, dim=1 if x.dim() > 1 else 0)


# ----------------------------------------------------------------- losses
def _same_shape(target: torch.Tensor, output: torch.Tensor, name: str) -> None:
    if target.shape != output.shape:
        raise ValueError(f"ops.{name}: target and output must have the same shape, received target.shape="
                         f"{tuple(target.shape)} and output.shape={tuple(output.shape)}.")


@op("nn")
def binary_crossentropy(target: Any, output: Any, from_logits: bool = False) -> torch.Tensor:
    """Elementwise binary crossentropy; probabilities are clipped to [epsilon, 1 - epsilon]."""
    output = float_input(output, "binary_crossentropy")
    target = convert_to_tensor(target).to(output.device, output.dtype)
    _same_shape(target, output, "binary_crossentropy")
    if from_logits:
        return F.binary_cross_entropy_with_logits(output, target, reduction="none")
    eps = config.epsilon()
    return F.binary_cross_entropy(output.clamp(eps, 1 - eps), target, reduction="none")


@op("nn")
def categorical_crossentropy(target: Any, output: Any, from_logits: bool = False, axis: int = -1) -> torch.Tensor:
    """-sum(target * log(p)) over `axis`; probabilities are rescaled to sum to 1 and clipped."""
    output = float_input(output, "categorical_crossentropy")
    target = convert_to_tensor(target).to(output.device)
    _same_shape(target, output, "categorical_crossentropy")
    if output.dim() < 1:
        raise ValueError("ops.categorical_crossentropy: target and output must be at least rank 1, received scalars.")
    (ax,) = _axes(axis, output.dim(), "categorical_crossentropy")
    if from_logits:
        log_p = torch.log_softmax(output, ax)
    else:
        eps = config.epsilon()
        log_p = torch.log((output / output.sum(ax, keepdim=True)).clamp(eps, 1 - eps))
    return -(target * log_p).sum(ax)


@op("nn")
def sparse_categorical_crossentropy(target: Any, output: Any, from_logits: bool = False,
                                    axis: int = -1) -> torch.Tensor:
    """Crossentropy against integer class indices (`target` may keep a trailing axis of size 1)."""
    output = float_input(output, "sparse_categorical_crossentropy")
    if output.dim() < 1:
        raise ValueError("ops.sparse_categorical_crossentropy: output must be at least rank 1, received a scalar.")
    (ax,) = _axes(axis, output.dim(), "sparse_categorical_crossentropy")
    target = convert_to_tensor(target).to(output.device).long()
    if target.dim() == output.dim() and target.shape[ax] == 1:
        target = target.squeeze(ax)
    expected = output.shape[:ax] + output.shape[ax + 1:]
    if target.shape != expected:
        raise ValueError(
            f"ops.sparse_categorical_crossentropy: target must have output's shape without the class axis, "
            f"{tuple(expected)}, received target.shape={tuple(target.shape)} and output.shape={tuple(output.shape)}.")
    if not from_logits:
        eps = config.epsilon()
        output = torch.log((output / output.sum(ax, keepdim=True)).clamp(eps, 1 - eps))
    logits = output.movedim(ax, 1) if output.dim() > 1 else output
    if from_logits:
        return F.cross_entropy(logits, target, reduction="none")
    return F.nll_loss(logits, target, reduction="none")


@op("nn")
def ctc_loss(target: Any, output: Any, target_length: Any, output_length: Any, mask_index: int = 0) -> torch.Tensor:
    """CTC loss per sample; `output` holds logits `(batch, time, classes)`, `mask_index` is the blank class."""
    output = convert_to_tensor(output)
    output = output.to(to_torch_dtype(result_type(standardize_dtype(output.dtype), "float32")))
    target = convert_to_tensor(target).to(output.device)
    if output.dim() != 3 or target.dim() != 2 or target.shape[0] != output.shape[0]:
        raise ValueError(f"ops.ctc_loss: output must be (batch, time, classes) and target (batch, max_label_length) "
                         f"with the same batch size, received output.shape={tuple(output.shape)} and "
                         f"target.shape={tuple(target.shape)}.")
    log_probs = torch.log_softmax(output, -1).transpose(0, 1)
    return F.ctc_loss(log_probs, target, convert_to_tensor(output_length).to(output.device),
                      convert_to_tensor(target_length).to(output.device), blank=mask_index, reduction="none")


@op("nn")
def ctc_decode(inputs: Any, sequence_lengths: Any, strategy: str = "greedy", beam_width: int = 100,
               top_paths: int = 1, merge_repeated: bool = True, mask_index: Optional[int] = 0
               ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Greedy CTC decoding: (paths `(1, batch, time)` int32 padded with -1, scores `(batch, 1)`).

    strategy='beam_search' raises NotImplementedError (see the message).
    """
    if strategy == "beam_search":
        raise NotImplementedError(
            "ops.ctc_decode(strategy='beam_search') is not implemented in kerasish: Keras's beam search runs a "
            "Python loop per sample and time step with its own tie-breaking, which kerasish cannot reproduce as a "
            "thin torch op. Use strategy='greedy', or torchaudio.models.decoder.ctc_decoder for beam search.")
    if strategy != "greedy":
        raise ValueError(f"ops.ctc_decode: strategy must be 'greedy' or 'beam_search', received {strategy!r}.")
    x = convert_to_tensor(inputs)
    x = x.to(to_torch_dtype(result_type(standardize_dtype(x.dtype), "float32")))
    if x.dim() != 3:
        raise ValueError(f"ops.ctc_decode: inputs must be (batch, time, classes), received shape {tuple(x.shape)}.")
    batch, steps, classes = x.shape
    blank = classes - 1 if mask_index is None else mask_index
    lengths = convert_to_tensor(sequence_lengths).to(x.device, torch.int32)
    best = torch.argmax(x, dim=-1).to(torch.int32)
    scores = torch.amax(x, dim=-1)
    past_end = torch.arange(steps, device=x.device) >= lengths[:, None]
    best = torch.where(past_end, blank, best)
    scores = torch.where(past_end, torch.zeros_like(scores), scores)
    if merge_repeated:
        repeat = torch.cat([torch.zeros_like(past_end[:, :1]), best[:, 1:] == best[:, :-1]], dim=1)
        best = torch.where(repeat, blank, best)
    dropped = best == blank
    # Keep the emitted labels in time order at the front; -1 fills the rest.
    order = torch.argsort(dropped.to(torch.int8), dim=1, stable=True)
    paths = torch.take_along_dim(torch.where(dropped, -1, best), order, dim=1)
    return paths.unsqueeze(0), -scores.sum(dim=1, keepdim=True)


@op("nn")
def psnr(x1: Any, x2: Any, max_val: Any) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB: 20 log10(max_val) - 10 log10(mean((x1 - x2)**2))."""
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    if x1.shape != x2.shape:
        raise ValueError(f"ops.psnr: x1 and x2 must have the same shape, received {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)}.")
    x1 = _as_float(x1)
    max_val = convert_to_tensor(max_val).to(x1.device, x1.dtype)
    return 20 * torch.log10(max_val) - 10 * torch.log10(torch.mean((x1 - x2.to(x1.dtype)) ** 2))


@op("nn")
def polar(abs_: Any, angle: Any) -> torch.Tensor:
    """The complex numbers abs_ * (cos(angle) + i sin(angle))."""
    abs_, angle = convert_to_tensor(abs_), convert_to_tensor(angle)
    real, imag = abs_ * torch.cos(angle), abs_ * torch.sin(angle)
    if not real.is_floating_point() or real.dtype in (torch.float16, torch.bfloat16):
        real, imag = real.float(), imag.float()
    return torch.complex(real, imag)


# ----------------------------------------------------------------- attention
@op("nn")
def dot_product_attention(query: Any, key: Any, value: Any, bias: Any = None, mask: Any = None,
                          scale: Optional[float] = None, is_causal: bool = False,
                          flash_attention: Optional[bool] = None,
                          attn_logits_soft_cap: Optional[float] = None) -> torch.Tensor:
    """softmax(q k^T * scale + bias) v on `(batch, seq, heads, dim)` tensors, via torch's scaled_dot_product_attention.

    `mask` (True = attend) is applied as a large negative bias, so a fully masked row
    averages all values as in Keras; fewer key/value heads than query heads are grouped.
    """
    if attn_logits_soft_cap is not None:
        raise ValueError("ops.dot_product_attention: attn_logits_soft_cap is only supported by Keras's JAX backend "
                         "on TPU. Pass attn_logits_soft_cap=None.")
    if bias is not None and mask is not None:
        raise ValueError("ops.dot_product_attention: pass bias or mask, not both (fold the mask into the bias).")
    q, k, v = convert_to_tensor(query), convert_to_tensor(key), convert_to_tensor(value)
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"ops.dot_product_attention expects 4D (batch, seq, heads, dim) tensors, received "
                         f"query {tuple(q.shape)}, key {tuple(k.shape)}, value {tuple(v.shape)}.")
    if q.shape[2] % k.shape[2] or k.shape[2] != v.shape[2]:
        raise ValueError(f"ops.dot_product_attention: the query heads ({q.shape[2]}) must be a multiple of the "
                         f"key/value heads (key {k.shape[2]}, value {v.shape[2]}).")
    dtype = to_torch_dtype(result_type(*(standardize_dtype(t.dtype) for t in (q, k, v))))
    q, k, v = (t.to(dtype).transpose(1, 2) for t in (q, k, v))
    attn_mask = None
    if mask is not None:
        mask = convert_to_tensor(mask).to(q.device, torch.bool)
        if is_causal:  # sdpa takes a mask or is_causal, not both: fold the causal mask in
            mask = mask & torch.ones(q.shape[2], k.shape[2], dtype=torch.bool, device=q.device).tril()
            is_causal = False
        low = -0.7 * (65500.0 if dtype == torch.float16 else 3.38953e38)
        attn_mask = torch.where(mask, torch.zeros((), dtype=dtype, device=q.device),
                                torch.full((), low, dtype=dtype, device=q.device))
    elif bias is not None:
        attn_mask = convert_to_tensor(bias).to(q.device, dtype)
    gqa = q.shape[1] != k.shape[1]
    if flash_attention is None:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal, scale=scale,
                                             enable_gqa=gqa)
    else:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backends = [SDPBackend.FLASH_ATTENTION] if flash_attention else [
            SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.MATH]
        with sdpa_kernel(backends):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal, scale=scale,
                                                 enable_gqa=gqa)
    return out.transpose(1, 2)

