"""`Lambda`: a Python function (or lambda) used as a layer, and how its function is saved.

A saved Lambda stores its function in one of two ways:
- by name, when it is a kerasish op or activation, or a function registered with
  `@register_keras_serializable` (safe: nothing runs when loading);
- as Python source text (a lambda expression or a `def`), which loading must run. That
  is refused unless the file is trusted: `load_model(path, safe_mode=False)` or
  `kerasish.config.enable_unsafe_deserialization()`, as Keras 3 refuses a saved lambda's
  bytecode. The source runs with `ops`, `keras`/`kerasish`, `layers`, `activations`,
  `torch`, `np` and `math` in scope; a function that reads other names (a closure or a
  global) cannot be saved, and saving says so (pass such values with `arguments={...}`).
"""

from __future__ import annotations

import ast
import inspect
import linecache
import textwrap
from typing import Any, Callable, Dict, Optional

from kerasish.layers.layer import Layer
from kerasish.utils import object_registration
from kerasish.utils.safe_mode import in_safe_mode


def _namespace() -> Dict[str, Any]:
    import math

    import numpy as np
    import torch

    import kerasish
    from kerasish import activations, layers, ops

    return {"ops": ops, "keras": kerasish, "kerasish": kerasish, "layers": layers, "activations": activations,
            "torch": torch, "np": np, "numpy": np, "math": math}


_SAFE_GLOBALS = ("ops", "keras", "kerasish", "layers", "activations", "torch", "np", "numpy", "math")


def _lambda_source(fn: Callable[..., Any], what: str) -> str:
    code = fn.__code__
    filename = inspect.getsourcefile(fn) or code.co_filename
    text = "".join(linecache.getlines(filename))
    if not text:
        raise ValueError(f"{what}: the source of this lambda is not available (defined in an interactive "
                         "prompt?), so it cannot be saved. Define it in a file, or use a named function.")
    tree = ast.parse(text)
    args = list(code.co_varnames[:code.co_argcount])
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno
             and [a.arg for a in n.args.args] == args]
    if len(found) != 1:
        raise ValueError(
            f"{what}: {len(found)} lambdas with arguments {args} start on line {code.co_firstlineno} of {filename}, "
            "so the one to save is ambiguous. Put it on its own line or use a named function."
        )
    return ast.get_source_segment(text, found[0]) or ""


def _check_names(fn: Callable[..., Any], what: str) -> None:
    code = fn.__code__
    if code.co_freevars:
        raise ValueError(
            f"{what} reads variables of an enclosing function ({list(code.co_freevars)}), which a saved file cannot "
            "hold. Pass them with Lambda(..., arguments={...}) or write a Layer subclass."
        )
    names = set()
    todo = [code]
    while todo:  # names read as globals, including inside nested comprehensions/lambdas
        c = todo.pop()
        names.update(c.co_names)
        todo.extend(k for k in c.co_consts if inspect.iscode(k))
    unknown = sorted(n for n in names if n in fn.__globals__ and n not in _SAFE_GLOBALS
                     and not inspect.ismodule(fn.__globals__[n]) and n not in dir(__builtins__))
    unknown = [n for n in unknown if not _is_attribute_only(code, n)]
    if unknown:
        raise ValueError(
            f"{what} reads the global name(s) {unknown}, which a saved file cannot hold. Pass the values with "
            "Lambda(..., arguments={...}), use kerasish.ops, or write a Layer subclass."
        )


def _is_attribute_only(code: Any, name: str) -> bool:
    # `x.shape` puts 'shape' in co_names as an attribute, not a global read.
    import dis

    todo = [code]
    while todo:
        c = todo.pop()
        for ins in dis.get_instructions(c):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and ins.argval == name:
                return False
        todo.extend(k for k in c.co_consts if inspect.iscode(k))
    return True


