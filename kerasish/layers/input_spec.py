"""`InputSpec`: what a layer accepts (rank, axes, shape, dtype), checked on every call.

A layer that sets `self.input_spec = InputSpec(...)` (or a list of them, one per input)
gets its first argument checked by `Layer.__call__` before `call` runs, on real tensors and
on the symbolic tensors of a functional model, as Keras 3 does: a mismatch raises a
ValueError naming the layer, the input, what was expected and what came. Layers without an
`input_spec` (the default, None) pay one attribute read per call.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from kerasish import tree


class InputSpec:
    """The rank, shape and dtype a layer expects of one input.

    A None in `shape` (or as an `axes` value) matches any size.

    Args:
        dtype: the expected dtype name ('float32', 'int64' ...). Defaults to `None` (any).
        shape: the expected shape, batch axis included, e.g. `(None, 28, 28)`; sets `ndim`.
            Defaults to `None`.
        ndim: the expected rank. Defaults to `None`.
        max_ndim: the highest rank accepted. Defaults to `None`.
        min_ndim: the lowest rank accepted. Defaults to `None`.
        axes: `{axis: size}` for particular axes, e.g. `{-1: 16}`. Defaults to `None`.
        allow_last_axis_squeeze: also accept a trailing axis of size 1 on either side (an
            input of rank N+1 ending in 1, or rank N-1 when `shape` ends in 1). Defaults to `False`.
        name: the key of this input when the layer is called on a dict. Defaults to `None`.
        optional: whether the input may be None. Defaults to `False`.

    Raises:
        TypeError: for `axes` whose keys are not integers.
        ValueError: for an axis beyond the rank given by `ndim`, `shape` or `max_ndim`.

    Example:
        >>> spec = InputSpec(min_ndim=2, axes={-1: 3})
        >>> spec
        InputSpec(min_ndim=2, axes={-1: 3})
    """

    def __init__(self, dtype: Optional[Any] = None, shape: Optional[Sequence[Optional[int]]] = None,
                 ndim: Optional[int] = None, max_ndim: Optional[int] = None, min_ndim: Optional[int] = None,
                 axes: Optional[Dict[int, Optional[int]]] = None, allow_last_axis_squeeze: bool = False,
                 name: Optional[str] = None, optional: bool = False) -> None:
        from kerasish.ops.dtypes import standardize_dtype

        self.dtype = None if dtype is None else standardize_dtype(dtype)
        self.shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.allow_last_axis_squeeze, self.name, self.optional = allow_last_axis_squeeze, name, optional
        axes = axes or {}
        if not isinstance(axes, dict) or not all(isinstance(k, int) or str(k).lstrip("-").isdigit() for k in axes):
            raise TypeError(
                f"InputSpec: axes must be a dict from integer axes to sizes, received axes={axes!r}. "
                "Example: InputSpec(axes={-1: 16})."
            )
        self.axes = {int(k): v for k, v in axes.items()}
        top = self.ndim if self.ndim else self.max_ndim
        if self.axes and top is not None and max(self.axes) > top - 1:
            raise ValueError(
                f"InputSpec: axis {max(self.axes)} in axes={self.axes} is beyond the last axis ({top - 1}) of an "
                f"input of rank {top}. Use an axis below {top}, or a negative one counted from the end."
            )

    def __repr__(self) -> str:
        parts = [f"{k}={v}" for k, v in (("dtype", self.dtype), ("shape", self.shape), ("ndim", self.ndim),
                                         ("max_ndim", self.max_ndim), ("min_ndim", self.min_ndim),
                                         ("axes", self.axes)) if v]
        return f"InputSpec({', '.join(parts)})"

    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments (Keras's keys, plus `allow_last_axis_squeeze` and `name`)."""
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                "min_ndim": self.min_ndim, "axes": self.axes, "allow_last_axis_squeeze": self.allow_last_axis_squeeze,
                "name": self.name, "optional": self.optional}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "InputSpec":
        config = dict(config)
        if isinstance(config.get("axes"), dict):  # JSON turns the integer axes into strings
            config["axes"] = {int(k): v for k, v in config["axes"].items()}
        return cls(**config)


