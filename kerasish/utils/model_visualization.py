"""plot_model and model_to_dot: a picture of a Sequential or functional model's layer graph.

The graph (one box per layer, one arrow per tensor passed between layers) is collected
once, in pure Python, from the model's recorded calls. Graphviz draws it through pydot
when both are installed, as in Keras. Without them `model_to_dot` raises an ImportError
saying how to install them, and `plot_model` warns the same and draws the same graph
with matplotlib (boxes in topological layers, arrows between them), so it still writes
an image.
"""

from __future__ import annotations

import os
import shutil
import warnings
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

INSTALL_HINT = ("pip install pydot, and install Graphviz's `dot` program "
                "(apt-get install graphviz, brew install graphviz or https://graphviz.org/download/)")
_MATPLOTLIB_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg")


# ----------------------------------------------------------------- the graph
class _Graph:
    """Boxes (id -> label lines, cluster) and arrows (source id, target id), in insertion order."""

    def __init__(self) -> None:
        self.nodes: Dict[str, Tuple[List[str], Tuple[str, ...]]] = {}
        self.edges: List[Tuple[str, str]] = []

    def add_edge(self, src: Any, dst: Any) -> None:
        edge = (str(id(src)), str(id(dst)))
        if edge not in self.edges:
            self.edges.append(edge)


def _is_model(layer: Any, kind: str) -> bool:
    return any(cls.__name__ == kind and cls.__module__.startswith("kerasish.models") for cls in type(layer).__mro__)


def _is_nested(layer: Any) -> bool:
    return _is_model(layer, "Sequential") or _is_model(layer, "Functional")


def _shape_text(structure: Any) -> str:
    if structure is None:
        return "?"
    if isinstance(structure, dict):
        return ", ".join(f"{k}: {_shape_text(v)}" for k, v in structure.items())
    if isinstance(structure, (list, tuple)) and structure and isinstance(structure[0], (list, tuple)):
        return "[" + ", ".join(_shape_text(s) for s in structure) + "]"
    return str(tuple(structure))


def _activation_name(layer: Any) -> Optional[str]:
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "name", None) or getattr(activation, "__name__", None) or str(activation)


def _label(layer: Any, shapes: Tuple[Any, Any, Any], opts: Dict[str, bool]) -> List[str]:
    """The text lines of one box, in Keras's order: name, activation, shapes, dtype, trainable."""
    class_name = type(layer).__name__
    lines = [f"{layer.name} ({class_name})" if opts["show_layer_names"] else class_name]
    if opts["show_layer_activations"] and _activation_name(layer):
        lines.append(f"Activation: {_activation_name(layer)}")
    in_shape, out_shape, dtype = shapes
    if opts["show_shapes"]:
        if class_name != "InputLayer":
            lines.append(f"Input shape: {_shape_text(in_shape)}")
        lines.append(f"Output shape: {_shape_text(out_shape)}")
    if opts["show_dtype"]:
        lines.append(f"Output dtype: {dtype or '?'}")
    if opts["show_trainable"] and list(layer.parameters()):
        lines.append("Trainable" if getattr(layer, "trainable", True) else "Non-trainable")
    return lines


def _layer_io(model: Any) -> Dict[int, Tuple[Any, Any, Any]]:
    """(input shapes, output shapes, output dtype) of each layer of `model`, by id."""
    found: Dict[int, Tuple[Any, Any, Any]] = {}
    if _is_model(model, "Sequential"):
        shape = model.input_shape
        for name, layer in model._layer_dict.items():
            out = model._shapes.get(name)
            found[id(layer)] = (shape, out, "float32")
            shape = out
        return found
    mine = {id(n) for n in model._nodes}
    for layer in model.layers:
        nodes = [n for n in getattr(layer, "_inbound_nodes", []) if id(n) in mine]
        if type(layer).__name__ == "InputLayer":
            out = layer.output
            found[id(layer)] = (None, out.shape, out.dtype)
        elif nodes:
            ins = [t.shape for t in nodes[0].flat_inputs]
            outs = [t.shape for t in nodes[0].outputs]
            found[id(layer)] = (ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs,
                                nodes[0].outputs[0].dtype if nodes[0].outputs else None)
    return found


def _entry(layer: Any, index: int = 0) -> Any:
    """The box an arrow into `layer` ends at (inside nested models)."""
    while _is_nested(layer):
        if _is_model(layer, "Functional"):
            layer = layer.inputs[min(index, len(layer.inputs) - 1)].layer
        else:
            layer = layer.layers[0]
    return layer