def serialize_function(fn: Callable[..., Any], what: str) -> Dict[str, Any]:
    """A JSON description of `fn`: a registered name, an op/activation name, or its source."""
    op_name = getattr(fn, "op_name", None)
    if op_name:
        return {"function_type": "op", "name": op_name}
    from kerasish import activations

    if activations.serialize(fn) in activations.names() and activations.get(activations.serialize(fn)) is fn:
        return {"function_type": "activation", "name": activations.serialize(fn)}
    try:
        registered = object_registration.get_registered_name(fn)
    except Exception:  # noqa: BLE001 - not registered
        registered = None
    if registered and object_registration.get_registered_object(registered) is fn:
        return {"function_type": "registered", "name": registered}
    if not inspect.isfunction(fn):
        raise ValueError(f"{what} is a {type(fn).__name__}, which cannot be saved; use a function.")
    _check_names(fn, what)
    if fn.__name__ == "<lambda>":
        return {"function_type": "lambda", "source": _lambda_source(fn, what)}
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except OSError:
        raise ValueError(f"{what}: the source of function {fn.__name__!r} is not available, so it cannot be saved. "
                         "Define it in a file, or register it with @register_keras_serializable().") from None
    if fn.__defaults__ or fn.__kwdefaults__ or any(True for _ in ast.parse(source).body[0].decorator_list):
        raise ValueError(f"{what}: function {fn.__name__!r} has decorators or default values that a saved source "
                         "cannot carry reliably; register it with @register_keras_serializable() instead.")
    return {"function_type": "function", "name": fn.__name__, "source": source}


def deserialize_function(config: Dict[str, Any], what: str) -> Callable[..., Any]:
    """The function a `serialize_function` description names; source runs only outside safe mode."""
    kind = config.get("function_type")
    if kind == "op":
        from kerasish.ops.operation import get_op

        return get_op(config["name"])
    if kind == "activation":
        from kerasish import activations

        return activations.get(config["name"])
    if kind == "registered":
        return object_registration.get_registered_object(config["name"])
    if kind in ("lambda", "function"):
        if in_safe_mode():
            raise ValueError(
                f"{what} holds Python source ({kind}), and loading it would run that code. Loading is in safe "
                "mode: if you trust the file, pass safe_mode=False to load_model (or call "
                "kerasish.config.enable_unsafe_deserialization())."
            )
        namespace = _namespace()
        if kind == "lambda":
            return eval(config["source"], namespace)  # noqa: S307 - trusted file, safe_mode=False
        exec(config["source"], namespace)  # noqa: S102 - trusted file, safe_mode=False
        return namespace[config["name"]]
    raise ValueError(f"{what}: unknown saved function description {config!r}.")


class Lambda(Layer):
    """Wraps a function `f(inputs, **arguments)` as a layer.

    Args:
        function: the function; it receives `mask=` and `training=` too if it declares them.
        output_shape: the output shape without the batch axis (or a function of the
            input shape); found by running the function when None. Defaults to `None`.
        mask: the output mask, or a function `(inputs, mask) -> mask`. Defaults to `None`.
        arguments: extra keyword arguments for `function` (JSON values to be saved).
            Defaults to `None`.
    """

    def __init__(self, function: Callable[..., Any], output_shape: Any = None, mask: Any = None,
                 arguments: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, received {function!r}.")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda: arguments must be a dict of keyword arguments, received {arguments!r}.")
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        self.supports_masking = mask is not None
        self._output_shape = output_shape
        self._infer_by_tracing = output_shape is None  # run the function on zeros for shape and dtype
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        self._wants_mask = "mask" in params
        self._wants_training = "training" in params
        self.built = True

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
        kwargs = dict(self.arguments)
        if self._wants_mask:
            kwargs["mask"] = mask
        if self._wants_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        return (input_shape[0],) + tuple(self._output_shape)

    def get_config(self) -> Dict[str, Any]:
        what = f"Lambda layer {self.name!r}"
        config = {**super().get_config(), "function": serialize_function(self.function, what),
                  "arguments": self.arguments}
        if self._output_shape is not None:
            if callable(self._output_shape):
                config["output_shape"] = serialize_function(self._output_shape, what + " (output_shape)")
            else:
                config["output_shape"] = list(self._output_shape)
        if self.mask is not None:
            if callable(self.mask):
                config["mask"] = serialize_function(self.mask, what + " (mask)")
            else:
                raise ValueError(f"{what}: a constant mask cannot be saved; pass a function mask=(inputs, mask).")
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Lambda":
        config = dict(config)
        what = f"Lambda layer {config.get('name', 'lambda')!r}"
        config["function"] = deserialize_function(config["function"], what)
        for key in ("output_shape", "mask"):
            if isinstance(config.get(key), dict):
                config[key] = deserialize_function(config[key], f"{what} ({key})")
        return cls(**config)
