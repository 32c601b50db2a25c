import sys

import numpy as np
import pytest

import kerasish
from kerasish import layers
from kerasish.utils import model_to_dot, plot_model
from kerasish.utils.model_visualization import build_graph
from tests.keras_parity import keras_module

PIL = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")


@pytest.fixture
def no_graphviz(monkeypatch):
    """Neither pydot nor Graphviz's `dot`: the matplotlib fallback draws."""
    for name in ("pydot", "pydot_ng", "pydotplus"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setenv("PATH", "")


def _functional(lib):
    x = lib.Input(shape=(4,), name="features")
    a = lib.layers.Dense(3, activation="relu", name="a")(x)
    b = lib.layers.Dense(3, name="b")(x)
    added = lib.layers.Add(name="add")([a, b])
    out = lib.layers.Dense(2, activation="softmax", name="out")(lib.layers.Concatenate(name="cat")([added, a]))
    return lib.Model(x, out)


def _edges_by_name(graph, model):
    names = {str(id(layer)): layer.name for layer in model.layers}
    return sorted((names[s], names[d]) for s, d in graph.edges)


def test_fallback_writes_a_png_of_the_graph(tmp_path, no_graphviz):
    model = _functional(kerasish)
    path = tmp_path / "model.png"
    with pytest.warns(UserWarning, match=r"pydot and Graphviz are not both installed.*pip install pydot"):
        plot_model(model, to_file=str(path), show_shapes=True, show_layer_activations=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = np.asarray(PIL.open(path).convert("L"))
    assert image.shape[0] > 100 and image.shape[1] > 100 and (image < 128).any()  # something dark was drawn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.png"]  # atomic write, no temp left


def test_dpi_and_rankdir_change_the_picture(tmp_path, no_graphviz):
    model = _functional(kerasish)
    sizes = {}
    for name, kwargs in (("low", dict(dpi=50)), ("high", dict(dpi=150)), ("wide", dict(dpi=50, rankdir="LR"))):
        with pytest.warns(UserWarning):
            plot_model(model, to_file=str(tmp_path / f"{name}.png"), **kwargs)
        sizes[name] = PIL.open(tmp_path / f"{name}.png").size
    assert sizes["high"][0] > 2 * sizes["low"][0]
    assert sizes["wide"][0] > sizes["low"][0] and sizes["wide"][1] < sizes["low"][1]


def test_returns_an_ipython_image(tmp_path, no_graphviz):
    pytest.importorskip("IPython")
    with pytest.warns(UserWarning):
        shown = plot_model(_functional(kerasish), to_file=str(tmp_path / "m.png"))
    assert type(shown).__name__ == "Image" and shown.data[:4] == b"\x89PNG"


def test_graph_matches_kerass_layer_graph():
    keras = keras_module()
    theirs = _functional(keras)
    ours = _functional(kerasish)
    expected_edges = sorted(
        (t._keras_history.operation.name, layer.name)
        for layer in theirs.layers for node in layer._inbound_nodes for t in node.input_tensors)
    graph = build_graph(ours, show_shapes=True, show_dtype=True, show_layer_activations=True, show_trainable=True)
    assert _edges_by_name(graph, ours) == expected_edges
    labels = {lines[0]: lines for lines, _ in graph.nodes.values()}
    assert set(labels) == {f"{layer.name} ({type(layer).__name__})" for layer in theirs.layers}
    for layer in theirs.layers:
        lines = labels[f"{layer.name} ({type(layer).__name__})"]
        assert f"Output shape: {tuple(layer.output.shape)}" in lines
        assert f"Output dtype: {layer.output.dtype}" in lines
        if hasattr(layer, "activation"):
            assert f"Activation: {layer.activation.__name__}" in lines
        assert ("Trainable" in lines) == bool(layer.weights)
    assert "Input shape: [(None, 3), (None, 3)]" in labels["add (Add)"]


def test_sequential_graph_is_a_chain_without_the_input_layer():
    model = kerasish.Sequential([layers.Input(shape=(5,)), layers.Dense(4, name="d1"), layers.Dropout(0.1, name="drop"),
                                 layers.Dense(1, name="d2")])
    graph = build_graph(model, show_shapes=True, show_layer_names=False)
    assert _edges_by_name(graph, model) == [("d1", "drop"), ("drop", "d2")]
    assert [lines for lines, _ in graph.nodes.values()] == [
        ["Dense", "Input shape: (None, 5)", "Output shape: (None, 4)"],
        ["Dropout", "Input shape: (None, 4)", "Output shape: (None, 4)"],
        ["Dense", "Input shape: (None, 4)", "Output shape: (None, 1)"],
    ]


def test_expand_nested_draws_the_inner_layers():
    inner = kerasish.Sequential([layers.Input(shape=(3,)), layers.Dense(3, name="inner_1"),
                                 layers.Dense(3, name="inner_2")], name="block")
    x = kerasish.Input(shape=(3,), name="x")
    out = layers.Dense(1, name="head")(inner(x))
    model = kerasish.Model(x, out)
    flat = build_graph(model)
    names = {str(id(m)): m.name for m in list(model.layers) + list(inner.layers)}
    assert sorted((names[s], names[d]) for s, d in flat.edges) == [("block", "head"), ("x", "block")]
    expanded = build_graph(model, expand_nested=True)
    assert sorted((names[s], names[d]) for s, d in expanded.edges) == [
        ("inner_1", "inner_2"), ("inner_2", "head"), ("x", "inner_1")]
    clusters = {lines[0]: cluster for lines, cluster in expanded.nodes.values()}
    assert clusters["inner_1 (Dense)"] == ("block",) and clusters["head (Dense)"] == ()


def test_model_to_dot_without_pydot_says_how_to_install(no_graphviz):
    with pytest.raises(ImportError, match=r"model_to_dot needs pydot and Graphviz.*pip install pydot.*graphviz"):
        model_to_dot(_functional(kerasish))


def test_formats_matplotlib_cannot_write_need_graphviz(tmp_path, no_graphviz):
    with pytest.raises(ImportError, match=r"cannot write a \.dot file without pydot and Graphviz.*pip install pydot"):
        plot_model(_functional(kerasish), to_file=str(tmp_path / "m.dot"))


def test_bad_models_and_arguments_are_explained(tmp_path):
    unbuilt = kerasish.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match=r"has not been built yet.*model\.build\(input_shape\)"):
        plot_model(unbuilt, to_file=str(tmp_path / "m.png"))

    class Custom(kerasish.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(TypeError, match=r"draw kerasish Sequential and functional models; received Custom"):
        plot_model(Custom(), to_file=str(tmp_path / "m.png"))
    model = _functional(kerasish)
    with pytest.raises(ValueError, match=r"rankdir must be 'TB' .* or 'LR' .*Received: rankdir='BT'"):
        plot_model(model, to_file=str(tmp_path / "m.png"), rankdir="BT")
    with pytest.raises(ValueError, match=r"unknown keyword arguments \['layer_range'\]"):
        plot_model(model, to_file=str(tmp_path / "m.png"), layer_range=["a", "b"])
    assert list(tmp_path.iterdir()) == []