def assert_input_compatibility(input_spec: Any, inputs: Any, layer_name: str) -> None:
    """Raises a ValueError when `inputs` do not match `input_spec` (one spec or a structure of them).

    Args:
        input_spec: an InputSpec, a list/structure of them (None entries match anything), or None.
        inputs: the layer's first argument: a tensor, a list of tensors or a dict.
        layer_name: the layer's name, for the message.

    Raises:
        ValueError: for the wrong number of inputs, a missing dict key, a non-tensor input, or a
            rank, axis, shape or dtype that the spec rules out.
    """
    if not input_spec:
        return
    specs: List[Optional[InputSpec]] = tree.flatten(input_spec)
    if isinstance(inputs, dict):
        names = [getattr(s, "name", None) for s in specs]
        if all(names):
            missing = [n for n in names if n not in inputs]
            if missing:
                raise ValueError(
                    f"Layer '{layer_name}' expects inputs named {names}, but the dict it received has keys "
                    f"{list(inputs)} (missing: {missing}). Pass a dict with those keys."
                )
            inputs = [inputs[n] for n in names]
    flat = tree.flatten(inputs)
    if len(flat) != len(specs):
        raise ValueError(
            f"Layer '{layer_name}' expects {len(specs)} input(s), but it received {len(flat)} input tensor(s). "
            f"Call it on {'one tensor' if len(specs) == 1 else f'a list of {len(specs)} tensors'}."
        )
    for index, (x, spec) in enumerate(zip(flat, specs)):
        if spec is None or (x is None and spec.optional):
            continue
        _check_one(spec, x, index, layer_name)


def _check_one(spec: InputSpec, x: Any, index: int, layer_name: str) -> None:
    if not hasattr(x, "shape"):
        raise ValueError(
            f"Input {index} of layer '{layer_name}' must be a tensor, received {type(x).__name__} {x!r:.80}. "
            "Pass a tensor (or an array), not a layer or a Python value."
        )
    shape = tuple(None if d is None else int(d) for d in x.shape)
    where = f"Input {index}{'' if spec.name is None else f' ({spec.name!r})'} of layer '{layer_name}'"
    fix = "Reshape the input to match, or change the layer's input_spec."
    ndim = len(shape)
    if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
        raise ValueError(f"{where} must have rank {spec.ndim} (ndim={spec.ndim}), received rank {ndim}, "
                         f"shape {shape}. {fix}")
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(f"{where} must have rank at most {spec.max_ndim} (max_ndim={spec.max_ndim}), received "
                         f"rank {ndim}, shape {shape}. {fix}")
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(f"{where} must have rank at least {spec.min_ndim} (min_ndim={spec.min_ndim}), received "
                         f"rank {ndim}, shape {shape}. {fix}")
    if spec.dtype is not None:
        from kerasish.ops.dtypes import standardize_dtype

        dtype = standardize_dtype(x.dtype)
        if dtype != spec.dtype:
            raise ValueError(f"{where} must have dtype {spec.dtype}, received {dtype}. Cast it first "
                             f"(kerasish.ops.cast(x, {spec.dtype!r})), or change the layer's input_spec.")
    for axis, size in spec.axes.items():
        if size is not None and shape[axis] not in (size, None):
            raise ValueError(f"{where} must have size {size} on axis {axis}, received shape {shape}. {fix}")
    if spec.shape is not None:
        expected, got = spec.shape, shape
        if spec.allow_last_axis_squeeze:
            got = got[:-1] if got and got[-1] == 1 else got
            expected = expected[:-1] if expected and expected[-1] == 1 else expected
        if any(e is not None and g is not None and e != g for e, g in zip(expected, got)):
            raise ValueError(f"{where} must have shape {spec.shape} (None matches any size), received shape "
                             f"{shape}. {fix}")
