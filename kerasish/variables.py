"""Variable: a torch Parameter with Keras's variable surface.

Every weight of a kerasish layer is a `Variable`, whether the layer made it with
`add_weight` or assigned a plain `torch.nn.Parameter` (the layer converts it when it is
registered). Because a Variable IS the parameter, torch tools (optimizers over
`model.parameters()`, DDP, `state_dict`, autocast) see it unchanged, and Keras code can
use `.value`, `.assign(...)`, `.numpy()`, `.trainable`, `.name` and `.path`.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import nn


def _initial_value(value: Any, shape: Any, dtype: Any) -> torch.Tensor:
    """The tensor a Variable starts from, as Keras's `Variable(initializer, shape, dtype)` takes it:
    a tensor or array (its own dtype unless `dtype` is given), or an initializer name/object
    with a `shape`."""
    from kerasish.ops.dtypes import to_torch_dtype

    torch_dtype = None if dtype is None else to_torch_dtype(dtype)
    if value is None:
        return torch.empty(0)
    if isinstance(value, str) or (callable(value) and not isinstance(value, (torch.Tensor, np.ndarray))):
        if shape is None:
            raise ValueError(
                f"Variable(initializer={value!r}) needs the shape to fill, received shape=None. Pass it, e.g. "
                f"Variable({value!r}, shape=(3,)), or pass the initial value itself (a tensor or array)."
            )
        from kerasish import config, initializers

        return initializers.get(value)(tuple(shape), dtype=torch_dtype or to_torch_dtype(config.floatx()))
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if shape is not None and tuple(tensor.shape) != tuple(shape):
        raise ValueError(
            f"Variable got an initial value of shape {tuple(tensor.shape)} and shape={tuple(shape)}; they must agree. "
            "Leave shape out when passing a value, or pass an initializer name with the shape."
        )
    return tensor if torch_dtype is None else tensor.to(torch_dtype)


def _rebuild_variable(data: torch.Tensor, requires_grad: bool, state: Dict[str, Any]) -> "Variable":
    """Unpickles a Variable (see `Variable.__reduce_ex__`): the tensor, then its attributes."""
    var = Variable(data, requires_grad)
    var.__dict__.update(state)
    return var


# `torch.load(..., weights_only=True)` of a `state_dict(keep_vars=True)` rebuilds Variables too.
torch.serialization.add_safe_globals([_rebuild_variable])


def _open_scope_path() -> str:
    """The path of the name scopes open now ('' when none): a Variable made inside
    `kerasish.name_scope("block")` is 'block/<name>', as Keras's."""
    scopes = sys.modules.get("kerasish.layers.name_scope")  # not imported: no scope can be open
    return scopes.current_path() if scopes is not None else ""


