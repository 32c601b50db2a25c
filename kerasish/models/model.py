"""Model: Keras's compile/fit/evaluate/predict on any torch module.

Three ways to get one:

- `Sequential([...])`, a stack of layers (see `sequential.py`).
- `Model(module)`: wraps ANY `torch.nn.Module`; its own `forward` is used as is.
- Subclassing: define layers in `__init__` and the computation in `call` (or `forward`);
  or construct a subclass as `CustomModel(inputs, outputs)` (a functional model with the
  subclass's methods).

`Model` is `Trainer` + `Layer`: `compile`/`fit`/`evaluate`/`predict` and the overridable
`train_step`/`test_step`/`predict_step`/`compute_loss`/`compute_metrics` come from
`kerasish.training.model_trainer.Trainer`; the loops live in `kerasish.training.trainer`.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from kerasish import config
from kerasish.utils.tree import first_leaf, map_structure, move
from kerasish.layers import auto_config, call_context
from kerasish.layers.calling import probing_first_batch
from kerasish.layers.layer import Layer, Shape, record_arguments, to_snake_case, unique_name
from kerasish.layers.layer_utils import state_restore, state_snapshot
from kerasish.layers.symbolic import is_symbolic
from kerasish.layers.weight_layout import assign_keras_arrays, keras_arrays
from kerasish.models import summary as summary_mod
from kerasish.random.seed_generator import global_seed_kept
from kerasish.training import kept_logits
from kerasish.training.compile_config import CompileConfig
from kerasish.training.model_trainer import Trainer


class Model(Trainer, Layer):
    """A trainable model with Keras's API over torch modules.

    Args:
        module: a `torch.nn.Module` to wrap. Omit it when subclassing. Defaults to `None`.
        name: the model's name. Defaults to `None` ('model', 'model_1', ...).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        >>> model = Model(net)
        >>> model.compile(optimizer="adam", loss="mse", device="cpu")
        >>> history = model.fit(np.ones((16, 4)), np.zeros((16, 1)), epochs=2, verbose=0)
        >>> len(history.history["loss"])
        2
    """

    _passes_mask_to_layers = True
    _path_needs_own_build = False  # a built model has a path, as in Keras, whatever its class defines
    #: The fix that errors about an unbuilt model give.
    _how_to_build = "Call the model on a batch first (model(x), or fit/evaluate/predict), which builds its layers."

    def __new__(cls, *args: Any, **kwargs: Any) -> "Model":
        # Model(inputs, outputs) builds a functional model, as in Keras; so does a subclass
        # constructed that way (`CustomModel(inputs, outputs)`): it becomes a Functional
        # model whose methods (train_step, ...) are the subclass's.
        if _functional_arguments(args, kwargs):
            from kerasish.models.functional import Functional

            if cls is Model:
                return object.__new__(Functional)
            if not issubclass(cls, Functional):
                return object.__new__(_functional_subclass(cls, Functional))
        return record_arguments(object.__new__(cls), args, kwargs)

    def __init__(self, module: Optional[nn.Module] = None, *args: Any, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        if module is not None and not isinstance(module, nn.Module):
            raise TypeError(
                f"Model(module) expects a torch.nn.Module, received {module!r} of type {type(module).__name__}. "
                "Wrap your network as Model(my_module), or build a Sequential."
            )
        super().__init__(name=name or unique_name(to_snake_case(type(self).__name__)), **kwargs)
        self.module = module
        self._compile_config: Optional[CompileConfig] = None
        self._device: Optional[torch.device] = None
        self._output_shape: Optional[Shape] = None
        self.stop_training = False
        self.history: Any = None
        if module is not None:
            self.built = True

    # ----------------------------------------------------------------- forward
    def call(self, *args: Any, **kwargs: Any) -> Any:
        if self.module is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no call(): a subclass of kerasish.Model must define "
                "call(self, inputs) or forward(self, inputs), or wrap a module with Model(module)."
            )
        return self.module(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        keep = call_context.state().keep_logits
        if keep is not None and keep[0] is self and len(args) == 1 and not kwargs \
                and not torch.is_inference_mode_enabled():  # inference tensors have no version counter
            # fit is running this model's own train_step/test_step: keep the logits for compute_loss.
            return kept_logits.call(self, args[0], keep[1], keep[2])
        return self.call(*args, **kwargs)

    forward._calls_call = True  # type: ignore[attr-defined]  # it runs `call` (see calling.step_forward)

    def forward_logits(self, x: Any) -> Any:
        """Pre-activation outputs (see `logits_activation`); the model's output otherwise."""
        return self(x)

    def call_logits(self, inputs: Any) -> Any:
        """A model nested as the last layer of another (a Sequential ending in a functional
        model) gives its logits the same way."""
        return self.forward_logits(inputs)

    def logits_activation(self) -> Optional[str]:
        """'softmax'/'sigmoid' if the model ends in that activation and can skip it for the loss."""
        return None

    def regularization_losses(self) -> List[torch.Tensor]:
        """Penalties of every layer's weight regularisers (added to the training loss)."""
        out: List[torch.Tensor] = []
        for m in self.modules():
            if isinstance(m, Layer):
                out.extend(m._regularization_losses())
        return out

    # ----------------------------------------------------------------- state
    @property
    def device(self) -> torch.device:
        if self._device is None:
            self._device = config.default_device()
        return self._device

    def ensure_device(self) -> None:
        """Moves the model to its device when some weight or buffer is elsewhere (on first use).

        Nothing is moved (or reassigned) when everything is already there, so a `predict` in one
        thread does not rewrite the parameters a `fit` in another thread is stepping."""
        device = self.device
        for t in itertools.chain(self.parameters(), self.buffers()):
            if t.device.type != device.type or (device.index is not None and t.device.index != device.index):
                self.to(device)
                return

    def casts_integer_inputs(self) -> bool:
        """Whether integer x is cast to float (False when the model starts with an embedding)."""
        return False

    def expected_input_shape(self) -> Optional[Shape]:
        return None

    def accepts_strings(self) -> bool:
        """Whether x may be strings (the model starts with a TextVectorization layer)."""
        return False

    def output_shape_or_none(self) -> Optional[Shape]:
        return self._output_shape

    @property
    def output_shape(self) -> Optional[Shape]:
        return self._output_shape

    def ensure_built(self, x: Any) -> None:
        """Builds lazy layers and learns the output shape by running 2 samples of `x`, the first
        batch (eval, no grad).

        As Keras, the model and each layer built here are built for the first batch's shape, batch
        size included (`get_build_config()`, the `input_shape` a `build()` receives), although the
        probe runs 2 of its rows (Keras's build pass is symbolic)."""
        if self.built and not self._has_unbuilt_layers() and (
                self._output_shape is not None or (self.module is None and type(self).call is Model.call)):
            return  # nothing to learn (a model with only a custom train_step has no call to run)
        sample = move(map_structure(lambda t: t[:2], x), self.device)
        leaf = first_leaf(x)
        rows = int(leaf.shape[0]) if getattr(leaf, "ndim", 0) else 0
        self.to(self.device)
        was_training = self.training
        self.eval()
        # The probe must change nothing Keras's build leaves alone: seed generators, non-trainable
        # variables, statistics (a custom layer's call may move them) and the global random stream.
        saved = state_snapshot(self)
        try:
            with torch.no_grad(), global_seed_kept(), probing_first_batch(min(rows, 2), rows):
                out = self(*sample) if isinstance(sample, (list, tuple)) else self(sample)
        except (RuntimeError, ValueError, TypeError) as e:
            raise ValueError(
                f"Model {self.name!r} failed on a sample of the input (x samples of shape "
                f"{tuple(first_leaf(x).shape[1:])}, dtype {first_leaf(x).dtype}): {e}. Check that x matches "
                "what the model's forward expects."
            ) from e
        finally:
            self.train(was_training)
            state_restore(saved)
        self.built = True
        self.to(self.device)
        first = out
        while isinstance(first, (list, tuple)):
            first = first[0]
        if isinstance(first, torch.Tensor):
            self._output_shape = (None,) + tuple(first.shape[1:])

    def _has_unbuilt_layers(self) -> bool:
        return any(isinstance(m, Layer) and not m.built for m in self.modules() if m is not self)

    # ----------------------------------------------------------------- inspection
    def summary_rows(self) -> List[summary_mod.Row]:
        """`(layer, "name (Class)", output shape)` for each direct child, as `summary()` lists them."""
        rows = []
        children = [self.module] if self.module is not None and not list(self.module.children()) else (
            list(self.module.named_children()) if self.module is not None else list(self.named_children()))
        for item in children:
            name, child = item if isinstance(item, tuple) else (to_snake_case(type(item).__name__), item)
            shape = "?"
            nodes = getattr(child, "_inbound_nodes", None)
            if nodes and len(nodes) == 1 and len(nodes[0].outputs) == 1:
                shape = summary_mod.format_shape(nodes[0].outputs[0].shape)
            elif not nodes and getattr(child, "built", False):
                # As Keras: a built layer never called on symbolic tensors shows what its build shape gives.
                known = getattr(child, "output_shape", None)
                if known is None and getattr(child, "_build_input_shape", None) is not None:
                    try:
                        known = child.compute_output_shape(child._build_input_shape)
                    except NotImplementedError:
                        known = None
                if known is not None:
                    shape = summary_mod.format_shape(known)
            rows.append((child, f"{getattr(child, 'name', name)} ({type(child).__name__})", shape))
        return rows

    def summary(self, line_length: Optional[int] = None, positions: Optional[Sequence[float]] = None,
                print_fn: Optional[Callable[[str], Any]] = None, expand_nested: bool = False,
                show_trainable: bool = False, layer_range: Optional[Sequence[str]] = None) -> None:
        """Prints Keras 3's summary table: layers, output shapes, parameter counts and sizes.

        An unbuilt model prints its layers with '?' shapes and '0 (unbuilt)' counts, as Keras does.

        Args:
            line_length: total width. Defaults to `None` (Keras's: 88, or 108 with connections,
                at most the terminal's width - 4).
            positions: the columns' right edges, as fractions of the line or absolute. Defaults
                to `None` (Keras's).
            print_fn: called with the text. Defaults to `None` (print).
            expand_nested: list the layers of nested models too. Defaults to `False`.
            show_trainable: add a column saying whether each layer is trainable. Defaults to `False`.
            layer_range: `[first, last]` name patterns: only the layers between them. Defaults to `None`.
        """
        summary_mod.print_summary(self, self.summary_rows(), self._summary_connections(), line_length=line_length,
                                  positions=positions, print_fn=print_fn, expand_nested=expand_nested,
                                  show_trainable=show_trainable, layer_range=layer_range)

    def _summary_connections(self) -> Optional[List[str]]:
        """The 'Connected to' column (functional models), or None."""
        return None

    @property
    def layers(self) -> List[nn.Module]:
        """The layers this model holds directly (a subclassed model's attributes), in creation order."""
        found: List[nn.Module] = []
        for child in self.children():
            inner = child.children() if isinstance(child, (nn.ModuleList, nn.ModuleDict)) else [child]
            found += [m for m in inner if isinstance(m, Layer) and all(m is not f for f in found)]
        return found

    @layers.setter
    def layers(self, _: Any) -> None:
        raise AttributeError("Model.layers is reserved (it lists the model's layers), as in Keras. Store your list "
                             "of layers under another name, e.g. self.blocks = [...].")

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> nn.Module:
        """A layer by its unique name, or by its index in `model.layers` (as Keras).

        Raises:
            ValueError: for both or neither of `name` and `index`, an index past the last layer,
                or an unknown name (the message lists the model's layer names).
        """
        if index is not None and name is not None:
            raise ValueError(f"get_layer takes a layer name or a layer index, not both. Received: index={index!r}, "
                             f"name={name!r}.")
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range, the model has {len(layers)} layers.")
            return layers[index]
        if name is not None:
            for layer in layers:
                if getattr(layer, "name", None) == name:
                    return layer
            from kerasish.utils.text import unknown_name_message

            raise ValueError(unknown_name_message("layer", name, [getattr(m, "name", "?") for m in layers]))
        raise ValueError("get_layer needs a layer name or a layer index, e.g. model.get_layer('dense') or "
                         "model.get_layer(index=0).")

    def count_params(self) -> int:
        """The number of scalars in the model's weights (trainable, frozen and state).

        Raises:
            ValueError: if the model is not built yet. As in Keras, a subclassed model is built by
                its first call (or `build`, `fit`, `predict`), even when its layers already are.
        """
        if not self.built:
            raise ValueError(
                f"count_params() was called on model {self.name!r}, which is not built yet, so its weights are "
                f"not all known. {self._how_to_build}"
            )
        return sum(p.numel() for p in self.parameters())

    def get_weights(self) -> List[np.ndarray]:
        """Every weight as a NumPy array, in Keras's order (`model.weights`) and layout.

        Convolution and recurrent kernels, which kerasish stores in torch's layout, come out
        in Keras's (`(kh, kw, in, out)`, `(features, 4 * units)` ...), so
        `model.set_weights(keras_model.get_weights())` copies a Keras model of the same
        architecture.
        """
        return keras_arrays(self, self.weights)

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Sets every weight from arrays in `get_weights()`'s order and Keras's layout.

        Raises:
            ValueError: for a different number of arrays or a shape that differs (nothing changes then).
        """
        assign_keras_arrays(self, self.weights, weights, f"Model {self.name!r}")

    # ----------------------------------------------------------------- saving
    @classmethod
    def from_config(cls, config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None) -> "Model":
        """Rebuilds a model from `get_config()`, resolving class names through `custom_objects` too.
        A functional model's config (layers, inputs and outputs) gives a functional model, as
        `keras.Model.from_config` does."""
        from kerasish.utils.object_registration import CustomObjectScope

        with CustomObjectScope(custom_objects or {}):
            if cls is Model and {"layers", "input_layers", "output_layers"} <= set(config):
                return layers_from_config(cls, config, custom_objects, sequential=False)
            return cls(**config)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON (no weights); `kerasish.models.model_from_json` rebuilds it."""
        from kerasish.saving.serialization import model_to_json

        return model_to_json(self, **kwargs)

    def save(self, filepath: str, overwrite: bool = True, zipped: Optional[bool] = None) -> None:
        """Writes the whole model to one file: `.keras` (Keras 3's format, which Keras opens) or
        `.kerasish` (kerasish's, which also keeps the exact optimizer state and plain torch modules);
        `zipped=False` writes the `.keras` content into the folder `filepath`, as Keras does."""
        from kerasish import saving

        saving.save_model(self, filepath, overwrite=overwrite, zipped=zipped)

    def save_weights(self, filepath: str, overwrite: bool = True, max_shard_size: Optional[float] = None) -> None:
        """Writes the weights: `.weights.h5` (Keras 3's layout, which Keras loads) or `.safetensors`;
        with `max_shard_size` (GB), Keras's sharded `.weights.json` index plus shards."""
        from kerasish import saving

        saving.save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def export(self, filepath: str, format: str = "torchscript", sample_input: Any = None) -> None:
        """Exports the model for inference without kerasish.

        Args:
            filepath: where to write.
            format: 'torchscript', 'onnx' (needs the onnx package) or 'torch_export'
                (`torch.export`, a `.pt2` file). Defaults to `'torchscript'`.
            sample_input: an example batch used for tracing. Defaults to `None` (zeros of
                the model's input shape, batch of 1).
        """
        from kerasish import export as export_mod

        export_mod.export_model(self, filepath, format=format, sample_input=sample_input)

    def load_weights(self, filepath: str, skip_mismatch: bool = False, by_name: bool = False) -> None:
        """Loads weights from a `.weights.h5` (Keras's or ours), `.safetensors`, `.keras`, `.kerasish`
        or legacy tf.keras `.h5` file, checking shapes; `skip_mismatch=True` skips layers whose shapes
        differ, with a warning, as Keras does; `by_name=True` matches legacy `.h5` layers by name."""
        from kerasish import saving

        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch, by_name=by_name)


