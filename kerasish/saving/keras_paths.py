"""Where each kerasish weight lives in a Keras 3 `.weights.h5` file.

Keras 3 writes a model's state by walking its object tree (`saving_lib._save_state`): every
object that holds state gets a group `<path>/vars` (with a `name` attribute) whose datasets
`"0"`, `"1"`, ... are the object's *own* variables, trainable ones first; its sublayers
follow at `<path>/<attribute>`. The paths are built from the tree, not from layer names:

- a Functional or Sequential model lists `layers/<name>` for each of `model.layers`, where
  `<name>` is the snake-cased *class* name made unique in list order (`dense`, `dense_1`,
  ...), so two instances of the same architecture share their paths;
- any other layer or a subclassed model lists its attributes in sorted order, private ones
  (`_x`) last; a list of layers is a container whose items are named like `layers/` items; a
  subclassed model also has the container `layers` (all its tracked layers), and an object
  reached a second time is skipped (its first path holds it);
- a few built-in layers are shaped differently in kerasish than in Keras, and are mapped here:
  SimpleRNN/LSTM/GRU keep their weights under `cell/` in Keras; MultiHeadAttention's projections
  are `query_dense`, `key_dense`, `value_dense`, `output_dense` (public aliases win the sort);
  SpectralNormalization stores the wrapped kernel again as its own `vars/0` (then `vector_u`);
  TorchModuleWrapper stores the wrapped module's `state_dict()` under its keys.

A layer whose class (the user's) defines `save_own_variables` / `load_own_variables` stores
in its `<path>/vars` group what that hook writes, as Keras calls it (`keras_weights`); its
sublayers keep their own groups.

Keras stores no seed-generator state in this file. Optimizer variables sit at `optimizer/vars`
of a compiled model; they are not weights, and `keras_optimizer` maps them.
Lookup layers in `"tf_idf"` mode store `idf_weights`, which kerasish does not map: they are
refused with an error that names the layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import torch
from torch import nn

from kerasish.layers.layer import Layer
from kerasish.layers.weight_layout import KerasLayout, layouts_under

_RNN_WITH_OWN_CELL = ("SimpleRNN", "LSTM", "GRU")
_MHA_ALIASES = {"_query_dense": "query_dense", "_key_dense": "key_dense", "_value_dense": "value_dense",
                "_output_dense": "output_dense"}
_LOOKUPS = ("StringLookup", "IntegerLookup", "TextVectorization")


@dataclass(frozen=True)
class KerasEntry:
    """One dataset of a Keras weights file and the kerasish tensor it holds.

    Attributes:
        group: the HDF5 group, e.g. `'layers/dense/vars'`.
        key: the dataset's name in that group, e.g. `'0'`.
        tensor: the kerasish parameter or buffer (torch's layout).
        layout: how `tensor` maps to Keras's layout, or None when it is stored as it is.
        layer: the kerasish layer's name, for messages.
    """

    group: str
    key: str
    tensor: torch.Tensor
    layout: Optional[KerasLayout]
    layer: str

    @property
    def path(self) -> str:
        return f"{self.group}/{self.key}"


def keras_snake_case(name: str) -> str:
    """A class name as Keras's saving code spells it in paths: `'Conv2D'` -> `'conv2d'`,
    `'PReLU'` -> `'p_re_lu'`, `'LSTM'` -> `'lstm'`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _sort_key(attribute: str) -> str:
    # Keras sorts attribute names with private ones last.
    return "~" + attribute if attribute.startswith("_") else attribute


def _class_names(obj: Any) -> List[str]:
    return [c.__name__ for c in type(obj).__mro__ if c.__module__.startswith("kerasish.")]


def _model_kind(layer: Any) -> Optional[str]:
    """'Functional', 'Sequential', 'Model' (subclassed) or None for a plain layer. Found by class
    name, because kerasish.saving never imports kerasish.models."""
    names = [c.__name__ for c in type(layer).__mro__ if c.__module__.startswith("kerasish.models")]
    for kind in ("Sequential", "Functional", "Model"):
        if kind in names:
            return kind
    return None


def _is_user_torch_module(module: Any) -> bool:
    """A plain torch module with state (not a kerasish layer, container or helper such as a seed
    generator, whose state Keras does not store in this file)."""
    return (isinstance(module, nn.Module) and not isinstance(module, Layer)
            and not isinstance(module, (nn.ModuleList, nn.ModuleDict, nn.Sequential))
            and not type(module).__module__.startswith("kerasish.")
            and len(module.state_dict()) > 0)


#: Keras's saving hooks a user's layer may define; `keras_weights` and `keras_assets` call them.
SAVING_HOOKS = ("save_own_variables", "load_own_variables", "save_assets", "load_assets")


def user_hooks(obj: Any, hooks: Tuple[str, ...] = SAVING_HOOKS) -> List[str]:
    """The hooks among `hooks` that a user's class (not kerasish's, torch's or Python's) defines on `obj`."""
    users = [k for k in type(obj).__mro__
             if k.__module__.split(".")[0] not in ("kerasish", "torch", "builtins")]
    return [h for h in hooks if any(h in vars(k) for k in users)]


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


class _Walker:
    def __init__(self, root: nn.Module) -> None:
        self.layouts: Dict[int, KerasLayout] = layouts_under(root)
        self.entries: List[KerasEntry] = []
        self.groups: List[Tuple[str, str]] = []  # (vars group, name attribute), in visiting order
        self.model_paths: List[str] = []
        self.layers: List[Tuple[str, Layer]] = []  # (path, layer), in visiting order
        self.visited: Set[int] = set()

    # -- helpers
    def _add(self, group: str, key: str, tensor: torch.Tensor, layer: Layer, raw: bool = False) -> None:
        # raw: a torch module's state_dict entry, which Keras stores in torch's layout.
        layout = None if raw else self.layouts.get(id(tensor))
        self.entries.append(KerasEntry(group, key, tensor, layout, layer.name))

    def _own_weights(self, layer: Layer) -> List[torch.Tensor]:
        inner: Set[int] = set()
        for m in layer.modules():
            if m is not layer and isinstance(m, Layer):
                inner.update(id(w) for w in m.weights)
        for _, m in layer.named_children():
            if _is_user_torch_module(m):
                inner.update(id(t) for t in m.state_dict(keep_vars=True).values())
        return [w for w in layer.weights if id(w) not in inner]

    def _torch_module(self, module: nn.Module, path: str, owner: Layer) -> None:
        # Keras (torch backend) wraps a plain torch module set on a layer in a TorchModuleWrapper,
        # which stores the module's state_dict under its keys.
        if id(module) in self.visited:
            return
        self.visited.add(id(module))
        group = _join(path, "vars")
        self.groups.append((group, "torch_module_wrapper"))
        for key, tensor in module.state_dict(keep_vars=True).items():
            self._add(group, key, tensor, owner, raw=True)

    def _own(self, layer: Layer, group: str, weights: List[torch.Tensor]) -> None:
        for i, w in enumerate(weights):
            self._add(group, str(i), w, layer)

    # -- the walk
    def visit(self, layer: nn.Module, path: str) -> None:
        if id(layer) in self.visited or not isinstance(layer, Layer):
            return
        self.visited.add(id(layer))
        self.layers.append((path, layer))
        names = _class_names(layer)
        group = _join(path, "vars")
        self.groups.append((group, layer.name))
        kind = _model_kind(layer)
        if kind is not None:
            self.model_paths.append(path)
        if any(n in _LOOKUPS for n in names) and getattr(layer, "output_mode", None) == "tf_idf":
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}, output_mode='tf_idf') keeps its idf_weights, which "
                "Keras's .weights.h5 stores as a dataset that kerasish does not map. Save this model in kerasish's "
                "own format (model.save('model.kerasish') or save_weights('w.safetensors')) instead."
            )
        if "TorchModuleWrapper" in names:
            for key, tensor in layer.module.state_dict(keep_vars=True).items():
                self._add(group, key, tensor, layer, raw=True)
            return
        if "SpectralNormalization" in names and layer.built:
            self._own(layer, group, [layer._kernel(), layer.vector_u])
        elif any(n in _RNN_WITH_OWN_CELL for n in names) and not isinstance(layer._modules.get("cell"), Layer):
            # Keras's SimpleRNN/LSTM/GRU hold a cell layer with the weights; kerasish's hold them directly.
            cell_group = _join(path, "cell", "vars")
            self.groups.append((cell_group, f"{keras_snake_case(type(layer).__name__)}_cell"))
            self._own(layer, cell_group, self._own_weights(layer))
        else:
            self._own(layer, group, self._own_weights(layer))
        self._children(layer, path, kind, names)

    def _children(self, layer: nn.Module, path: str, kind: Optional[str], names: List[str]) -> None:
        if kind in ("Functional", "Sequential"):
            self._container(list(layer.layers), _join(path, "layers"))
            return
        children: List[Tuple[str, Any]] = list(layer.named_children())
        if kind == "Model":
            children.append(("layers", list(layer.layers)))
        aliases = _MHA_ALIASES if "MultiHeadAttention" in names else {}
        children = [(aliases.get(n, n), c) for n, c in children]
        for attribute, child in sorted(children, key=lambda pair: _sort_key(pair[0])):
            child_path = _join(path, attribute)
            if isinstance(child, Layer):
                self.visit(child, child_path)
            elif _is_user_torch_module(child):
                self._torch_module(child, child_path, layer)
            elif isinstance(child, (list, tuple, nn.ModuleList, nn.Sequential)):
                self._container(list(child), child_path)
            elif isinstance(child, nn.ModuleDict):
                self._container(list(child.values()), child_path)

    def _container(self, items: List[Any], path: str) -> None:
        used: Dict[str, int] = {}

        def unique(base: str) -> str:
            if base in used:
                used[base] += 1
                return f"{base}_{used[base]}"
            used[base] = 0
            return base

        for item in items:
            if isinstance(item, Layer):
                self.visit(item, _join(path, unique(keras_snake_case(_keras_class_name(item)))))
            elif isinstance(item, (list, tuple, nn.ModuleList, nn.Sequential, nn.ModuleDict)):
                inner = list(item.values()) if isinstance(item, nn.ModuleDict) else list(item)
                self._container(inner, _join(path, unique("container")))


