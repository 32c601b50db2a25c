"""What a layer holds: its weights, variables, losses and metrics (`LayerState`, a base of `Layer`).

- weights: `weights` / `trainable_weights` / `non_trainable_weights` in Keras's order (see
  `weight_walk`), `trainable`, `zero_grad`, `count_params`, `get_weights` / `set_weights` in
  Keras's layout;
- variables: `add_weight` (a `kerasish.Variable` registered on the layer, renamed to the
  attribute it is assigned to), `register_parameter` converting plain parameters;
- losses: `add_loss` values of the current forward pass and weight-regularisation penalties;
- metrics: `Metric` objects held as public attributes;
- attribute tracking: layers in lists and dicts (`tracking`), plain torch modules joining in
  the layer's mode.

`Layer` (layer.py) adds building, calling and configs; this class is not used on its own.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from kerasish.layers import call_context, name_scope, tracking, weight_walk
from kerasish.layers.layer_utils import (STATE_MARK, _check_weight_shape, _fill_keras_layout, _free_key, _torch_dtype,
                                         mark_state)
from kerasish.layers.weight_layout import assign_keras_arrays, keras_arrays
from kerasish.variables import Variable, as_variable


def _is_layer_state(module: Any) -> bool:
    return isinstance(module, LayerState)


class SymbolicLossError(ValueError, NotImplementedError):
    """`add_loss` of a symbolic tensor: a ValueError as Keras's `Layer.add_loss` raises for a non-tensor, and a
    NotImplementedError as Keras's functional `Model.add_loss` raises."""


