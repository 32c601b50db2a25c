"""The attributes Keras 3 users read on a layer beyond building and calling (`LayerSurface`, a base of `Layer`).

- dtypes: `dtype_policy` (readable and settable), `compute_dtype`, `variable_dtype`,
  `input_dtype` and `quantization_mode` (always None: kerasish does not quantize);
- `path`: where the layer sits ('dense', 'sequential/dense'), None until it is built;
- `metrics_variables`: the state variables of the layer's metrics;
- calls beside `__call__`: `stateless_call` (run with given variable values, state
  returned instead of written), `compute_output_spec` and `symbolic_call`;
- Keras's refusals kept: `add_metric` (removed in Keras 3) and `quantize` (not in kerasish).

`Layer` (layer.py) inherits this class; it is not used on its own.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from kerasish.layers.layer_utils import _resolve_dtype

#: Keras 3's quantization modes, and the prefixes of its quantized dtype policy names ('int8_from_float32').
QUANTIZATION_MODES = ("int8", "int4", "float8", "gptq")


def _mixed_precision() -> Any:
    from kerasish import mixed_precision  # lazy: mixed_precision is loaded when a dtype is read

    return mixed_precision


def _name_policy(name: str) -> Any:
    """The policy object for a dtype or policy name ('float32', 'mixed_float16', 'float64' ...)."""
    return _mixed_precision().Policy(name)


def _check_not_quantized(value: Any, what: str) -> None:
    name = getattr(value, "name", value)
    if isinstance(name, str) and name.split("_")[0] in QUANTIZATION_MODES:
        raise ValueError(
            f"{what} received the quantized dtype policy {name!r}: kerasish does not quantize layers (Keras's "
            "`quantize()` has no kerasish counterpart). Use a float policy such as 'float32' or 'mixed_bfloat16', "
            "or quantize the exported model with torch.ao.quantization."
        )


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _swapped(root: nn.Module, values: Dict[int, torch.Tensor]) -> List[Tuple[Dict[str, Any], str, Any]]:
    """Puts `values[id(tensor)]` in place of each parameter or buffer of `root` (and of every module
    under it) that is a key, writing the modules' own tables as torch's functional_call does; returns
    what `_restore` needs. (Tables are used, not attribute paths: a model's `layers` attribute is a list.)"""
    undo = []
    for module in root.modules():
        for table in (module._parameters, module._buffers):
            for key, tensor in table.items():
                if tensor is not None and id(tensor) in values:
                    undo.append((table, key, tensor))
                    table[key] = values[id(tensor)]
    return undo


def _restore(undo: List[Tuple[Dict[str, Any], str, Any]]) -> None:
    for table, key, tensor in reversed(undo):
        table[key] = tensor


class LayerSurface:
    """Keras 3's dtype, path, metric-variable and alternative-call attributes of `Layer` (module docstring)."""

    #: Whether `path` stays None for a layer without a build of its own, as Keras's layers do (its models
    #: build and get a path whatever their class defines: `Model` sets this False).
    _path_needs_own_build = True

    # ------------------------------------------------------------------ dtypes
    @property
    def dtype_policy(self) -> Any:
        """The layer's dtype policy, a `kerasish.mixed_precision.DTypePolicy` (`name`, `compute_dtype`,
        `variable_dtype`). A layer made without `dtype` follows the global policy when that one is
        mixed (`set_global_policy('mixed_bfloat16')`), else `kerasish.config.floatx()`.

        Setting it takes a policy object or name, as Keras's setter does; kerasish converts no
        existing weights, so a built layer keeps its weights' dtype (only the computation dtype may
        change: 'float32' <-> 'mixed_bfloat16').

        Raises:
            ValueError: on setting a quantized policy ('int8_from_float32' ...), an unknown name,
                or another variable dtype on a built layer.
        """
        config = self._dtype_config
        mp = _mixed_precision()
        if isinstance(config, mp.Policy):
            return config
        if config is None:
            policy = mp.global_policy()
            if policy.autocast_dtype is not None:
                return policy
            from kerasish import config as config_mod

            return _name_policy(config_mod.floatx())
        if self._compute_dtype is not None:
            return mp.Policy("mixed_float16" if self._compute_dtype is torch.float16 else "mixed_bfloat16")
        return _name_policy(self._dtype_arg)

    @dtype_policy.setter
    def dtype_policy(self, value: Any) -> None:
        _check_not_quantized(value, f"Layer {self.name!r}: dtype_policy")
        variable_name, compute = _resolve_dtype(value)
        if self.built:
            from kerasish import config as config_mod

            new = variable_name or config_mod.floatx()
            held = {str(p.dtype).replace("torch.", "") for p in self.parameters() if p.is_floating_point()}
            if held and held != {new}:
                raise ValueError(
                    f"Layer {self.name!r} is built with {sorted(held)} weights; setting dtype_policy={value!r} would "
                    f"need {new!r} weights, and kerasish does not convert built weights. Pass dtype={value!r} to the "
                    "layer's constructor (or set dtype_policy before the layer is built), or convert the weights "
                    f"yourself with layer.to(torch.{new})."
                )
        self._dtype_config = value
        self._dtype_arg, self._compute_dtype = variable_name, compute

    @property
    def compute_dtype(self) -> str:
        """The dtype the layer computes in ('float32', or 'bfloat16' under 'mixed_bfloat16')."""
        return self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype of the layer's weights (`dtype` is its alias)."""
        return self.dtype_policy.variable_dtype

    @property
    def input_dtype(self) -> str:
        """The dtype Keras converts floating-point inputs to: `compute_dtype`. Under a mixed policy
        kerasish leaves float inputs in the weights' dtype and lets torch's autocast cast each
        operation to `compute_dtype`, which computes the same thing."""
        return self.compute_dtype

    @property
    def quantization_mode(self) -> None:
        """None: kerasish layers are never quantized (see `quantize`)."""
        return None

    # ------------------------------------------------------------------ path
    @property
    def path(self) -> Optional[str]:
        """The layer's path: its name under the layers it was built in ('dense', 'sequential/dense',
        'my_model/dense'), the prefix of its weights' paths. None until the layer is built, and, as in
        Keras, for a layer without a build of its own (nothing to build: ReLU, Dropout ...)."""
        if not self.built:
            return None
        if not self._path_needs_own_build:  # a model: built where it was made (a functional model by its constructor)
            return _join(self._parent_path or "", self.name)
        if self._parent_path is None or getattr(type(self).build, "_is_default", False):
            return None
        return _join(self._parent_path, self.name)

    # ------------------------------------------------------------------ metrics
    @property
    def metrics_variables(self) -> List[torch.Tensor]:
        """The state variables of every metric in `metrics` (made with `Metric.add_variable`), in order."""
        return [v for metric in self.metrics for v in metric.variables]

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        """Removed in Keras 3, as here: always raises.

        Raises:
            NotImplementedError: with the two ways Keras 3 offers instead.
        """
        raise NotImplementedError(
            f"Layer.add_metric() was removed in Keras 3, and kerasish has none either (called on layer "
            f"{self.name!r}). Pass the metric to compile(metrics=[...]), or create a metric object in the layer's "
            "__init__ or build (self.my_metric = kerasish.metrics.Mean()) and call self.my_metric.update_state(...) "
            "in call()."
        )

    def quantize(self, mode: Any = None, *args: Any, **kwargs: Any) -> None:
        """Keras's weight quantization (int8, int4, float8, GPTQ): not available in kerasish.

        Raises:
            NotImplementedError: always, naming torch's own quantization as the way out.
        """
        raise NotImplementedError(
            f"quantize(mode={mode!r}) was called on {self.name!r}, but kerasish does not quantize layers (Keras 3's "
            "quantized Dense/EinsumDense/Embedding kernels have no kerasish counterpart). Train and save in float, "
            "then quantize the torch module with torch.ao.quantization (e.g. quantize_dynamic) or export it "
            "(model.export) and quantize with your runtime."
        )

    # ------------------------------------------------------------------ calls beside __call__
    def stateless_call(self, trainable_variables: Sequence[Any], non_trainable_variables: Sequence[Any], *args: Any,
                       return_losses: bool = False, **kwargs: Any) -> Tuple[Any, ...]:
        """Calls the layer with the given variable values instead of its own, changing none of its state.

        As `torch.func.functional_call` does, the layer's tensors are swapped for the given ones
        during the call: gradients flow to the tensors passed in `trainable_variables`. State the
        call updates (BatchNormalization's moving statistics) is updated in copies of
        `non_trainable_variables`, which are returned; the layer's own variables keep their values
        until you assign the returned ones, and its `losses` stay those of its last ordinary call.

        Args:
            trainable_variables: one tensor per `layer.trainable_variables`, in that order.
            non_trainable_variables: one tensor per `layer.non_trainable_variables`, in that order.
            *args: the call's positional arguments (the inputs).
            return_losses: also return the losses of this call (`add_loss` values and weight
                penalties computed on the given variables). Defaults to `False`.
            **kwargs: the call's keyword arguments (`training=True` ...).

        Returns:
            `(outputs, non_trainable_variables)`, or `(outputs, non_trainable_variables, losses)`.

        Raises:
            ValueError: for an unbuilt layer, or lists whose lengths differ from the layer's.
        """
        if not self.built:
            raise ValueError(
                f"stateless_call() needs {type(self).__name__} {self.name!r} built (its variables created), and it is "
                "not. Build it first by calling it on a batch, or with layer.build(input_shape)."
            )
        own_trainable, own_state = self.trainable_variables, self.non_trainable_variables
        for given, own, what in ((trainable_variables, own_trainable, "trainable_variables"),
                                 (non_trainable_variables, own_state, "non_trainable_variables")):
            if len(given) != len(own):
                raise ValueError(
                    f"stateless_call() argument `{what}` must hold one tensor per {type(self).__name__}()."
                    f"{what}, in that order: received {len(given)}, expected {len(own)}. Pass "
                    f"[v for v in layer.{what}] (or tensors of the same shapes)."
                )
        from kerasish.variables import Variable

        values: Dict[int, torch.Tensor] = {}
        for own, given in zip(own_trainable, trainable_variables):
            given = torch.as_tensor(given, device=own.device)
            view = given.view_as(given)  # a new tensor object (same storage, same autograd graph) ...
            if getattr(own, "regularizer", None) is not None:  # ... carrying the variable's penalty
                view.regularizer = own.regularizer
            values[id(own)] = view
        for own, given in zip(own_state, non_trainable_variables):
            # State is a copy the call may update (in place or with assign()), never the caller's tensor.
            copy = Variable(torch.as_tensor(given, device=own.device).detach().clone(), False,
                            name=getattr(own, "name", None))
            copy.regularizer = getattr(own, "regularizer", None)
            values[id(own)] = copy
        kept_losses = [(m, list(m._call_losses)) for m in self.modules() if isinstance(m, LayerSurface)]
        undo = _swapped(self, values)
        try:
            out = self(*args, **kwargs)
            losses = list(self.losses) if return_losses else None  # penalties of the given values
        finally:
            _restore(undo)
            for m, kept in kept_losses:
                m._call_losses[:] = kept
        copies = [values[id(own)].detach() for own in own_state]
        return (out, copies, losses) if return_losses else (out, copies)

    def compute_output_spec(self, *args: Any, **kwargs: Any) -> Any:
        """The output's shape and dtype, as KerasTensor(s), for inputs given as KerasTensors (or
        tensors/arrays, read for their shape and dtype), without recording a node of the graph.
        As kerasish's symbolic calls do, it builds an unbuilt layer. As Keras's, the outputs carry
        no symbolic mask (a recorded call, `layer(keras_input)`, attaches those)."""
        from kerasish.layers.symbolic import output_specs
        from kerasish.ops.keras_tensor import KerasTensor

        def spec(x: Any) -> Any:
            if isinstance(x, KerasTensor):
                return x
            if isinstance(x, torch.Tensor) or (hasattr(x, "__array__") and hasattr(x, "dtype") and hasattr(x, "shape")):
                return KerasTensor(tuple(x.shape), str(x.dtype).replace("torch.", ""))
            return x

        from kerasish.utils.tree import map_structure

        args, kwargs = map_structure(spec, args), map_structure(spec, kwargs)
        specs = output_specs(self, tuple(args), dict(kwargs))
        if isinstance(specs, list):
            return [KerasTensor(shape, dtype) for shape, dtype in specs]
        return KerasTensor(*specs)

    def symbolic_call(self, *args: Any, **kwargs: Any) -> Any:
        """`compute_output_spec`, as Keras's layers define it: the output KerasTensor(s) for symbolic
        inputs, with no node recorded (`layer(keras_input)` is the call that records one)."""
        return self.compute_output_spec(*args, **kwargs)
