"""Functional models: `Model(inputs, outputs)` over a graph of layer calls.

The graph is recorded when layers are called on KerasTensors (see
`kerasish.layers.symbolic`). The model keeps each distinct layer once (a layer called
twice shares its weights) and replays the recorded nodes, in topological order, on
real tensors.
"""

from __future__ import annotations

import functools
import warnings

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from kerasish import activations, tree
from kerasish.layers.core import Input, InputLayer
from kerasish.layers.layer import Layer, Shape
from kerasish.layers.op_layer import OpLayer
from kerasish.layers.symbolic import KerasTensor, Node, map_symbolic
from kerasish.models import call_args
from kerasish.models import summary as summary_mod
from kerasish.models.layer_dict import LayerDict
from kerasish.models.model import Model, layer_entry


class NestedOutputs:
    """The output kind of a model whose outputs nest lists, tuples or dicts (Keras allows any structure,
    e.g. `[layer.output for layer in ...]` of layers that return two tensors): `structure` holds each
    output's position in the flat list, and the model returns its outputs packed the same way."""

    __slots__ = ("structure",)

    def __init__(self, structure: Any) -> None:
        self.structure = structure


def _is_nested(structure: Any) -> bool:
    return isinstance(structure, (list, tuple)) and any(isinstance(t, (list, tuple, dict)) for t in structure)


def _as_list(structure: Any, what: str) -> Tuple[List[KerasTensor], Any]:
    if isinstance(structure, KerasTensor):
        return [structure], "single"
    if what == "outputs" and _is_nested(structure):
        items = tree.flatten(structure)
        kind: Any = NestedOutputs(tree.pack_sequence_as(structure, list(range(len(items)))))
    elif isinstance(structure, dict):
        items = list(structure.values())
        kind = ("dict", list(structure))
    elif isinstance(structure, (list, tuple)):
        items = list(structure)
        kind = "list"
    else:
        raise TypeError(
            f"Model {what} must be KerasTensors (from Input(...) or a layer call), or a list/dict of them; "
            f"received {structure!r} of type {type(structure).__name__}."
        )
    for t in items:
        if not isinstance(t, KerasTensor):
            raise TypeError(
                f"Every model {what[:-1]} must be a KerasTensor, received {t!r} of type {type(t).__name__}. "
                "Use the outputs of Input(...) and of layer calls."
            )
    return items, kind


def _warn_on_renamed_inputs(inputs: Dict[str, KerasTensor]) -> None:
    """Keras's warning for a dict of inputs whose keys are not the tensors' names: x is read by key."""
    for key, tensor in inputs.items():
        if key != tensor.name:
            warnings.warn(
                "When providing `inputs` as a dict, all keys in the dict must match the names of the "
                f"corresponding tensors. Received key {key!r} mapping to value {tensor} which has name "
                f"{tensor.name!r}. Change the tensor name to {key!r} (via `Input(..., name={key!r})`)",
                stacklevel=3,
            )


def _topological_nodes(inputs: List[KerasTensor], outputs: List[KerasTensor]) -> List[Node]:
    """Nodes needed to compute `outputs` from `inputs`, each after the nodes it reads."""
    input_ids = {id(t) for t in inputs}
    order: List[Node] = []
    state: Dict[int, int] = {}  # 1 visiting, 2 done

    def visit(tensor: KerasTensor) -> None:
        if id(tensor) in input_ids:
            return
        node = tensor.node
        if node is None or isinstance(node.layer, InputLayer):
            raise ValueError(
                f"Graph disconnected: the tensor {tensor.name!r} (shape {tensor.shape}) is needed to compute the "
                f"outputs but is not among the model's inputs {[t.name for t in inputs]}. Pass every Input the "
                "outputs depend on in inputs=[...]."
            )
        if state.get(id(node)) == 2:
            return
        state[id(node)] = 1
        for t in node.flat_inputs:
            visit(t)
        state[id(node)] = 2
        order.append(node)

    for t in outputs:
        visit(t)
    return order