def _exit(layer: Any, index: int = 0) -> Any:
    """The box an arrow out of `layer` starts at (inside nested models)."""
    while _is_nested(layer):
        if _is_model(layer, "Functional"):
            layer = layer.outputs[min(index, len(layer.outputs) - 1)].layer
        else:
            layer = layer.layers[-1]
    return layer


def _collect(model: Any, graph: _Graph, opts: Dict[str, bool], expand: bool, cluster: Tuple[str, ...]) -> None:
    io = _layer_io(model)
    layers = list(model.layers)
    for layer in layers:
        if expand and _is_nested(layer):
            _collect(layer, graph, opts, expand, cluster + (layer.name,))
        else:
            graph.nodes[str(id(layer))] = (_label(layer, io.get(id(layer), (None, None, None)), opts), cluster)
    if _is_model(model, "Sequential"):
        for a, b in zip(layers, layers[1:]):
            graph.add_edge(_exit(a) if expand else a, _entry(b) if expand else b)
        return
    mine = {id(n) for n in model._nodes}
    for layer in layers:
        for node in getattr(layer, "_inbound_nodes", []):
            if id(node) not in mine:
                continue
            for position, tensor in enumerate(node.flat_inputs):
                source = tensor.layer
                if source is None:
                    continue
                if expand:
                    graph.add_edge(_exit(source, tensor.index), _entry(layer, position))
                else:
                    graph.add_edge(source, layer)


def _check(model: Any, rankdir: str) -> None:
    if not (_is_model(model, "Sequential") or _is_model(model, "Functional")):
        raise TypeError(
            f"plot_model/model_to_dot draw kerasish Sequential and functional models; received "
            f"{type(model).__name__}. A subclassed model has no recorded graph: build it functionally "
            "(Model(inputs, outputs)) to plot it."
        )
    if not getattr(model, "built", False):
        raise ValueError(
            f"The model {model.name!r} has not been built yet, so its layers have no shapes or connections. "
            "Build it first: model.build(input_shape), give the first layer input_shape=..., or call it on data."
        )
    if rankdir not in ("TB", "LR"):
        raise ValueError(
            f"rankdir must be 'TB' (top to bottom) or 'LR' (left to right). Received: rankdir={rankdir!r}."
        )


def build_graph(model: Any, show_shapes: bool = False, show_dtype: bool = False, show_layer_names: bool = True,
                expand_nested: bool = False, show_layer_activations: bool = False,
                show_trainable: bool = False) -> _Graph:
    """The boxes and arrows `model_to_dot` and the matplotlib fallback both draw."""
    opts = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    graph = _Graph()
    _collect(model, graph, opts, expand_nested, ())
    return graph


# ----------------------------------------------------------------- Graphviz (pydot)
def _pydot() -> Any:
    for name in ("pydot", "pydot_ng", "pydotplus"):
        try:
            return __import__(name)
        except ImportError:
            continue
    return None


def graphviz_available() -> bool:
    """pydot imports and Graphviz's `dot` program is on the PATH."""
    return _pydot() is not None and shutil.which("dot") is not None


def model_to_dot(model: Any, show_shapes: bool = False, show_dtype: bool = False, show_layer_names: bool = True,
                 rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200, subgraph: bool = False,
                 show_layer_activations: bool = False, show_trainable: bool = False, **kwargs: Any) -> Any:
    """The model's layer graph as a `pydot.Dot` (Graphviz), as Keras's `model_to_dot`.

    Args:
        model: a built kerasish Sequential or functional model.
        show_shapes: show each layer's input and output shapes. Defaults to `False`.
        show_dtype: show each layer's output dtype. Defaults to `False`.
        show_layer_names: show "name (Class)" rather than the class alone. Defaults to `True`.
        rankdir: "TB" (vertical) or "LR" (horizontal). Defaults to `"TB"`.
        expand_nested: draw the layers of nested models inside dashed clusters. Defaults to `False`.
        dpi: image resolution. Defaults to `200`.
        subgraph: return a `pydot.Cluster` (for nesting) instead of a `pydot.Dot`. Defaults to `False`.
        show_layer_activations: show the activation of layers that have one. Defaults to `False`.
        show_trainable: mark layers with weights "Trainable" or "Non-trainable". Defaults to `False`.
        **kwargs: `splines` (Graphviz's edge style). Defaults to `"ortho"`.

    Returns:
        A `pydot.Dot` (or `pydot.Cluster` with subgraph=True).

    Raises:
        ImportError: if pydot is not installed (with how to install it).
        ValueError: for an unbuilt model, a bad rankdir or an unknown keyword.
    """
    splines = kwargs.pop("splines", "ortho")
    if kwargs:
        raise ValueError(f"model_to_dot: unknown keyword arguments {sorted(kwargs)}; the only extra one is splines.")
    _check(model, rankdir)
    pydot = _pydot()
    if pydot is None:
        raise ImportError(f"model_to_dot needs pydot and Graphviz, and pydot is not installed: {INSTALL_HINT}.")
    graph = build_graph(model, show_shapes, show_dtype, show_layer_names, expand_nested, show_layer_activations,
                        show_trainable)
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name, label=model.name, labeljust="l")
    else:
        dot = pydot.Dot(rankdir=rankdir, concentrate=True, dpi=dpi, splines=splines)
        dot.set_node_defaults(shape="record")
    clusters: Dict[Tuple[str, ...], Any] = {(): dot}
    for node_id, (lines, cluster) in graph.nodes.items():
        for depth in range(1, len(cluster) + 1):
            key = cluster[:depth]
            if key not in clusters:
                clusters[key] = pydot.Cluster(graph_name="_".join(key), style="dashed", label=key[-1], labeljust="l")
                clusters[key[:-1]].add_subgraph(clusters[key])
        label = "\\n".join(line.replace('"', "'") for line in lines)
        clusters[cluster].add_node(pydot.Node(node_id, label=label, fontname="Helvetica", shape="box"))
    for src, dst in graph.edges:
        dot.add_edge(pydot.Edge(src, dst, penwidth="2"))
    return dot