def _keras_class_name(layer: Layer) -> str:
    kind = _model_kind(layer)
    if kind in ("Functional", "Sequential") and type(layer).__module__.startswith("kerasish.models"):
        return kind
    return type(layer).__name__


@dataclass
class KerasFileLayout:
    """What a model looks like in a Keras weights file (see `keras_layout`)."""

    entries: List[KerasEntry]
    groups: List[Tuple[str, str]]
    model_paths: List[str]
    #: every layer with its path (the `<path>` of its `<path>/vars` group, and of `assets/<path>/`)
    layers: List[Tuple[str, Layer]] = field(default_factory=list)

    def hooked(self, hook: str) -> Dict[str, Layer]:
        """`{vars group: layer}` for each layer whose user class defines `hook` (e.g.
        `'save_own_variables'`): that group holds what the hook stores instead of the defaults."""
        return {_join(path, "vars"): layer for path, layer in self.layers if user_hooks(layer, (hook,))}


def keras_layout(model: nn.Module) -> KerasFileLayout:
    """Every dataset `model` has in a Keras 3 weights file, the groups Keras creates, and the paths
    of its (nested) models.

    Args:
        model: a built kerasish layer or model.

    Returns:
        The entries in Keras's visiting order (a tensor may appear twice: SpectralNormalization's
        kernel), the `vars` groups with their `name` attributes, and the model paths.

    Raises:
        ValueError: for a layer whose state Keras stores in a form kerasish does not map.
    """
    walker = _Walker(model)
    walker.visit(model, "")
    return KerasFileLayout(walker.entries, walker.groups, walker.model_paths, walker.layers)


def keras_weight_paths(layer: nn.Module) -> List[Tuple[str, str]]:
    """(HDF5 group, dataset name) of each of `layer.get_weights()`, as Keras 3 writes them for
    this layer saved on its own (prefix a model's path, e.g. `layers/lstm/`, for one inside a model).

    Example:
        >>> from kerasish import layers
        >>> lstm = layers.LSTM(2)
        >>> lstm.build((None, 3, 4))
        >>> keras_weight_paths(lstm)
        [('cell/vars', '0'), ('cell/vars', '1'), ('cell/vars', '2')]
    """
    first: Dict[int, Tuple[str, str]] = {}
    for e in keras_layout(layer).entries:
        first.setdefault(id(e.tensor), (e.group, e.key))
    return [first[id(w)] for w in layer.weights if id(w) in first]