def _clone_from_new_inputs(inputs: List[KerasTensor],
                           outputs: List[KerasTensor]) -> Tuple[List[KerasTensor], List[KerasTensor]]:
    """A graph whose inputs include tensors computed by layers (`Model(normalizer(x), ...)`) starts, as
    Keras's does, at a new InputLayer for each of them (named `<tensor name>CLONE`), with the calls
    between inputs and outputs recorded again from there: the layers before the cut are not part of
    the model (not in `model.layers`, its weights or its summary), as in Keras."""
    new: Dict[int, KerasTensor] = {}
    for t in inputs:
        if isinstance(getattr(t.node, "layer", None), InputLayer):
            new[id(t)] = t
        else:
            new[id(t)] = Input(batch_shape=tuple(t.shape), dtype=t.dtype, name=f"{t.name}CLONE")
    for node in _topological_nodes(inputs, outputs):
        if isinstance(node.layer, InputLayer):
            continue
        args = map_symbolic(lambda t: new[id(t)], node.args)
        kwargs = map_symbolic(lambda t: new[id(t)], node.kwargs)
        produced = node.layer(*args, **kwargs)
        flat = [t for t in tree.flatten(produced) if isinstance(t, KerasTensor)]
        if len(flat) != len(node.outputs):
            raise ValueError(
                f"Re-recording layer {node.layer.name!r} from the model's new inputs gave {len(flat)} outputs where "
                f"its first call gave {len(node.outputs)}. Build the model from Input(...) tensors instead."
            )
        for old, again in zip(node.outputs, flat):
            new[id(old)] = again
    return [new[id(t)] for t in inputs], [new[id(t)] for t in outputs]


def keras_layer_order(inputs: List[KerasTensor], outputs: List[KerasTensor]) -> List[nn.Module]:
    """The graph's layers in the order Keras lists them (`model.layers`, and so `model.weights`,
    `get_weights()` and the summary): by depth from the outputs, inputs first, ties broken by when
    a depth-first walk from the outputs first meets the layer. Listing them in another valid
    order would make `set_weights(keras_model.get_weights())` assign same-shaped kernels of
    parallel branches to the wrong layers."""
    input_ids = {id(t) for t in inputs}
    finished: set = set()
    ordered: List[Node] = []
    first_seen: Dict[int, int] = {}
    stack: List[Tuple[KerasTensor, bool]] = [(t, False) for t in reversed(outputs)]
    while stack:  # iterative depth-first walk (deep graphs must not hit the recursion limit)
        tensor, expanded = stack.pop()
        node = tensor.node
        if node is None or id(node) in finished:
            continue
        is_input = isinstance(node.layer, InputLayer)
        if id(tensor) in input_ids and not is_input:
            finished.add(id(node))
            continue
        if expanded:
            finished.add(id(node))
            ordered.append(node)
            continue
        first_seen.setdefault(id(node.layer), len(first_seen))
        stack.append((tensor, True))
        if not is_input:
            stack.extend((t, False) for t in reversed(node.flat_inputs))
    in_graph = {id(n) for n in ordered}
    node_depth: Dict[int, int] = {}
    layer_depth: Dict[int, int] = {}
    layers: Dict[int, nn.Module] = {}
    for node in reversed(ordered):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        layers[id(node.layer)] = node.layer
        if not isinstance(node.layer, InputLayer):
            for t in node.flat_inputs:
                if t.node is not None and id(t.node) in in_graph:
                    node_depth[id(t.node)] = max(depth + 1, node_depth.get(id(t.node), 0))
    for t in inputs:
        if id(t.layer) not in layer_depth:
            layer_depth[id(t.layer)], first_seen[id(t.layer)], layers[id(t.layer)] = 0, -1, t.layer
    return sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))