# ----------------------------------------------------------------- matplotlib fallback
def _levels(graph: _Graph) -> Dict[str, int]:
    """Longest-path depth of each box (sources at 0): the rows of the drawing."""
    level = {n: 0 for n in graph.nodes}
    for _ in range(len(graph.nodes)):
        changed = False
        for src, dst in graph.edges:
            if src in level and dst in level and level[dst] < level[src] + 1:
                level[dst] = level[src] + 1
                changed = True
        if not changed:
            break
    return level


def draw_with_matplotlib(graph: _Graph, to_file: str, rankdir: str = "TB", dpi: int = 200) -> None:
    """Draws the boxes and arrows with matplotlib and saves the figure (atomically) to `to_file`."""
    # A bare Figure (no pyplot): no GUI backend is touched and nothing stays open.
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    from kerasish.utils.io import atomic_write

    level = _levels(graph)
    rows: Dict[int, List[str]] = {}
    for node_id in graph.nodes:
        rows.setdefault(level[node_id], []).append(node_id)
    box_w = max((max(len(line) for line in lines) for lines, _ in graph.nodes.values()), default=10) * 0.09 + 0.4
    box_h = max((len(lines) for lines, _ in graph.nodes.values()), default=1) * 0.25 + 0.2
    gap_w, gap_h = box_w + 0.5, box_h + 0.6
    position: Dict[str, Tuple[float, float]] = {}
    for depth, ids in rows.items():
        for i, node_id in enumerate(ids):
            across = (i - (len(ids) - 1) / 2) * gap_w
            if rankdir == "TB":
                position[node_id] = (across, -depth * gap_h)
            else:
                position[node_id] = (depth * gap_w, -across * gap_h / gap_w)
    xs = [p[0] for p in position.values()] or [0.0]
    ys = [p[1] for p in position.values()] or [0.0]
    # Room for the bends of arrows that skip rows (about a fifth of their length).
    bulge = max([0.0] + [0.22 * float(np.hypot(position[d][0] - position[s][0], position[d][1] - position[s][1]))
                         for s, d in graph.edges if level[d] - level[s] > 1])
    width = max(xs) - min(xs) + box_w + 1 + (bulge if rankdir == "TB" else 0)
    height = max(ys) - min(ys) + box_h + 1 + (bulge if rankdir == "LR" else 0)
    fig = Figure(figsize=(max(width, 2), max(height, 1.5)))
    ax = fig.subplots()
    ax.set_xlim(min(xs) - box_w / 2 - 0.5, max(xs) + box_w / 2 + 0.5 + (bulge if rankdir == "TB" else 0))
    ax.set_ylim(min(ys) - box_h / 2 - 0.5 - (bulge if rankdir == "LR" else 0), max(ys) + box_h / 2 + 0.5)
    ax.axis("off")
    for src, dst in graph.edges:
        (x0, y0), (x1, y1) = position[src], position[dst]
        if level[dst] - level[src] > 1:
            # An arrow skipping rows leaves and enters by the side and bends around the boxes between.
            tail = (x0 + box_w / 2, y0) if rankdir == "TB" else (x0, y0 - box_h / 2)
            head = (x1 + box_w / 2, y1) if rankdir == "TB" else (x1, y1 - box_h / 2)
            bend = "arc3,rad=-0.4" if rankdir == "TB" else "arc3,rad=0.4"
        else:
            tail = (x0, y0 - box_h / 2) if rankdir == "TB" else (x0 + box_w / 2, y0)
            head = (x1, y1 + box_h / 2) if rankdir == "TB" else (x1 - box_w / 2, y1)
            bend = "arc3,rad=0"
        ax.annotate("", xy=head, xytext=tail, zorder=1,
                    arrowprops=dict(arrowstyle="-|>", lw=1.5, color="black", connectionstyle=bend))
    for node_id, (lines, cluster) in graph.nodes.items():
        x, y = position[node_id]
        style = "round,pad=0.02" if not cluster else "round4,pad=0.02"
        ax.add_patch(FancyBboxPatch(
            (x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle=style, facecolor="white",
            edgecolor="black", linestyle="--" if cluster else "-", linewidth=1.2, zorder=2))
        text = "\n".join(lines if not cluster else [f"[{'/'.join(cluster)}]"] + lines)
        ax.text(x, y, text, ha="center", va="center", fontsize=8, family="sans-serif", zorder=3)
    file_format = os.path.splitext(to_file)[1][1:].lower() or "png"
    with atomic_write(to_file, "wb") as f:
        fig.savefig(f, format=file_format, dpi=dpi, bbox_inches="tight")


def plot_model(model: Any, to_file: str = "model.png", show_shapes: bool = False, show_dtype: bool = False,
               show_layer_names: bool = False, rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False, **kwargs: Any) -> Any:
    """Draws the model's layer graph to an image file (Keras's `plot_model`).

    Graphviz draws it when pydot and Graphviz are installed. Otherwise kerasish warns
    with the install command and draws the same boxes and arrows with matplotlib (for
    .png, .pdf, .svg or .jpg files).

    Args:
        model: a built kerasish Sequential or functional model.
        to_file: the image file; its suffix picks the format. Defaults to `"model.png"`.
        show_shapes: show each layer's input and output shapes. Defaults to `False`.
        show_dtype: show each layer's output dtype. Defaults to `False`.
        show_layer_names: show "name (Class)" rather than the class alone. Defaults to `False`.
        rankdir: "TB" (vertical) or "LR" (horizontal). Defaults to `"TB"`.
        expand_nested: draw the layers of nested models. Defaults to `False`.
        dpi: image resolution. Defaults to `200`.
        show_layer_activations: show the activation of layers that have one. Defaults to `False`.
        show_trainable: mark layers with weights trainable or not. Defaults to `False`.
        **kwargs: `splines` (Graphviz only). Defaults to `"ortho"`.

    Returns:
        An `IPython.display.Image` of the file when IPython is installed (shown in a
        notebook), else None.

    Raises:
        ImportError: without Graphviz, for a format matplotlib cannot write (e.g. .dot).
        ValueError: for an unbuilt model, a bad rankdir or an unknown keyword.

    Example:
        >>> import tempfile, os, kerasish
        >>> model = kerasish.Sequential([kerasish.layers.Dense(2, input_shape=(3,))])
        >>> path = os.path.join(tempfile.mkdtemp(), "model.png")
        >>> _ = plot_model(model, to_file=path, show_shapes=True)  # doctest: +SKIP
    """
    splines = kwargs.pop("splines", "ortho")
    if kwargs:
        raise ValueError(f"plot_model: unknown keyword arguments {sorted(kwargs)}; the only extra one is splines.")
    _check(model, rankdir)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    if graphviz_available():
        dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                           rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                           show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                           splines=splines)
        from kerasish.utils.io import atomic_write

        with atomic_write(to_file, "wb") as f:
            f.write(dot.create(format=extension))
    else:
        if extension not in _MATPLOTLIB_FORMATS:
            raise ImportError(
                f"plot_model cannot write a .{extension} file without pydot and Graphviz: {INSTALL_HINT}. "
                f"Or save to one of {_MATPLOTLIB_FORMATS}, which kerasish draws with matplotlib."
            )
        warnings.warn(
            f"plot_model: pydot and Graphviz are not both installed, so the graph is drawn with matplotlib "
            f"instead ({INSTALL_HINT} for Graphviz's layout).", stacklevel=2)
        graph = build_graph(model, show_shapes, show_dtype, show_layer_names, expand_nested, show_layer_activations,
                            show_trainable)
        draw_with_matplotlib(graph, to_file, rankdir, dpi)
    if extension == "pdf":
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    return display.Image(filename=to_file)