class LayerState:
    """The weights, variables, losses and metrics part of `Layer` (see the module docstring)."""

    #: The path of the scopes open when this layer's scope first opened (its first build or
    #: call); None until then. Its weights' paths start with it (see `name_scope`).
    _parent_path: Optional[str] = None

    # ------------------------------------------------------------------ weights
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)

        def apply(module: nn.Module) -> None:
            for p in module.parameters(recurse=False):
                if not getattr(p, STATE_MARK, False):  # add_weight(trainable=False) stays so, as in Keras
                    p.requires_grad_(self._trainable)
            for child in module.children():
                if isinstance(child, LayerState):
                    # Child layers decide for themselves (BatchNormalization keeps its
                    # moving statistics frozen whatever `trainable` says).
                    child.trainable = value
                else:
                    apply(child)

        apply(self)

    @property
    def weights(self) -> List[torch.Tensor]:
        """Every weight, in Keras's order: this layer's own (trainable first, then the rest),
        then each sublayer's, without duplicates; float buffers of plain torch modules last."""
        return weight_walk.keras_weights(self, _is_layer_state)

    @property
    def trainable_weights(self) -> List[torch.Tensor]:
        return [p for p in self.weights if p.requires_grad]

    @property
    def non_trainable_weights(self) -> List[torch.Tensor]:
        return [p for p in self.weights if not p.requires_grad]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """torch's `zero_grad`, with a walk cheap enough for a `train_step` that calls it every batch."""
        weight_walk.zero_grad(self, set_to_none)

    # Keras 3 spells these 'variables' too.
    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built yet, so it has no weights to count. "
                "Give the first layer input_shape=..., or call the model on data first."
            )
        return sum(p.numel() for p in self.parameters())

    def get_weights(self) -> List[np.ndarray]:
        """The weights as NumPy arrays, in Keras's order and layout (e.g. [kernel, bias]; a Conv2D
        kernel inside, even of a custom layer, comes out as Keras's `(kh, kw, in, out)`)."""
        return keras_arrays(self, self.weights)

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Sets the weights from arrays in `get_weights()` order and layout, checking every shape first.

        Raises:
            ValueError: for a different number of arrays or a shape that differs (nothing changes then).
        """
        assign_keras_arrays(self, self.weights, weights, f"Layer {self.name!r}")

    def _own_keras_weights(self) -> List[torch.Tensor]:
        """This layer's own weights in Keras's order, without its sublayers'."""
        inner = {id(w) for m in self.modules() if m is not self and isinstance(m, LayerState) for w in m.weights}
        return [w for w in self.weights if id(w) not in inner]

    def save_own_variables(self, store: Any) -> None:
        """Stores this layer's own weights (not its sublayers') as `store["0"]`, `store["1"]`, ...
        in Keras's order and layout, as Keras's default does. `model.save("m.keras")` and
        `save_weights("w.weights.h5")` call an override of it (which may call this one, then add keys)."""
        for i, array in enumerate(keras_arrays(self, self._own_keras_weights())):
            store[str(i)] = array

    def load_own_variables(self, store: Any) -> None:
        """Sets this layer's own weights from `store["0"]`, `store["1"]`, ... (Keras's order and layout).

        Raises:
            ValueError: for another number of arrays or a shape that differs, naming the layer
                (nothing changes then).
        """
        own = self._own_keras_weights()
        if len(store) != len(own):
            raise ValueError(
                f"Layer {self.name!r} expects {len(own)} arrays for its own weights "
                f"{[getattr(w, 'name', None) for w in own]}, received {len(store)} (keys {sorted(store.keys())}). "
                "Load a file saved from the same layer, or override load_own_variables() to read what it holds.")
        assign_keras_arrays(self, own, [store[str(i)] for i in range(len(own))], f"Layer {self.name!r}")

    #: (regularizer attribute, weight attribute) pairs whose penalties `losses` returns.
    regularized_weights: Tuple[Tuple[str, str], ...] = ()

    def _regularization_losses(self) -> List[torch.Tensor]:
        """This layer's own weight penalties (not its sublayers')."""
        out = []
        for reg_name, weight_name in self.regularized_weights:
            reg, weight = getattr(self, reg_name, None), getattr(self, weight_name, None)
            if reg is not None and weight is not None:
                out.append(reg(weight))
        for p in self._parameters.values():
            reg = getattr(p, "regularizer", None) if p is not None else None
            if reg is not None:
                out.append(reg(p))
        return out

    @property
    def losses(self) -> List[torch.Tensor]:
        """Losses of this layer and its sublayers: values given to `add_loss` during the last
        forward pass, then weight-regularisation penalties (recomputed on each access)."""
        layers = [m for m in self.modules() if isinstance(m, LayerState)]
        out: List[torch.Tensor] = [t for m in layers for t in m._call_losses]
        for m in layers:
            out.extend(m._regularization_losses())
        return out

    def add_loss(self, loss: Any) -> None:
        """Adds a scalar loss computed in `call` (e.g. a KL term) to this forward pass.

        `fit` adds it to the training loss; `layer.losses` / `model.losses` list it until
        the next forward pass starts.

        Raises:
            SymbolicLossError: (a ValueError and NotImplementedError) for a symbolic KerasTensor, a
                loss built on `Input`s as in tf.keras's `model.add_loss(kl_loss)`, which Keras 3 refuses too.
            TypeError: if `loss` is not a number or tensor.
        """
        from kerasish.ops.keras_tensor import KerasTensor

        if isinstance(loss, KerasTensor):
            raise SymbolicLossError(
                f"add_loss() received a symbolic KerasTensor ({loss!r}) on layer {getattr(self, 'name', '?')!r}. "
                "Like Keras 3, kerasish takes losses only as tensors computed in a layer's call() (a symbolic "
                "loss on a functional model was tf.keras's). Compute it in the call() of a layer in the model "
                "(self.add_loss(...)), or in a custom train_step."
            )
        if not isinstance(loss, torch.Tensor):
            if isinstance(loss, (int, float)) and not isinstance(loss, bool):
                loss = torch.tensor(float(loss))
            else:
                raise TypeError(
                    f"add_loss() expects a scalar tensor (or number), received {type(loss).__name__}. "
                    "Pass e.g. self.add_loss(torch.mean(x ** 2)) from call()."
                )
        if loss.dim() > 0:
            loss = loss.sum() if loss.numel() == 1 else loss.mean()
        if not self._call_losses:
            call_context.record_loss_layer(self)
        self._call_losses.append(loss)

    @property
    def metrics(self) -> List[Any]:
        """Metric objects held as attributes of this layer and its sublayers."""
        return held_metrics(self)

    # ------------------------------------------------------------------ variables
    def add_weight(
        self,
        shape: Any = None,
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        aggregation: str = "none",
        overwrite_with_gradient: bool = False,
        name: Optional[str] = None,
    ) -> Variable:
        """Creates a weight of this layer (in `__init__` or `build`) and returns it.

        Args:
            shape: the variable's shape, fully known, in Keras's layout (a Dense kernel is
                (input_dim, units)). Defaults to `None` (a scalar).
            initializer: a name ('glorot_uniform', 'zeros', 'random_normal' ...), an
                initializer object or a callable filling a tensor in place. Defaults to
                `None` ('glorot_uniform' for floats, 'zeros' otherwise).
            dtype: a dtype name. Defaults to `None` (the layer's dtype).
            trainable: whether optimizers update it. Defaults to `True`.
            autocast: whether the variable is cast to the layer's compute dtype under a
                mixed-precision policy. `False` with a mixed policy is refused: torch's
                autocast casts the inputs of matmul/conv whatever the variable says.
                Defaults to `True`.
            regularizer: adds `regularizer(variable)` to `losses`. Defaults to `None`.
            constraint: applied to the value after each optimizer step. Defaults to `None`.
            aggregation: how replicas combine the variable ('none', 'mean', 'sum',
                'only_first_replica'), kept as `variable.aggregation`; kerasish's DDP
                averages gradients and never aggregates variables. Defaults to `'none'`.
            overwrite_with_gradient: not supported; must stay False. Defaults to `False`.
            name: the variable's name (its path is 'layer_name/name'). Defaults to `None`.

        Returns:
            A `kerasish.Variable` (a torch Parameter registered on this layer).

        Raises:
            ValueError: for a shape with unknown or negative sizes, an unknown initializer,
                regularizer or constraint name, or an unsupported option.
        """
        from kerasish import initializers

        shape = _check_weight_shape(shape, self.name)
        if overwrite_with_gradient:
            raise ValueError(
                f"add_weight(overwrite_with_gradient=True) is not supported by kerasish (layer {self.name!r}). "
                "Keep the default False and update the variable with assign() instead."
            )
        if aggregation not in ("none", "mean", "sum", "only_first_replica"):
            raise ValueError(
                f"add_weight received aggregation={aggregation!r}; expected one of 'none', 'mean', 'sum', "
                "'only_first_replica'."
            )
        if not autocast and self._mixed_compute():
            raise ValueError(
                f"add_weight(autocast=False) on layer {self.name!r} under a mixed-precision policy: kerasish computes "
                "with torch.autocast, which casts matmul/conv inputs regardless of the variable. Keep autocast=True "
                "and wrap the float32 computation in `with torch.autocast(x.device.type, enabled=False):` in call()."
            )
        torch_dtype = _torch_dtype(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if torch_dtype.is_floating_point else "zeros"
        init = initializers.get(initializer)
        data = torch.empty(shape, dtype=torch_dtype, device=self._input_device())
        _fill_keras_layout(data, init)
        if not torch_dtype.is_floating_point and trainable:
            trainable = False  # integer variables cannot have gradients (Keras makes them non-trainable too)
        if name is None:
            # Unnamed variables are 'variable', 'variable_1', ... as in Keras: no two share a path.
            taken = {getattr(p, "name", None) for p in self._parameters.values()}
            name = next(n for n in (f"variable_{i}" if i else "variable" for i in range(len(taken) + 1))
                        if n not in taken)
        var = Variable(data, bool(trainable), name=name)
        if not trainable:
            mark_state(var)  # state (a counter, a statistic), not a weight frozen later: see layer_utils
        var.aggregation = aggregation
        if regularizer is not None:
            from kerasish import regularizers

            var.regularizer = regularizers.get(regularizer)
        if constraint is not None:
            from kerasish import constraints

            var.constraint = constraints.get(constraint)
        key = _free_key(self, name or "variable")
        var._pending_key = True  # renamed to the attribute the caller assigns it to
        self.register_parameter(key, var)
        return var

    add_variable = add_weight

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, (nn.Module, list, tuple, dict)):
            for m in tracking.modules_in(value):
                if not isinstance(m, LayerState) and m.training and not self.training:
                    m.train(False)  # a plain torch module joins in the layer's (eval) mode, as layers start
        if isinstance(value, (list, tuple, dict)) and not isinstance(value, nn.Module) and "_modules" in self.__dict__:
            modules = self.__dict__["_modules"]
            if tracking.holds_module(value) or (isinstance(modules.get(name), nn.ModuleList) and name in self.__dict__):
                # `self.blocks = [Dense(8), Dense(8)]`: Keras tracks layers in lists and dicts; so do we.
                for store in (self.__dict__.get("_parameters"), self.__dict__.get("_buffers")):
                    if store is not None and name in store:
                        del store[name]
                object.__setattr__(self, name, tracking.track(self, name, value))
                return
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if isinstance(self.__dict__.get(name), tracking.Tracked) or (
                name in self.__dict__ and name in self.__dict__.get("_modules", {})):
            self.__dict__["_modules"].pop(name, None)
            object.__delattr__(self, name)
            return
        super().__delattr__(name)

    def register_parameter(self, name: str, param: Optional[nn.Parameter]) -> None:
        """Registers a parameter as a `Variable` (a plain `nn.Parameter` is converted)."""
        if param is None:
            return nn.Module.register_parameter(self, name, param)
        params = self.__dict__.get("_parameters")
        if isinstance(param, Variable) and getattr(param, "_pending_key", False) and params is not None:
            old = next((k for k, v in params.items() if v is param), None)
            if old is not None and old != name:
                # `self.w = self.add_weight(...)`: the attribute name becomes the torch key, in place.
                param._pending_key = False
                items = [(name if k == old else k, v) for k, v in params.items()]
                params.clear()
                params.update(items)
                return
        var = as_variable(param, name)
        var._keras_scope = name_scope.weight_scope(self)
        nn.Module.register_parameter(self, name, var)


def held_metrics(root: Any, skip: Any = None) -> List[Any]:
    """Metric objects held as public attributes of `root` and of the layers under it (the model's own
    trackers, `_loss_tracker` ..., are listed by Trainer). `skip(module)`: a module below `root`
    whose own attributes are left out (Keras's `Trainer.metrics` leaves out a nested model's, whose
    trackers belong to its own fit); the layers under it still count."""
    from kerasish.metrics import Metric

    out: List[Any] = []
    for m in root.modules():
        if isinstance(m, LayerState) and (m is root or skip is None or not skip(m)):
            out.extend(v for k, v in m.__dict__.items() if isinstance(v, Metric) and not k.startswith("_"))
    return out