class Functional(Model):
    """A model defined by its input and output KerasTensors.

    Build it with `kerasish.Model(inputs, outputs)` (or `Model(inputs=..., outputs=...)`).

    Args:
        inputs: a KerasTensor, or a list/dict of them (from `Input(...)`). A dict's keys name the
            entries of a dict x, as in Keras (a key other than its tensor's name draws Keras's warning).
        outputs: KerasTensor(s) computed from the inputs by layer calls.
        name: the model's name. Defaults to `None`.

    Example:
        >>> x = Input(shape=(4,))
        >>> y = Dense(2, activation="softmax")(Dense(8, activation="relu")(x))
        >>> model = Model(inputs=x, outputs=y)
        >>> model.output_shape
        (None, 2)
    """

    def __init__(self, inputs: Any, outputs: Any, name: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(None, name=name or None, **kwargs)
        self._inputs, self._input_kind = _as_list(inputs, "inputs")
        if isinstance(inputs, dict):
            _warn_on_renamed_inputs(inputs)
        outs, kind = _as_list(outputs, "outputs")
        if any(not isinstance(getattr(t.node, "layer", None), InputLayer) for t in self._inputs):
            self._inputs, outs = _clone_from_new_inputs(self._inputs, outs)
        # A list of one output is unwrapped, as tf.keras does (predict returns one array).
        self._output_kind = "single" if kind == "list" and len(outs) == 1 else kind
        self._outputs = outs
        self._nodes = _topological_nodes(self._inputs, self._outputs)
        self._modules["layers"] = LayerDict()
        for layer in keras_layer_order(self._inputs, self._outputs):
            self._add_layer(layer)
        self.built = True
        first = self._outputs[0].shape
        self._output_shape = first if len(self._outputs) == 1 else None

    def _add_layer(self, layer: Any) -> None:
        existing = self._modules["layers"][layer.name] if layer.name in self._modules["layers"] else None
        if existing is layer:
            return
        if existing is not None:
            raise ValueError(
                f"Two different layers in the graph are both named {layer.name!r}; layer names in a model must be "
                "unique. Pass distinct name=... arguments."
            )
        self._modules["layers"][layer.name] = layer

    # ----------------------------------------------------------------- structure
    @property
    def layers(self) -> List[nn.Module]:  # type: ignore[override]
        """The model's layers in Keras's order; operations recorded from `kerasish.ops` calls on
        symbolic tensors are not layers (as in Keras; `summary()` still shows them)."""
        return [m for m in self._modules["layers"].values() if not isinstance(m, OpLayer)]

    @property
    def _operations(self) -> List[nn.Module]:
        """Every layer and recorded operation, in Keras's order (what `summary()` and configs list)."""
        return list(self._modules["layers"].values())

    @property
    def inputs(self) -> List[KerasTensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> List[KerasTensor]:
        return list(self._outputs)

    @property
    def input(self) -> Any:  # type: ignore[override]
        return self._inputs[0] if len(self._inputs) == 1 else list(self._inputs)

    @property
    def output(self) -> Any:  # type: ignore[override]
        return self._outputs[0] if len(self._outputs) == 1 else list(self._outputs)

    @property
    def output_names(self) -> List[str]:
        """Names used for per-output losses and logs (the output layers' names)."""
        if isinstance(self._output_kind, tuple):
            return list(self._output_kind[1])
        return [t.name for t in self._outputs]

    @property
    def input_shape(self) -> Any:
        return self._inputs[0].shape if len(self._inputs) == 1 else [t.shape for t in self._inputs]

    def expected_input_shape(self) -> Optional[Shape]:
        return self._inputs[0].shape if len(self._inputs) == 1 else None

    def casts_integer_inputs(self) -> bool:
        return not any(getattr(n.layer, "integer_input", False) for n in self._nodes
                       if any(t.node is not None and isinstance(t.layer, InputLayer) for t in n.flat_inputs))

    # Inputs one trailing axis of 1 off the declared rank are adjusted in `_feed` (`match_input_rank`), as Keras's
    # functional models do: the data checks let them through.
    adjusts_input_rank = True

    def ensure_built(self, x: Any) -> None:
        self.to(self.device)

    # ----------------------------------------------------------------- running
    def _feed(self, args: Tuple[Any, ...]) -> Dict[int, Any]:
        return {key: match_input_rank(ref.shape, value)
                for (key, value), ref in zip(self._feed_by_input(args).items(), self._inputs)}

    def _feed_by_input(self, args: Tuple[Any, ...]) -> Dict[int, Any]:
        if len(self._inputs) == 1:
            if len(args) != 1:
                raise ValueError(f"Model {self.name!r} has 1 input, received {len(args)}.")
            return {id(self._inputs[0]): args[0]}
        if len(args) == 1 and isinstance(args[0], dict):
            given = args[0]
            # A model built from a dict of inputs reads x by that dict's keys, as Keras does (they
            # may differ from the tensors' names); one built from a list reads it by input names.
            kind = self._input_kind
            names = list(kind[1]) if isinstance(kind, tuple) and kind[0] == "dict" else [
                t.layer.name for t in self._inputs]
            missing = [n for n in names if n not in given]
            if missing:
                raise ValueError(f"Model {self.name!r} expects inputs named {names}; missing {missing}.")
            return {id(t): given[n] for t, n in zip(self._inputs, names)}
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])
        if len(args) != len(self._inputs):
            raise ValueError(
                f"Model {self.name!r} has {len(self._inputs)} inputs ({[t.layer.name for t in self._inputs]}), "
                f"received {len(args)}. Pass x as a list in that order or a dict by input name."
            )
        return {id(t): a for t, a in zip(self._inputs, args)}

    def _run(self, args: Tuple[Any, ...], logits_for: Sequence[int] = ()) -> List[Any]:
        """The outputs for `args`; those at the output indices `logits_for` as pre-activation logits."""
        values = self._feed(args)
        logit_nodes = {id(self._outputs[i].node): self._outputs[i] for i in logits_for}

        # Not a recursive closure: one would be a reference cycle holding every activation of the
        # pass (through `values`) until Python's cyclic collector ran (+1.4 GB on a Transformer).
        fetch = functools.partial(_fetch, values)
        logits: Dict[int, Any] = {}
        for node in self._nodes:
            if not node.simple:
                out = node.layer(*map_symbolic(lambda t: values[id(t)], node.args),
                                 **map_symbolic(lambda t: values[id(t)], node.kwargs))
            elif id(node) in logit_nodes:
                out = node.layer.call_logits(fetch(node.inputs))
                if id(node.outputs[0]) in self._consumed_inside():
                    # Another layer reads this output: it gets the activation, the loss the logits.
                    logits[id(node.outputs[0])] = out
                    out = activations.get(node.layer.logits_activation())(out)
            else:
                out = node.layer(fetch(node.inputs), **node.kwargs)
            if len(node.outputs) == 1:
                values[id(node.outputs[0])] = out
            else:
                for t, o in zip(node.outputs, out):
                    values[id(t)] = o
        values.update(logits)
        return [values[id(t)] for t in self._outputs]

    def _consumed_inside(self) -> set:
        """Ids of the tensors that some layer of this model reads (computed once)."""
        consumed = self.__dict__.get("_consumed_ids")
        if consumed is None:
            consumed = {id(t) for node in self._nodes for t in node.flat_inputs}
            self.__dict__["_consumed_ids"] = consumed
        return consumed

    def _pack(self, outs: List[Any]) -> Any:
        if self._output_kind == "single":
            return outs[0]
        if isinstance(self._output_kind, NestedOutputs):
            return tree.pack_sequence_as(self._output_kind.structure, outs)
        if isinstance(self._output_kind, tuple):
            return dict(zip(self._output_kind[1], outs))
        return outs

    def call(self, *args: Any) -> Any:
        return self._pack(self._run(args))

    def forward_logits(self, *inputs: Any, logits_outputs: Optional[Sequence[int]] = None) -> Any:
        """Pre-activation logits; several inputs come as arguments or as one list.

        With `logits_outputs=None` the (single) output's logits. With a sequence of output
        indices: every output as a list in output order, those at the indices as logits (the
        multi-output step fuses each cross-entropy head whose output layer allows it)."""
        args = tuple(inputs[0]) if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) else inputs
        if logits_outputs is None:
            return self._run(args, logits_for=(0,))[0]
        return self._run(args, logits_for=tuple(logits_outputs))

    def logits_layer(self, index: Optional[int] = None) -> Any:
        """The layer whose `call_logits` `forward_logits` runs for output `index` (its own call is
        skipped); `None` means the single output's (None for a model with several)."""
        if index is None:
            return self._outputs[0].layer if len(self._outputs) == 1 else None
        return self._outputs[index].layer

    def logits_activation(self) -> Optional[str]:
        cls = type(self)
        if cls.call is not Functional.call or cls.forward is not Model.forward:
            return None  # the subclass's own call/forward is what the model computes: no logits path
        if len(self._outputs) != 1:
            return None
        return self.output_logits_activation(0)

    def output_logits_activation(self, index: int) -> Optional[str]:
        """'softmax'/'sigmoid' when output `index` comes straight from a layer with a fused-logits
        path (called with one tensor, one output), else None."""
        tensor = self._outputs[index]
        node, layer = tensor.node, tensor.layer
        if not isinstance(layer, Layer) or node is None or not node.simple or len(node.outputs) != 1:
            return None
        return layer.logits_activation()

    def flatten_outputs(self, outputs: Any) -> List[Any]:
        """The model's outputs (as `call` returns them) as a list in output order."""
        if isinstance(self._output_kind, NestedOutputs):
            return tree.flatten(outputs)
        if isinstance(outputs, dict):
            return [outputs[n] for n in self.output_names]
        if isinstance(outputs, (list, tuple)):
            return list(outputs)
        return [outputs]

    # ----------------------------------------------------------------- inspection
    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shapes traced when the model was built, with the batch size of
        `input_shape` for a one-input model (a model nested in a Sequential after a layer
        whose output shape is known only at run time, e.g. `TextVectorization`)."""
        single = isinstance(input_shape, (tuple, list)) and not any(isinstance(d, (tuple, list)) for d in input_shape)
        batch = input_shape[0] if single and len(input_shape) else None
        shapes = [(batch,) + tuple(t.shape)[1:] for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def get_build_config(self) -> Optional[Dict[str, Any]]:
        """`{'input_shape': None}` as in Keras (the graph builds the model, not a shape), or the
        shape of an explicit `build(input_shape)`."""
        return super().get_build_config() or {"input_shape": None}

    def summary_rows(self) -> List[summary_mod.Row]:
        rows = []
        for layer in self._operations:
            node = layer._inbound_nodes[0] if layer._inbound_nodes else None
            if not node or not node.outputs:
                shape = "?"
            elif len(node.outputs) == 1:
                shape = summary_mod.format_shape(node.outputs[0].shape)
            else:  # several outputs, as Keras prints them: [(None, 6), (None, 3)]
                shape = "[" + ", ".join(summary_mod.format_shape(t.shape) for t in node.outputs) + "]"
            rows.append((layer, f"{layer.name} ({type(layer).__name__})", shape))
        return rows

    def connections(self) -> List[str]:
        """For each layer (summary order), the layers it reads from."""
        mine = {id(n) for n in self._nodes}
        out = []
        for layer in self._operations:
            sources = []
            for node in layer._inbound_nodes:
                if id(node) in mine:
                    sources += [f"{t.layer.name}[{t.node.index}][{t.index}]" for t in node.flat_inputs]
            out.append(", ".join(sources) if sources else "-")
        return out

    def _summary_connections(self) -> Optional[List[str]]:
        return self.connections()

    # ----------------------------------------------------------------- config
    def get_config(self) -> Dict[str, Any]:
        """Layers with their configs and inbound calls, plus which tensors are the inputs/outputs."""
        mine = [n for n in self._nodes]
        local: Dict[int, int] = {}  # node id -> index among this model's calls of its layer
        per_layer: Dict[str, int] = {}
        for node in mine:
            local[id(node)] = per_layer.get(node.layer.name, 0)
            per_layer[node.layer.name] = local[id(node)] + 1

        def ref(t: KerasTensor) -> List[Any]:
            return [t.layer.name, 0 if isinstance(t.layer, InputLayer) else local[id(t.node)], t.index]

        layers = []
        for layer in self._operations:
            calls = [n for n in mine if n.layer is layer]
            layers.append({
                **layer_entry(layer),
                "name": layer.name,
                "inbound_nodes": [
                    _call_entry([ref(t) for t in n.flat_inputs], isinstance(n.inputs, (list, tuple)), n)
                    if n.simple else call_args.encode_call(n, ref) for n in calls],
            })
        config = {
            "name": self.name,
            "layers": layers,
            "input_layers": [ref(t) for t in self._inputs],
            "output_layers": [ref(t) for t in self._outputs],
        }
        if isinstance(self._input_kind, tuple):
            config["input_names"] = self._input_kind[1]
        if isinstance(self._output_kind, tuple):
            config["output_names"] = self._output_kind[1]
        config["output_list"] = self._output_kind == "list"
        if isinstance(self._output_kind, NestedOutputs):
            config["output_structure"] = self._output_kind.structure  # nested lists of output indices
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any], resolve: Any = None) -> "Functional":
        """Rebuilds the graph. `resolve(class_name)` returns a layer class (the saving registry)."""
        if resolve is None:
            import kerasish.layers as layers_mod

            def resolve(name: str) -> type:
                return getattr(layers_mod, name)

        created: Dict[str, Any] = {}
        tensors: Dict[Tuple[str, int, int], KerasTensor] = {}
        for entry in config["layers"]:
            if entry["class_name"] == "InputLayer":
                c = entry["config"]
                t = Input(shape=c["shape"], batch_size=c.get("batch_size"), dtype=c.get("dtype"), name=c["name"])
                created[entry["name"]] = t.layer
                tensors[(entry["name"], 0, 0)] = t
            else:
                created[entry["name"]] = resolve(entry["class_name"]).from_config(dict(entry["config"]))
        pending = [(e["name"], i, call) for e in config["layers"] if e["class_name"] != "InputLayer"
                   for i, call in enumerate(e["inbound_nodes"])]
        while pending:
            progressed = False
            for item in list(pending):
                name, i, call = item
                refs = call_args.refs(call)
                if all(r in tensors for r in refs):
                    if "args" in call:
                        args, kwargs = call_args.decode_call(call, tensors)
                        out = created[name](*args, **kwargs)
                    else:
                        args = [tensors[r] for r in refs]
                        out = created[name](args if call["list"] else args[0], **call.get("kwargs", {}))
                    for k, t in enumerate(out if isinstance(out, list) else [out]):
                        tensors[(name, i, k)] = t
                    pending.remove(item)
                    progressed = True
            if not progressed:
                raise ValueError(
                    "The functional model config is inconsistent: some layer calls read tensors no layer produces "
                    f"({[p[0] for p in pending]}). The file was edited or is corrupt."
                )
        inputs = [tensors[tuple(r)] for r in config["input_layers"]]
        outputs = [tensors[tuple(r)] for r in config["output_layers"]]
        if "input_names" in config:
            inputs = dict(zip(config["input_names"], inputs))
        elif len(inputs) == 1:
            inputs = inputs[0]
        if "output_structure" in config:
            outputs = tree.pack_sequence_as(config["output_structure"], outputs)
        elif "output_names" in config:
            outputs = dict(zip(config["output_names"], outputs))
        elif len(outputs) == 1 and not config.get("output_list"):
            outputs = outputs[0]
        return cls(inputs, outputs, name=config.get("name"))


def match_input_rank(shape: Any, value: Any) -> Any:
    """`value` brought to the rank of an Input of `shape` (batch axis included) as Keras's functional
    models do: a trailing axis of 1 added when the Input ends in 1 (images of shape (n, 28, 28) fed to
    `Input((28, 28, 1))`), or dropped when the value ends in 1 and the Input has one axis less. Other
    ranks pass unchanged."""
    if not isinstance(value, torch.Tensor) or shape is None:
        return value
    rank, ref_rank = value.dim(), len(shape)
    if rank == ref_rank + 1 and value.shape[-1] == 1:
        return value.squeeze(-1)
    if rank == ref_rank - 1 and shape[-1] == 1:
        return value.unsqueeze(-1)
    return value


def _call_entry(inputs: List[Any], is_list: bool, node: Node) -> Dict[str, Any]:
    """One recorded call in a functional config; its keyword arguments (e.g. a layer's
    `return_attention_scores=True`) are kept so a loaded model replays them."""
    entry: Dict[str, Any] = {"inputs": inputs, "list": is_list}
    if node.kwargs:
        import json

        try:
            json.dumps(node.kwargs)
        except TypeError:
            raise ValueError(
                f"Layer {node.layer.name!r} was called with keyword arguments {sorted(node.kwargs)} that are not "
                "JSON values, so the model config cannot describe the call. Pass plain values (numbers, strings, "
                "booleans), or save the weights with save_weights()."
            ) from None
        entry["kwargs"] = dict(node.kwargs)
    return entry


def _fetch(values: Dict[int, Any], structure: Any) -> Any:
    """The values of a symbolic tensor, or of a (nested) list of them, from a forward pass's table."""
    if isinstance(structure, (list, tuple)):
        return [_fetch(values, t) for t in structure]
    if isinstance(structure, dict):  # a layer called on a dict of tensors gets a dict, in the same key order
        return {k: _fetch(values, t) for k, t in structure.items()}
    return values[id(structure)]