_functional_classes: Dict[type, type] = {}


# Keras's Model constructor records no `module` (kerasish's wrapper argument) in its automatic config.
auto_config.register_base(Model.__init__, {"module": None})


def layer_entry(layer: Any) -> Dict[str, Any]:
    """One layer of a Sequential or functional config, in Keras's envelope: `module`,
    `class_name`, `config` and `registered_name` (so a registered custom layer is found by
    its registered name when the config is rebuilt). Layers and other objects inside the
    layer's config are described too, as Keras does, so a rebuilt model never shares them."""
    from kerasish.saving.keras_objects import serialize_nested
    from kerasish.utils.object_registration import get_registered_name, is_builtin

    cls = type(layer)
    return {"class_name": cls.__name__, "config": serialize_nested(layer.get_config()), "module": cls.__module__,
            "registered_name": None if is_builtin(cls) else get_registered_name(cls)}


def layers_from_config(cls: type, config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]],
                       sequential: bool) -> "Model":
    """The Sequential (`sequential=True`, built as `cls`) or functional model, fresh weights and
    uncompiled, that `config` describes: kerasish's `get_config()`, or Keras's. Layer classes
    are found in the registry, `custom_objects` and any open `custom_object_scope`, as
    `load_model` finds them."""
    # Lazy: saving imports no models module, so models reach saving only inside calls.
    from kerasish.saving import keras_config, serialization

    what = "Sequential" if sequential else "Model"
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(
            f"{what}.from_config expects the dict model.get_config() returns, with a 'layers' list; received "
            f"{str(config)[:200]} of type {type(config).__name__}. Pass model.get_config() unchanged."
        )
    if keras_config.written_by_keras(config):
        # Keras's in-memory config holds tuples where its JSON (what the loader reads) has lists.
        return keras_config.from_keras_config(json.loads(json.dumps(config)), custom_objects, compile=False)
    if sequential:
        layers = [serialization.deserialize_object(e, custom_objects) for e in config["layers"]]
        model = cls(layers, name=config.get("name"))
        shape = config.get("build_input_shape")
        if not model.built and shape is not None:
            model.build(tuple(shape))
        return model
    envelope = {"module": "kerasish.models", "class_name": "Functional", "config": config, "registered_name": None}
    return serialization.deserialize_model(envelope, custom_objects)


def _functional_subclass(cls: type, functional: type) -> type:
    """`cls` with Functional between it and Model, so `cls(inputs, outputs)` is functional."""
    made = _functional_classes.get(cls)
    if made is None:
        made = type(cls.__name__, (cls, functional), {"__module__": cls.__module__,
                                                       "__qualname__": cls.__qualname__})
        _functional_classes[cls] = made
    return made


def _functional_arguments(args: Any, kwargs: Dict[str, Any]) -> bool:
    """Whether a Model is being built as Model(inputs, outputs): symbolic tensors given."""
    first = args[0] if args else kwargs.get("inputs")
    if first is None:
        return False
    if isinstance(first, dict):
        first = list(first.values())
    return is_symbolic(first)