class Variable(nn.Parameter):
    """A weight: a `torch.nn.Parameter` with Keras 3's variable methods.

    Create variables with `Layer.add_weight(...)`; assigning a plain `nn.Parameter` to a
    layer attribute converts it too.

    Attributes:
        name: the variable's own name ('kernel').
        path: the names of the layers it was made under and its own name ('dense/kernel', or
            'sequential/dense/kernel' for a Dense built by a Sequential), as Keras 3 names it
            (see `kerasish.layers.name_scope`).
        trainable: whether optimizers update it (the parameter's `requires_grad`).
        constraint: a callable applied to the value after each optimizer step, or None.
        regularizer: a callable whose value on the variable is added to the layer's losses, or None.
        aggregation: how replicas would combine it ('none', 'mean', 'sum', 'only_first_replica').

    Example:
        >>> v = Variable(torch.zeros(2), name="count", trainable=False)
        >>> v.assign_add(torch.ones(2))
        >>> v.numpy().tolist()
        [1.0, 1.0]
    """

    def __new__(cls, data: Any = None, requires_grad: Any = True, *, name: Optional[str] = None,
                trainable: Optional[bool] = None, shape: Any = None, dtype: Any = None,
                aggregation: str = "none", initializer: Any = None) -> "Variable":
        if initializer is not None:  # Keras 3 names its first argument `initializer`
            if data is not None:
                raise ValueError(
                    "Variable received both an initial value and initializer=...; they are the same argument "
                    "(Keras calls it `initializer`). Pass one of them."
                )
            data = initializer
        if isinstance(requires_grad, (tuple, list)):  # Keras's Variable(initializer, shape)
            shape, requires_grad = requires_grad, True
        if trainable is not None:
            requires_grad = bool(trainable)
        data = _initial_value(data, shape, dtype)
        var = torch.Tensor._make_subclass(cls, data, requires_grad)
        var._keras_name = name
        var._keras_scope = _open_scope_path()  # the layers it was made under ('sequential/dense'), set by the layer
        var.constraint = None
        var.regularizer = None
        var.aggregation = aggregation
        return var

    def __deepcopy__(self, memo: dict) -> "Variable":
        if id(self) in memo:
            return memo[id(self)]
        # Its attributes (name, scope, constraint, regularizer, the state mark ...) shared, as pickling keeps them.
        copy = _rebuild_variable(self.data.clone(memory_format=torch.preserve_format), self.requires_grad,
                                 dict(self.__dict__))
        memo[id(self)] = copy
        return copy

    def __reduce_ex__(self, proto: int) -> Any:
        # torch's Parameter pickles as a plain Parameter (torch.save(model), pickle, multiprocessing), which
        # would lose the class and with it `path`, `assign` and the rest: rebuild a Variable instead.
        return (_rebuild_variable, (self.data, self.requires_grad, dict(self.__dict__)))

    def __repr__(self) -> str:
        # Keras's form (`dtype=float32`, the value); printing reads the value to the host.
        dtype = str(self.dtype).replace("torch.", "")
        return f"<Variable path={self.path}, shape={tuple(self.shape)}, dtype={dtype}, value={self.numpy()}>"

    # ----------------------------------------------------------------- Keras surface
    @property
    def value(self) -> torch.Tensor:
        """The variable itself, as a tensor (so `v.value.grad` is the gradient)."""
        return self

    @property
    def name(self) -> str:
        return self._keras_name or "variable"

    @property
    def path(self) -> str:
        return f"{self._keras_scope}/{self.name}" if self._keras_scope else self.name

    @property
    def trainable(self) -> bool:
        return self.requires_grad

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.requires_grad_(bool(value))

    def assign(self, value: Any) -> "Variable":
        """Replaces the value in place (same shape), without recording a gradient.

        Raises:
            ValueError: if `value`'s shape differs from the variable's.
        """
        value = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
        if tuple(value.shape) != tuple(self.shape):
            raise ValueError(
                f"Variable {self.path!r} has shape {tuple(self.shape)}; assign() received a value of shape "
                f"{tuple(value.shape)}. Pass a value of the variable's shape."
            )
        with torch.no_grad():
            self.data.copy_(value)
        return self

    def assign_add(self, value: Any) -> "Variable":
        """Adds `value` in place, without recording a gradient."""
        with torch.no_grad():
            self.data.add_(torch.as_tensor(value, device=self.device, dtype=self.dtype))
        return self

    def assign_sub(self, value: Any) -> "Variable":
        """Subtracts `value` in place, without recording a gradient."""
        with torch.no_grad():
            self.data.sub_(torch.as_tensor(value, device=self.device, dtype=self.dtype))
        return self

    def numpy(self, *, force: bool = False) -> np.ndarray:  # type: ignore[override]
        """A NumPy copy of the value (host sync)."""
        return self.detach().cpu().numpy().copy()


def as_variable(param: nn.Parameter, name: str) -> Variable:
    """Converts a plain Parameter into a Variable holding the same storage."""
    if isinstance(param, Variable):
        if param._keras_name is None:
            param._keras_name = name
        return param
    var = Variable(param.data, param.requires_grad, name=name)
    for attr in ("constraint", "regularizer"):
        if getattr(param, attr, None) is not None:
            setattr(var, attr, getattr(param, attr))
    return var
