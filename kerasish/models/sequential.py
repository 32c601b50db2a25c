"""Sequential: a linear stack of layers (kerasish layers or plain torch modules)."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

import numpy as np
import torch
from torch import nn

from kerasish.layers import name_scope
from kerasish.layers.core import InputLayer
from kerasish.layers.layer import Layer, Shape, infer_output_shape, to_snake_case, unique_name
from kerasish.layers.symbolic import KerasTensor, Node
from kerasish.models import summary as summary_mod
from kerasish.models.functional import match_input_rank
from kerasish.models.layer_dict import LayerDict
from kerasish.models.model import Model, layer_entry, layers_from_config


def _take_functional_name() -> None:
    """Uses up a 'functional' name, as each build of a Keras Sequential does.

    Keras's Sequential runs through a Functional model it makes (unnamed) every time it is
    built: by its constructor, by `add`/`pop` on a built model, by `build` or by its first
    call. Each one takes the next 'functional' name, so a `Model(...)` made afterwards is
    called 'functional_1' there; taking the same names here keeps kerasish's names Keras's.
    """
    unique_name("functional")


class Sequential(Model):
    """A stack of layers applied one after the other.

    When an `Input` leads (or the first layer states `input_shape`/`input_dim`), every
    layer is built as it is added and `summary()` works before any data is seen;
    otherwise the model builds on its first batch. As in Keras, a layer's own
    `input_shape` counts only on the first layer with no `Input` before it: other layers
    are built for the shape the model gives them. Plain `torch.nn.Module`s may be
    mixed in; their output shapes are found by running them once on zeros.

    Args:
        layers: layers to add in order. Defaults to `None`.
        name: the model's name. Defaults to `None` ('sequential', 'sequential_1', ...).

    Example:
        >>> model = Sequential([Input((4,)), Dense(8, activation="relu"), Dense(1)])
        >>> model.output_shape
        (None, 1)
    """

    _how_to_build = ("Build it first: model.build(input_shape), e.g. model.build((None, 784)), start the model "
                     "with Input(shape=...), or call it on a batch of data.")

    def __new__(cls, *args: Any, **kwargs: Any) -> "Sequential":
        # Never a functional model, even for Sequential([Input(...)]) (a list of symbolic tensors).
        return object.__new__(cls)

    def __init__(self, layers: Optional[Iterable[Any]] = None, name: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        # Registered directly so parameter names read 'layers.dense.kernel'; the
        # `layers` property (a list, as in Keras) takes precedence for attribute access.
        self._modules["layers"] = LayerDict()
        self._input_layer: Optional[InputLayer] = None
        self._auto_input: Optional[InputLayer] = None  # made when built without an Input; get_config lists it
        self._built_from_data = False  # input shape learned from a batch, not declared
        self._input_spec: Optional[Shape] = None
        self._shapes: Dict[str, Shape] = {}
        self._tips: Dict[str, Any] = {}
        self.built = False
        if layers is not None:
            if isinstance(layers, nn.Module):
                layers = [layers]
            self._in_constructor = True  # Keras builds once, after the last layer
            for layer in layers:
                self.add(layer)
            self._in_constructor = False
            if self.built:
                _take_functional_name()

    # ----------------------------------------------------------------- structure
    @property
    def _layer_dict(self) -> nn.ModuleDict:
        return self._modules["layers"]  # type: ignore[return-value]

    @property
    def layers(self) -> List[nn.Module]:  # type: ignore[override]
        """The layers in order (the Input is not listed, as in Keras)."""
        return list(self._layer_dict.values())

    def add(self, layer: Any) -> None:
        """Appends a layer (a kerasish layer, an `Input`, or any torch module).

        Raises:
            TypeError: if `layer` is not a torch module.
            ValueError: if a layer with the same name is already in the model.
            RuntimeError: while the model's fit() is running.
        """
        if "_active_train_steps" in self.__dict__:
            raise RuntimeError(
                f"Sequential.add was called on {self.name!r} while its fit() is running (from a callback?): the "
                "optimizer was built for the layers fit started with and would not train the new one. Add layers "
                "before fit(), or between two fit() calls (then compile() again)."
            )
        if isinstance(layer, KerasTensor):
            if not isinstance(layer.layer, InputLayer):
                raise TypeError(
                    f"Sequential.add received the symbolic output of layer {layer.layer.name!r}; only Input(...) "
                    "tensors and layers can be added. Use Model(inputs, outputs) for graphs."
                )
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if self._layer_dict:
                raise ValueError(
                    "An Input can only be the first element of a Sequential model; received one after "
                    f"{len(self._layer_dict)} layer(s). Put Input(shape=...) first."
                )
            self._input_layer = layer
            self._input_spec = tuple(layer.shape)  # a batch size given to Input stays, as in Keras
            return
        if not isinstance(layer, nn.Module):
            raise TypeError(
                f"Sequential.add expects a layer (a kerasish layer or a torch.nn.Module), received {layer!r} of "
                f"type {type(layer).__name__}. Example: model.add(Dense(10))."
            )
        name = layer.name if isinstance(layer, Layer) else unique_name(to_snake_case(type(layer).__name__))
        if name in self._layer_dict:
            raise ValueError(
                f"All layers added to a Sequential model should have unique names. Name {name!r} is already "
                "the name of a layer in this model. Update the `name` argument to pass a unique name."
            )
        spec_before = self._input_spec
        if not self._layer_dict and self._input_spec is None and isinstance(layer, Layer):
            # As Keras: a first layer that knows its input (input_shape=..., or a built
            # functional/Sequential model) builds the Sequential at once.
            known = getattr(layer, "expected_input_shape", None)
            self._input_spec = layer._input_shape_arg or (known() if callable(known) else None)
        self._layer_dict[name] = layer
        if self._input_spec is not None:
            shape = self._input_spec if len(self._layer_dict) == 1 else self._shapes[list(self._layer_dict)[-2]]
            try:
                self._build_layer(name, layer, shape)
            except Exception:
                del self._layer_dict[name]  # a layer that cannot be built is not added
                self._input_spec = spec_before
                raise
            self.built = True
            if self._build_input_shape is None:
                # As Keras: a model built from its declared input records that shape (get_build_config).
                self._build_input_shape = tuple(self._input_spec)
            if not self.__dict__.get("_in_constructor", False):
                _take_functional_name()
        self._invalidate_optimizer()

    def pop(self) -> nn.Module:
        """Removes and returns the last layer."""
        if not self._layer_dict:
            raise ValueError("There are no layers in the model to pop: it is empty.")
        name = list(self._layer_dict)[-1]
        layer = self._layer_dict[name]
        del self._layer_dict[name]
        self._shapes.pop(name, None)
        remaining = list(self._layer_dict)
        self._output_shape = self._shapes.get(remaining[-1]) if remaining else None
        if not remaining:
            self.built = False  # as Keras: an input alone is not a built model (adding a layer builds it again)
        elif self.built:
            _take_functional_name()  # Keras builds what is left again
        self._invalidate_optimizer()
        return layer

    def _invalidate_optimizer(self) -> None:
        if self._compile_config is not None and self._compile_config.optimizer.built:
            self._compile_config.optimizer.torch_optimizer = None

    def _build_layer(self, name: str, layer: nn.Module, shape: Shape) -> None:
        device = self._device
        if isinstance(layer, Layer):
            # As Keras: a layer's own input_shape= built nothing (only the first layer's, with no Input
            # before it, gave the model its input), so the layer is built here for the shape it is given.
            built_for = layer._build_input_shape if layer.built else None
            with name_scope.opened(self):  # as in Keras's build: the weights are 'sequential/dense/kernel'
                layer.build_from_shape(shape, device)
                try:
                    out = layer.compute_output_shape(shape)  # may run the layer: lazy sublayers build here
                except RuntimeError as e:
                    if built_for is None:
                        raise
                    # A layer built beforehand for another shape: Keras refuses it as incompatible (ValueError).
                    raise ValueError(
                        f"Layer {layer.name!r} ({type(layer).__name__}) was already built for input shape "
                        f"{tuple(built_for)} and fails on the input shape {tuple(shape)} the Sequential model "
                        f"gives it: {e}. Add a new, unbuilt layer instead (it is built for the model's input), "
                        "or give the model an input the layer was built for."
                    ) from e
        else:
            if device is not None:
                layer.to(device)
            dtype = torch.long if isinstance(layer, nn.Embedding) else torch.float32
            out = (shape[0],) + tuple(infer_output_shape(layer, shape, dtype)[1:])  # the batch entry passes
        self._shapes[name] = tuple(out)
        self._output_shape = tuple(out)
        self._record_node(name, layer, shape, tuple(out))

    def _record_node(self, name: str, layer: nn.Module, in_shape: Shape, out_shape: Shape) -> None:
        """Adds the layer's call to the symbolic graph, so `layer.output`, `model.input` and
        `model.output` exist (for sub-models such as activation models, sharing weights)."""
        names = list(self._layer_dict)
        index = names.index(name)
        if index == 0:
            source = self._input_layer
            if source is None:
                # Keras's Sequential makes this InputLayer when built; get_config lists it too.
                if self._auto_input is None or self._auto_input.shape != tuple(in_shape):
                    self._auto_input = InputLayer(batch_shape=tuple(in_shape), name=unique_name("input_layer"))
                source = self._auto_input
            tip = source.output
        else:
            tip = self._tips.get(names[index - 1])
        if tip is None or not isinstance(layer, Layer):
            self._tips[name] = None  # a plain torch module ends the symbolic graph
            return
        node = Node(layer, tip, {})
        node.outputs = [KerasTensor(out_shape, "float32", node, 0)]
        layer._inbound_nodes.append(node)
        self._tips[name] = node.outputs[0]

    @property
    def input(self) -> Any:  # type: ignore[override]
        """The model's symbolic input (once the input shape is known)."""
        source = self._input_layer or self._auto_input
        if not self.built or source is None:
            raise ValueError(
                f"Sequential model {self.name!r} has no input yet: give the first layer input_shape=... "
                "(or start with Input(shape=...)), or call it on data."
            )
        return source.output

    @property
    def output(self) -> Any:  # type: ignore[override]
        """The model's symbolic output (once built, for models made of kerasish layers)."""
        names = list(self._layer_dict)
        tip = self._tips.get(names[-1]) if names else None
        if not self.built or tip is None:
            raise ValueError(
                f"Sequential model {self.name!r} has no symbolic output: it is not built yet, or it contains "
                "plain torch modules, which cannot be traced symbolically."
            )
        return tip

    @property
    def inputs(self) -> List[Any]:
        return [self.input]

    @property
    def outputs(self) -> List[Any]:
        return [self.output]

    def build(self, input_shape: Optional[Shape] = None) -> None:
        """Builds every layer for `input_shape` (batch first, e.g. `(None, 784)`).

        As in Keras, the batch entry is kept: a model first built from a batch (called on
        data, or by fit/evaluate/predict) shows that batch size in `summary()` and
        `input_shape`; `build((None, 784))` or a declared `input_shape` leaves it None.

        Args:
            input_shape: the batch shape. Defaults to `None` (the shape the model is configured
                for: its `Input`, its first layer's `input_shape=` or an earlier build).

        Raises:
            ValueError: for a model with no layers (nor an `Input`); for a shape other than the
                one the model is configured for, batch size included (as Keras); for a shape
                that is not one tuple of ints and None; for no shape on a model with none.
        """
        if not self._layer_dict and self._input_spec is None:
            raise ValueError(
                f"Sequential model {self.name!r} cannot be built because it has no layers (received "
                f"input_shape={input_shape!r}). Add layers first with model.add(layer), e.g. "
                "model.add(Dense(10)), then build it."
            )
        if input_shape is None:
            input_shape = self._input_spec
        if input_shape is None:
            raise ValueError("Sequential.build needs input_shape, e.g. model.build((None, 784)).")
        input_shape = _standard_shape(input_shape)
        if self._input_spec is None:
            self._input_spec = input_shape
        elif input_shape != tuple(self._input_spec):
            # Keras compares the whole batch shape, batch size included.
            raise ValueError(
                f"Sequential model {self.name!r} has already been configured to use input shape "
                f"{tuple(self._input_spec)}; it cannot be built with input_shape {input_shape}. Call "
                f"model.build({tuple(self._input_spec)}) (or model.build()), or make a new Sequential for the "
                "other shape."
            )
        shape = self._input_spec
        for name, layer in self._layer_dict.items():
            self._build_layer(name, layer, shape)
            shape = self._shapes[name]
        self.built = True
        _take_functional_name()

    def _build_on_call(self, args: Any, kwargs: Dict[str, Any]) -> None:
        # Keras builds a Sequential called on data for that batch's full shape (its summary then
        # shows the batch size), as it builds any layer called on data.
        if args and isinstance(args[0], torch.Tensor) and args[0].dim() and not self.accepts_strings():
            self.build_from_shape(tuple(args[0].shape), args[0].device)
            return
        super()._build_on_call(args, kwargs)

    def build_from_shape(self, input_shape: Shape, device: Optional[torch.device] = None) -> None:
        if not self.built:
            self.build(input_shape)
            if device is not None:
                self.to(device)

    def ensure_built(self, x: Any) -> None:
        if not self._layer_dict:
            raise ValueError("The Sequential model has no layers. Add layers with model.add(...) before fit/predict.")
        if not self.built:
            leaf = x
            while isinstance(leaf, (list, tuple)):
                leaf = leaf[0]
            if self.accepts_strings() and isinstance(x, np.ndarray) and x.dtype == object:
                self.build((None,))
            else:
                self.build(tuple(leaf.shape))  # the first batch's shape, batch size included (as Keras)
                self._built_from_data = True
            self.to(self.device)

    # ----------------------------------------------------------------- forward
    def accepts_strings(self) -> bool:
        layers = self.layers
        if not layers:
            return False
        first = layers[0]
        # A model whose first layer is itself a model that takes strings (a nested Sequential
        # starting with TextVectorization) takes them too.
        return bool(getattr(first, "string_input", False) or (
            callable(getattr(first, "accepts_strings", None)) and first.accepts_strings()))

    def _text_to_device(self, layers: List[nn.Module], inputs: Any) -> Any:
        # TextVectorization maps strings to ids on the CPU; the rest runs on the device.
        return layers[0](inputs).to(self.device, non_blocking=True)

    @property
    def adjusts_input_rank(self) -> bool:
        """A Sequential whose Input is declared adjusts inputs one trailing axis of 1 off its rank, as
        Keras's (a Functional inside) does; one built from data takes the data's rank."""
        return self._input_spec is not None and not self._built_from_data

    def _ranked(self, inputs: Any) -> Any:
        if type(inputs) is torch.Tensor and self.adjusts_input_rank and inputs.dim() != len(self._input_spec):
            return match_input_rank(self._input_spec, inputs)
        return inputs

    def call(self, inputs: Any) -> Any:
        inputs = self._ranked(inputs)
        if not isinstance(inputs, torch.Tensor) and self.accepts_strings():
            layers = self.layers
            inputs = self._text_to_device(layers, inputs)
            return self._call_masked(layers[1:], inputs, logits=False) if self._masking else \
                self._call_plain(layers[1:], inputs)
        if not self._masking:
            for layer in self._layer_dict.values():
                inputs = layer(inputs)
            return inputs
        return self._call_masked(self.layers, inputs, logits=False)

    @staticmethod
    def _call_plain(layers: List[nn.Module], inputs: Any) -> Any:
        for layer in layers:
            inputs = layer(inputs)
        return inputs

    def forward_logits(self, inputs: Any) -> Any:
        inputs = self._ranked(inputs)
        layers = self.layers
        if self.accepts_strings() and not isinstance(inputs, torch.Tensor):
            inputs = self._text_to_device(layers, inputs)
            layers = layers[1:]
            if self._masking:
                return self._call_masked(layers, inputs, logits=True)
            return layers[-1].call_logits(self._call_plain(layers[:-1], inputs))
        if self._masking:
            return self._call_masked(layers, inputs, logits=True)
        for layer in layers[:-1]:
            inputs = layer(inputs)
        return layers[-1].call_logits(inputs)

    @property
    def _masking(self) -> bool:
        # Cached per structure: does any layer produce a mask (Embedding(mask_zero=True), Masking)?
        key = tuple(self._layer_dict)
        if getattr(self, "_mask_key", None) != key:
            self._mask_key = key
            self._mask_flag = any(getattr(l, "produces_mask", False) for l in self._layer_dict.values())
        return self._mask_flag

    @staticmethod
    def _call_masked(layers: List[nn.Module], inputs: Any, logits: bool) -> Any:
        """Threads Keras masks: a layer with `compute_mask` produces one, layers with
        `accepts_mask = True` receive it as `mask=`; other layers end the mask (as Keras
        drops masks at layers that do not support them, e.g. after a recurrent layer
        that returns only its last step)."""
        mask = None
        last = len(layers) - 1
        for i, layer in enumerate(layers):
            fn = layer.call_logits if (logits and i == last) else layer
            new_mask = layer.compute_mask(inputs, mask) if hasattr(layer, "compute_mask") else None
            if mask is not None and getattr(layer, "accepts_mask", False):
                inputs = fn(inputs, mask=mask)
            else:
                inputs = fn(inputs)
            mask = new_mask
        return inputs

    def logits_layer(self) -> Any:
        """The layer whose `call_logits` `forward_logits` runs (its own call is skipped)."""
        layers = self.layers
        return layers[-1] if layers else None

    def logits_activation(self) -> Optional[str]:
        cls = type(self)
        if cls.call is not Sequential.call or cls.forward is not Model.forward:
            return None  # the subclass's own call/forward is what the model computes: no logits path
        layers = self.layers
        if layers and isinstance(layers[-1], Layer):
            return layers[-1].logits_activation()
        return None

    def casts_integer_inputs(self) -> bool:
        layers = self.layers
        first = layers[0] if layers else None
        return not (isinstance(first, nn.Embedding) or getattr(first, "integer_input", False))

    def expected_input_shape(self) -> Optional[Shape]:
        spec = self._input_spec
        if spec is None or not self._built_from_data:
            return spec
        # Built from the first batch, not declared: sequence lengths may differ between
        # batches (padded per batch, bucketed), so only the feature axis is pinned.
        layers = self.layers
        if layers and getattr(layers[0], "integer_input", False):
            return (None,) * len(spec)
        if len(spec) >= 3:
            return (None,) * (len(spec) - 1) + (spec[-1],)
        return spec

    @property
    def input_shape(self) -> Optional[Shape]:
        return self._input_spec

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """Each layer's output shape chained, as Keras's Sequential does (no probe run, so unknown
        spatial sizes pass layers that a small probe batch could not, e.g. a 4x4 stride-4 stem);
        a plain torch module in the stack is traced on a zero batch."""
        shape: Any = tuple(input_shape)
        for layer in self.layers:
            if isinstance(layer, Layer):
                shape = layer.compute_output_shape(shape)
            else:
                shape = infer_output_shape(layer, shape)
        return shape

    def output_shape_or_none(self) -> Optional[Shape]:
        return self._output_shape

    # ----------------------------------------------------------------- inspection
    def summary_rows(self) -> List[summary_mod.Row]:
        rows = []
        for name, layer in self._layer_dict.items():
            rows.append((layer, f"{name} ({type(layer).__name__})", summary_mod.format_shape(self._shapes.get(name))))
        return rows

    def get_config(self) -> Dict[str, Any]:
        """`{'name', 'layers', 'build_input_shape'}`; `Sequential.from_config` rebuilds it.

        As in Keras, a model whose input shape is known (an `Input`, a first layer with
        `input_shape=`, or built by `build(shape)`, a call or fit) lists an `InputLayer` first
        with that batch shape, batch entry included, and writes it again as
        `build_input_shape` while the model has layers; so the rebuilt model is built with
        the same shapes. Plain torch modules have no config and make this raise `TypeError`.
        """
        layers = []
        source = self._config_input()
        if source is not None:
            layers.append(layer_entry(source))
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Sequential.get_config cannot describe the plain torch module {type(layer).__name__}; "
                    "only kerasish layers have configs. Save weights with save_weights() instead."
                )
            layers.append(layer_entry(layer))
        config: Dict[str, Any] = {"name": self.name, "layers": layers}
        if source is not None and self._layer_dict:
            # Keras writes it only for a model with layers built on its input (a model popped
            # down to its input keeps the InputLayer entry alone).
            config["build_input_shape"] = list(source.shape)
        return config

    def _config_input(self) -> Optional[InputLayer]:
        """The InputLayer that `get_config` lists: the user's `Input`, else one for the shape
        the model was built for (None while unbuilt)."""
        if self._input_layer is not None:
            return self._input_layer
        # A model first built from a fit/predict batch records the shape it checks batches
        # against: feature axes pinned, sequence axes free (see expected_input_shape), so the
        # rebuilt model accepts the same batches the original does.
        shape = self.expected_input_shape()
        if shape is None:
            return None
        made = self._auto_input
        if made is not None and made.shape == tuple(shape):
            return made
        return InputLayer(batch_shape=tuple(shape), name=made.name if made is not None else "input_layer")

    @classmethod
    def from_config(cls, config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None) -> "Sequential":
        """A new Sequential (fresh weights, uncompiled) from `get_config()`'s dict (or Keras's);
        custom layers are found as `load_model` finds them (registry, `custom_objects`, scope)."""
        from kerasish.utils.object_registration import CustomObjectScope

        with CustomObjectScope(custom_objects or {}):
            return layers_from_config(cls, config, custom_objects, sequential=True)

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self._layer_dict)


def _standard_shape(shape: Any) -> Shape:
    """`shape` as a tuple of ints and Nones (a list, a torch.Size or NumPy ints are accepted)."""
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"Sequential.build expects one input shape, a tuple of ints and None with the batch entry first, "
            f"received input_shape={shape!r}. Example: model.build((None, 784))."
        ) from None
