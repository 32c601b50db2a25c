"""Helpers of `Layer.__call__`: what a layer's `call` declares, input conversion, build shapes.

`CallSpec` is read once per class from the signature of `call` (and `build`): whether
`call` takes `training` and `mask` (named parameters only; `**kwargs` does not count,
as in Keras, so a wrapped torch module never receives a `training` it does not know).
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch.nn.modules import module as torch_module

from kerasish import mixed_precision
from kerasish.layers.symbolic import KerasTensor


class CallSpec:
    """What one Layer class's `call` and `build` declare."""

    __slots__ = ("training", "mask", "build_args", "own_compute_mask")

    def __init__(self, cls: type) -> None:
        params = _named_params(cls.call)
        self.training = "training" in params
        self.mask = "mask" in params
        from kerasish.layers.layer import Layer

        # Whether the class computes its output mask itself (Embedding(mask_zero), RNNs ...).
        self.own_compute_mask = getattr(cls, "compute_mask", None) is not Layer.compute_mask
        build_params = [p for p in _named_params(cls.build) if p != "self"]
        # build(self, a_shape, b_shape): one shape per positional call argument (Keras's rule).
        self.build_args = len(build_params) > 1 and all(p.endswith("_shape") for p in build_params)


def _named_params(fn: Any) -> List[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [name for name, p in sig.parameters.items()
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


_specs: Dict[type, CallSpec] = {}


def call_spec(cls: type) -> CallSpec:
    spec = _specs.get(cls)
    if spec is None:
        spec = _specs[cls] = CallSpec(cls)
    return spec


def has_symbolic(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> bool:
    """Whether any argument (nested in lists/tuples/dicts) is a KerasTensor.

    A loop over a work list rather than recursion through generators: every call with more
    than one tensor (an RNN cell's, once per time step) pays this check."""
    todo = list(args)
    if kwargs:
        todo.extend(kwargs.values())
    while todo:
        x = todo.pop()
        if isinstance(x, KerasTensor):
            return True
        if isinstance(x, (list, tuple)):
            todo.extend(x)
        elif isinstance(x, dict):
            todo.extend(x.values())
    return False


def needs_conversion(x: Any) -> bool:
    """Whether `to_tensors` could change `x` (the per-call check stays cheap for tensors
    and for lists/dicts of tensors, which merge layers receive every batch)."""
    if isinstance(x, torch.Tensor):
        return False
    if isinstance(x, (list, tuple)):
        return not all(isinstance(t, torch.Tensor) for t in x)
    if isinstance(x, dict):
        return not all(isinstance(t, torch.Tensor) for t in x.values())
    return True


def to_tensors(x: Any, device: Optional[torch.device]) -> Any:
    """NumPy arrays and Python numbers/lists of numbers become tensors (floats in floatx), never
    views of the caller's array (Keras's layers get a copy too).

    Strings (for text layers), tensors and other objects pass through unchanged; lists of
    arrays (merge layers) are converted element by element.
    """
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "fiub":
            from kerasish import config

            arr = np.ascontiguousarray(x)
            t = torch.from_numpy(arr)
            if t.is_floating_point():
                t = t.to(config.floatx_dtype())
            if device is not None:
                t = t.to(device)
            if t.data_ptr() == arr.ctypes.data and np.may_share_memory(arr, x):
                # No conversion copied it: as in Keras, a layer gets its own copy of a NumPy input, so an
                # in-place op in a call() (`inputs -= mean`) never changes the caller's array.
                t = t.clone()
            return t
        return x
    if isinstance(x, (list, tuple)):
        if x and all(isinstance(v, (int, float, list)) and not isinstance(v, bool) for v in x) \
                and not any(isinstance(v, list) and v and isinstance(v[0], (torch.Tensor, np.ndarray)) for v in x):
            try:
                arr = np.asarray(x)
            except ValueError:
                return x
            if arr.dtype.kind in "fi":
                return to_tensors(arr.astype(np.float32) if arr.dtype.kind == "f" else arr, device)
            return x
        converted = [to_tensors(v, device) for v in x]
        return type(x)(converted) if isinstance(x, tuple) else converted
    if isinstance(x, dict):
        return {k: to_tensors(v, device) for k, v in x.items()}
    return x


def shape_tree(x: Any) -> Any:
    """Shapes of the tensors in a structure, batch entry included; None for non-tensors.

    As Keras's: a layer built by its first eager call is built for the shape it saw, e.g.
    `(5, 4)` for 5 rows (`get_build_config()` records it); symbolic tensors keep their
    `None` batch entry."""
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    if isinstance(x, KerasTensor):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return [shape_tree(t) for t in x]
    if isinstance(x, dict):
        return {k: shape_tree(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return tuple(x.shape)
    return None


_probe = threading.local()  # `rows`: (probe rows, first batch rows) while a model's build probe runs


@contextlib.contextmanager
def probing_first_batch(probe_rows: int, batch_rows: int) -> Iterator[None]:
    """While a model's build probe runs `probe_rows` rows of a first batch of `batch_rows`, the
    layers it builds are built for the first batch's shape: a leading entry of `probe_rows` in
    their build shape reads `batch_rows` (see `build_shape`). Keras builds from the first batch
    symbolically, at no cost; kerasish runs a few rows of it and records the batch's size."""
    previous = getattr(_probe, "rows", None)
    _probe.rows = (probe_rows, batch_rows) if probe_rows != batch_rows else None
    try:
        yield
    finally:
        _probe.rows = previous


def build_shape(shape: Any) -> Any:
    """`shape_tree`'s shapes as a layer is built for them: under `probing_first_batch`, with the
    first batch's size in place of the probe's row count."""
    rows = getattr(_probe, "rows", None)
    if rows is None:
        return shape
    if isinstance(shape, tuple):
        return (rows[1],) + shape[1:] if shape and shape[0] == rows[0] else shape
    if isinstance(shape, list):
        return [build_shape(s) for s in shape]
    if isinstance(shape, dict):
        return {k: build_shape(s) for k, s in shape.items()}
    return shape


def first_device(x: Any) -> Optional[torch.device]:
    if isinstance(x, torch.Tensor):
        return x.device
    if isinstance(x, (list, tuple)):
        for t in x:
            d = first_device(t)
            if d is not None:
                return d
    if isinstance(x, dict):
        return first_device(list(x.values()))
    return None


def step_forward(model: Any) -> Any:
    """What the training and test steps call to run `model` on a batch: `model.call` itself when the
    model's own `Layer.__call__` would add nothing (built, no training/mask arguments, no output mask,
    no activity regularizer, no dtype policy of its own, no hooks), else the model.

    The steps already set the call context (`training_scope`), so skipping the outer `__call__`
    saves its bookkeeping (~6 us per batch, most of a tiny model's overhead over a hand loop). The
    conditions that can change during fit (hooks, a regularizer, the policy) are checked per call.
    """
    from kerasish.layers.layer import Layer

    cls = type(model)
    spec = call_spec(cls)
    if (cls.__call__ is not Layer.__call__ or spec.training or spec.mask or spec.own_compute_mask
            or getattr(model, "supports_masking", True)
            or not getattr(cls.forward, "_calls_call", False)):  # a subclass's own forward is what runs
        return model
    call = model.call

    def forward(*args: Any) -> Any:
        if len(args) != 1 or type(args[0]) is not torch.Tensor or not model.built or outer_call_needed(model):
            return model(*args)
        return call(args[0])

    return forward


def outer_call_needed(model: Any) -> bool:
    """Whether calling `model` itself does something its layers' calls do not: an activity
    regularizer or dtype policy of its own, or forward/backward hooks (its own or global)."""
    return bool(getattr(model, "activity_regularizer", None) is not None
                or getattr(model, "_compute_dtype", None) is not None or model._forward_hooks
                or model._forward_pre_hooks or model._backward_hooks or model._backward_pre_hooks
                or torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks
                or torch_module._global_backward_hooks or torch_module._global_backward_pre_hooks)


def logits_path_skips(model: Any, output: Optional[int] = None) -> bool:
    """Whether `model.forward_logits` would skip something the model's plain call does: what the
    model's own `__call__` adds (`outer_call_needed`), or the same on the layer whose `call_logits`
    the logits path runs instead of calling it (followed into a nested model), or that layer's
    class overriding `call` without `call_logits` (its call computes something else). Checked per
    call: hooks, regularizers and policies can be added during fit. `output`: for a model with
    several outputs, the index of the output whose logits are taken."""
    if output is not None:
        if outer_call_needed(model):
            return True
        return logits_path_skips(model.logits_layer(output))
    layer = model
    while layer is not None:
        if outer_call_needed(layer):
            return True
        logits_layer = getattr(layer, "logits_layer", None)
        if logits_layer is None:
            return not _call_beside_logits(type(layer))
        layer = logits_layer()
    return False


_beside: Dict[type, bool] = {}


def _call_beside_logits(cls: type) -> bool:
    """Whether `cls.call` is the `call` written beside the `call_logits` it inherits (a subclass
    that overrides `call` alone computes something `call_logits` does not know)."""
    known = _beside.get(cls)
    if known is None:
        owner = next((k for k in cls.__mro__ if "call_logits" in k.__dict__), None)
        known = _beside[cls] = owner is not None and owner.__dict__.get("call") is cls.call
    return known


def input_cast_dtype(layer: Any) -> Optional[torch.dtype]:
    """The dtype a layer's floating-point inputs are converted to before `call`: its weights' dtype
    (its first floating-point parameter's), or None where nothing is converted.

    Keras converts every layer's floating-point inputs to the layer's compute dtype (float64 data
    into a float32 layer, float32 data into a `dtype="float64"` one). kerasish converts them to
    what the layer's weights hold now, which is the same for a layer built as Keras builds it and
    also follows torch's conversions (`layer.double()` takes float64 inputs as they are). Layers
    without weights of their own pass their inputs on unconverted (their sublayers convert), and
    nothing is converted for a layer that opts out (`_convert_input_args = False`, as Keras's
    lookup, hashing, text and some data layers do), one with `autocast=False`, or under a
    mixed-precision policy (the layer's or the global one), where torch's autocast picks each
    operation's dtype."""
    if not layer._convert_input_args or not layer.autocast or layer._compute_dtype is not None:
        return None
    for p in layer._parameters.values():
        if p is not None:
            dtype = p.dtype  # read once: a Parameter's attributes cost about 0.2 us each
            if dtype.is_floating_point:
                return None if mixed_precision.global_policy().autocast_dtype is not None else dtype
    return None


def cast_input(x: Any, dtype: torch.dtype) -> Any:
    """`x` in `dtype` if it is a floating-point tensor of another dtype (its Keras mask kept)."""
    if not isinstance(x, torch.Tensor) or x.dtype is dtype or not x.is_floating_point():
        return x
    out = x.to(dtype)
    mask = getattr(x, "_keras_mask", None)
    if mask is not None:
        out._keras_mask = mask
    return out


def _needs_cast(args: Tuple[Any, ...], kwargs: Dict[str, Any], dtype: torch.dtype) -> bool:
    """Whether `cast_inputs` would convert something (it looks in exactly the containers that
    `cast_inputs` rebuilds). A loop over a work list rather than nested generators: a cell called
    once per time step pays this check on every step."""
    todo = list(args)
    if kwargs:
        todo.extend(kwargs.values())
    while todo:
        v = todo.pop()
        if isinstance(v, torch.Tensor):
            if v.dtype is not dtype and v.is_floating_point():
                return True
        elif type(v) in (list, tuple):
            todo.extend(v)
        elif type(v) is dict:
            todo.extend(v.values())
    return False


def cast_inputs(args: Tuple[Any, ...], kwargs: Dict[str, Any], dtype: torch.dtype) -> Tuple[Any, Dict[str, Any]]:
    """Every floating-point tensor among `args` and `kwargs` (also inside plain lists, tuples and
    dicts; other containers are passed as they are) converted to `dtype`, as Keras's
    `Layer.__call__` converts its inputs; the same objects back when none needs it."""
    if not _needs_cast(args, kwargs, dtype):
        return args, kwargs

    def conv(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return cast_input(v, dtype)
        if type(v) in (list, tuple):
            return type(v)(conv(i) for i in v)
        if type(v) is dict:
            return {k: conv(i) for k, i in v.items()}
        return v

    return tuple(conv(a) for a in args), {k: conv(v) for k, v in kwargs.items()}
