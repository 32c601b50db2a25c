"""Structural layers: Identity, TimeDistributed and TorchModuleWrapper.

- `Identity` returns its input (and its mask) unchanged.
- `TimeDistributed(layer)` applies one layer to every time step of `(batch, time, ...)` inputs.
  Keras 3 calls the layer once per step and stacks the results; kerasish folds the time axis into
  the batch and calls it once, which gives the same result for every layer whose output for a sample
  does not depend on the other samples of its batch (all but BatchNormalization in training mode).
- `TorchModuleWrapper(module)` makes a `torch.nn.Module` a layer whose weights are the module's
  parameters, as Keras 3's torch backend does.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn

from kerasish.layers.calling import call_spec
from kerasish.layers.layer import Layer, Shape
from kerasish.layers.wrapper import Wrapper


class Identity(Layer):
    """Returns its input unchanged; a placeholder layer (masks pass through).

    Args:
        **kwargs: `input_shape`, `name`, `dtype`.

    Example:
        >>> Identity()(torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """

    supports_masking = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def call(self, inputs: Any) -> Any:
        return inputs


class TimeDistributed(Wrapper):
    """Applies `layer` to every time step of `(batch, time, ...)` inputs, with the same weights.

    The time axis is folded into the batch (`(batch * time, ...)`), the layer runs once, and its
    output is unfolded to `(batch, time, ...)`. The wrapper's weights are the wrapped layer's, so
    `get_weights()` is the layer's own list (e.g. `[kernel, bias]` for Dense) in Keras's layout.

    A mask of shape `(batch, time, ...)` reaches the wrapped layer folded the same way (when its
    `call` takes `mask`), and the wrapper passes the incoming mask on unchanged, as Keras 3 does.

    Args:
        layer: the `kerasish.layers.Layer` to apply at each time step.
        **kwargs: `input_shape`, `name`, `trainable`.

    Example:
        >>> from kerasish.layers import Dense
        >>> TimeDistributed(Dense(8))(torch.ones(2, 10, 16)).shape
        torch.Size([2, 10, 8])
    """

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            hint = (" Wrap a torch module first: TimeDistributed(TorchModuleWrapper(module))."
                    if isinstance(layer, nn.Module) else "")
            raise ValueError(
                f"TimeDistributed: layer must be a kerasish.layers.Layer instance, received {layer!r} of type "
                f"{type(layer).__name__}. Example: TimeDistributed(Dense(8)).{hint}"
            )
        super().__init__(layer, **kwargs)  # Wrapper keeps it as self.layer and writes it into the config

    def _child_input_shape(self, input_shape: Shape) -> Shape:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed {self.name!r}: the input must have at least 3 axes (batch, time, ...), received "
                f"input shape {input_shape!r}. Give each time step its own axis, e.g. (batch, time, features)."
            )
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape: Shape) -> None:
        self.layer.build_from_shape(self._child_input_shape(input_shape))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        child = self.layer.compute_output_shape(self._child_input_shape(input_shape))
        return (child[0], input_shape[1]) + tuple(child[1:])

    def _check_mask(self, inputs: torch.Tensor, mask: torch.Tensor) -> None:
        # Shapes are Python ints: no host sync.
        if mask.dim() < 2 or tuple(mask.shape[:2]) != tuple(inputs.shape[:2]):
            raise ValueError(
                f"TimeDistributed {self.name!r}: the mask must start with the input's (batch, time) axes "
                f"{tuple(inputs.shape[:2])}, received a mask of shape {tuple(mask.shape)}. Pass a mask shaped "
                "(batch, time), e.g. the one Masking or Embedding(mask_zero=True) computes."
            )

    def call(self, inputs: torch.Tensor, training: Optional[bool] = None,
             mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(
                f"TimeDistributed {self.name!r} takes one tensor of shape (batch, time, ...), received "
                f"{type(inputs).__name__}. Wrap each input in its own TimeDistributed layer."
            )
        self._child_input_shape(tuple(inputs.shape))
        batch, steps = inputs.shape[0], inputs.shape[1]
        kwargs: Dict[str, Any] = {}
        if training is not None:
            kwargs["training"] = training
        if mask is not None:
            self._check_mask(inputs, mask)
            if call_spec(type(self.layer)).mask:
                kwargs["mask"] = mask.reshape((batch * steps,) + tuple(mask.shape[2:]))
        outputs = self.layer(inputs.reshape((batch * steps,) + tuple(inputs.shape[2:])), **kwargs)
        if not isinstance(outputs, torch.Tensor):
            raise TypeError(
                f"TimeDistributed {self.name!r}: the wrapped layer {self.layer.name!r} returned "
                f"{type(outputs).__name__}, expected one tensor. Wrap a layer with a single output "
                "(e.g. an RNN without return_state)."
            )
        return outputs.reshape((batch, steps) + tuple(outputs.shape[1:]))

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "TimeDistributed":  # type: ignore[override]
        from kerasish.layers.nested_config import deserialize_layer

        config = dict(config)
        layer = config.pop("layer")
        if not isinstance(layer, Layer):
            layer = deserialize_layer(layer)
        return cls(layer, **config)


class TorchModuleWrapper(Layer):
    """A `torch.nn.Module` as a layer: its parameters are the layer's weights.

    `weights` (and `get_weights()` / `set_weights()`) list the module's parameters in the module's
    order, trainable ones first as in Keras, in torch's layout (a Linear weight is
    `(out_features, in_features)`), and share their storage: setting the layer's weights sets the
    module's. Buffers (BatchNorm statistics) are not weights but are saved with the model.

    `call(*args, training=None, **kwargs)` runs `module(*args, **kwargs)` with the module in
    training mode when `training` is True and in eval mode when it is False; when `training` is
    None (a direct call outside `fit`) the layer's own torch mode decides, which starts as eval.

    As in Keras, `get_config()` holds the module pickled by `torch.save` (base64 text), and
    `from_config` refuses to unpickle it unless loading is trusted:
    `kerasish.saving.load_model(path, safe_mode=False)` or
    `kerasish.config.enable_unsafe_deserialization()`. A module that cannot be pickled (a local
    class, a lambda) cannot be saved.

    Args:
        module: the `torch.nn.Module` to wrap. A lazy module must have been initialized (called once).
        name: the layer's name. Defaults to `None` (`'torch_module_wrapper'`, numbered).
        output_shape: the output shape (batch entry included), used by `compute_output_shape`.
            Defaults to `None` (found by running the module on zeros).
        **kwargs: `trainable`, `dtype`.

    Example:
        >>> layer = TorchModuleWrapper(torch.nn.Linear(4, 2))
        >>> layer(torch.ones(3, 4)).shape, [w.shape for w in layer.get_weights()]
        (torch.Size([3, 2]), [(2, 4), (2,)])
    """

    def __init__(self, module: nn.Module, name: Optional[str] = None, output_shape: Optional[Sequence[Any]] = None,
                 **kwargs: Any) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"TorchModuleWrapper: module must be a torch.nn.Module, received {module!r} of type "
                f"{type(module).__name__}. Example: TorchModuleWrapper(torch.nn.Linear(4, 2))."
            )
        if isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params():
            raise ValueError(
                f"TorchModuleWrapper: the lazy module {type(module).__name__} has uninitialized parameters. "
                "Call it once on a sample input before wrapping it, or use its non-lazy twin (e.g. nn.Linear)."
            )
        super().__init__(name=name, **kwargs)
        self.module = module
        self.output_shape = None if output_shape is None else tuple(output_shape)
        self.built = True

    @property
    def _infer_by_tracing(self) -> bool:
        # Without a given output_shape, functional graphs find the shape by running the module.
        return self.output_shape is None

    @property
    def weights(self) -> List[torch.Tensor]:
        params = list(self.module.parameters())
        return [p for p in params if p.requires_grad] + [p for p in params if not p.requires_grad]

    variables = weights

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.output_shape is None:
            return super().compute_output_shape(input_shape)
        return self.output_shape

    def call(self, *args: Any, training: Optional[bool] = None, **kwargs: Any) -> Any:
        mode = self.training if training is None else bool(training)
        if self.module.training != mode:
            self.module.train(mode)
        return self.module(*args, **kwargs)

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        buffer = io.BytesIO()
        try:
            torch.save(self.module, buffer)
        except Exception as e:  # noqa: BLE001 - pickling errors come in many types; re-raised with the fix
            raise ValueError(
                f"TorchModuleWrapper {self.name!r}: its module {type(self.module).__name__} cannot be pickled by "
                f"torch.save ({type(e).__name__}: {e}), so its config cannot describe it. Define the module's "
                "class at the top level of an importable file (no lambdas or local classes), or save only the "
                "weights with model.save_weights(path)."
            ) from e
        config_.update(module=base64.b64encode(buffer.getvalue()).decode("ascii"),
                       output_shape=None if self.output_shape is None else list(self.output_shape))
        return config_

    @classmethod
    def from_config(cls, config: Dict[str, Any], safe_mode: Optional[bool] = None) -> "TorchModuleWrapper":
        config = dict(config)
        module = config.get("module")
        if isinstance(module, str):
            from kerasish.utils.safe_mode import in_safe_mode

            if (in_safe_mode() if safe_mode is None else safe_mode) is not False:
                raise ValueError(
                    "TorchModuleWrapper: the saved config holds a torch.nn.Module pickled by torch.save; "
                    "unpickling it can run arbitrary code, so it is refused in safe mode. If you trust the file, "
                    "load it with kerasish.saving.load_model(path, safe_mode=False) or call "
                    "kerasish.config.enable_unsafe_deserialization() first."
                )
            data = base64.b64decode(module.encode("ascii"))
            config["module"] = torch.load(io.BytesIO(data), weights_only=False)
        return cls(**config)
