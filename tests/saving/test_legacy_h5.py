"""Legacy tf.keras (Keras 2) `.h5` files: whole models and weights, read by kerasish.

TensorFlow is not installed here, so the files are written by `write_legacy_h5` below, with h5py,
in the layout tf.keras 2.15 wrote (read from tf-keras v2.15.0: `saving/legacy/hdf5_format.py`,
`saving_utils.model_metadata`, `engine/functional.get_network_config`, `engine/node.serialize`).
Keras 3's own legacy reader (`model.load_weights('w.h5')`, `keras.models.load_model('m.h5')`)
reads the same files, which holds the writer to Keras's reading of the format; kerasish is then
held to Keras's predictions.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import h5py
import numpy as np
import pytest
import torch

import kerasish
from kerasish.saving.legacy_h5 import load_legacy_h5_model, load_legacy_h5_weights
from tests.keras_parity import assert_close, keras_module, to_numpy

ATOL = 1e-5
TF_KERAS_VERSION = "2.15.0"
# tf.keras 2.15's Adam config (`optimizer.get_config()`), registered as 'Custom>Adam'.
TF_ADAM = {"name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
           "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": False,
           "is_legacy_optimizer": False, "learning_rate": 0.002, "beta_1": 0.9, "beta_2": 0.999,
           "epsilon": 1e-07, "amsgrad": False}


# =========================================================================== the tf.keras 2.15 writer
def _dtype_name(value: Any) -> Any:
    if isinstance(value, dict) and value.get("class_name") == "DTypePolicy":
        return value["config"]["name"]
    return value


def _keras2_values(value: Any) -> Any:
    """Nested values as tf.keras 2.15 wrote them: dtype names, initializers without Keras 3.12's axes."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return _dtype_name(value)
        out = {k: _keras2_values(v) for k, v in value.items()}
        if value.get("module") == "keras.initializers":
            out["config"] = {k: v for k, v in out["config"].items()
                             if not (k in ("input_axes", "output_axes") and v is None)}
        return out
    if isinstance(value, list):
        return [_keras2_values(v) for v in value]
    return value


def _keras2_layer(entry: Dict[str, Any], rnn_extras: bool) -> Dict[str, Any]:
    class_name, config = entry["class_name"], _keras2_values(dict(entry["config"]))
    if class_name == "InputLayer":
        config = {"batch_input_shape": config["batch_shape"], "dtype": config["dtype"], "sparse": False,
                  "ragged": False, "name": config["name"]}
    config.pop("quantization_config", None)
    if class_name == "BatchNormalization":
        rank = len(entry["build_config"]["input_shape"])
        config["axis"] = [config["axis"] % rank]  # a built tf.keras BatchNormalization lists its axes
    if class_name in ("LSTM", "GRU") and rnn_extras:
        config.update(time_major=False, implementation=2)
    if class_name == "Bidirectional":
        config.pop("backward_layer")  # tf.keras wrote it only when the user passed one
        if rnn_extras:
            config["layer"]["config"].update(time_major=False, implementation=2)
    return {"class_name": class_name, "config": config}


def _keras2_ref(history: List[Any], nested: Dict[str, int]) -> List[Any]:
    name, node, tensor = history
    return [name, node + nested.get(name, 0), tensor]


def keras2_model_config(model: Any, rnn_extras: bool = True) -> Dict[str, Any]:
    """The `model_config` tf.keras 2.15 wrote for the Keras 3 `model` (Sequential or functional).

    The shape emitted (tf.keras 2.15 with `use_legacy_config`, legacy `serialize_keras_object`):

    - the model: `{"class_name": "Sequential" | "Functional", "config": {...}}` (no `module`,
      `registered_name` or `build_config`); a Sequential's config holds `name`, `trainable`,
      `layers`; a functional one `name`, `trainable`, `layers`, `input_layers`, `output_layers`.
    - each layer: `{"class_name", "config"}` (a functional model's entries add `name` and
      `inbound_nodes`); `dtype` is a plain name (`"float32"`); initializers keep Keras's
      envelope `{"module": "keras.initializers", "class_name", "config", "registered_name"}`
      (tf.keras 2.13+ serialized them so) without Keras 3.12's `input_axes`/`output_axes`;
      no `quantization_config`.
    - `InputLayer`: `{"batch_input_shape": [null, ...], "dtype", "sparse": false,
      "ragged": false, "name"}`.
    - `BatchNormalization`: `axis` as the built layer's list of positive axes (`[3]`).
    - `LSTM`/`GRU` (also the one inside `Bidirectional`): tf.keras's extra `time_major: false`
      and `implementation: 2`; `Bidirectional` has `layer` as Keras's envelope and no
      `backward_layer`.
    - a call: `[[inbound_layer, node_index, tensor_index, kwargs], ...]`, one entry per tensor of
      the first argument; node indices of a nested model count its construction as node 0.
    - `input_layers`/`output_layers`: always a list of `[layer, node_index, tensor_index]`.

    `rnn_extras=False` leaves out `time_major`/`implementation`, which Keras 3's own legacy
    reader refuses (so its `load_model` can read the file too).
    """
    return _keras2_model("Sequential" if isinstance(model, keras_module().Sequential) else "Functional",
                         model.get_config(), rnn_extras)


def _keras2_model(class_name: str, config: Dict[str, Any], rnn_extras: bool) -> Dict[str, Any]:
    def layer(entry: Dict[str, Any]) -> Dict[str, Any]:
        if entry["class_name"] in ("Sequential", "Functional"):
            return _keras2_model(entry["class_name"], entry["config"], rnn_extras)
        return _keras2_layer(entry, rnn_extras)

    if class_name == "Sequential":
        out = {"name": config["name"], "trainable": config["trainable"],
               "layers": [layer(e) for e in config["layers"]]}
        return {"class_name": "Sequential", "config": out}
    nested = {e["name"]: 1 for e in config["layers"] if e["class_name"] in ("Functional", "Sequential")}
    layers = []
    for entry in config["layers"]:
        converted = layer(entry)
        converted["name"] = entry["name"]
        converted["inbound_nodes"] = []
        for node in entry["inbound_nodes"]:
            first = node["args"][0]
            tensors = first if isinstance(first, list) else [first]
            kwargs = {k: v for k, v in node["kwargs"].items() if k != "mask"}
            converted["inbound_nodes"].append(
                [_keras2_ref(t["config"]["keras_history"], nested) + [kwargs] for t in tensors])
        layers.append(converted)

    def refs(value: Any) -> List[Any]:
        return [value] if isinstance(value[0], str) else value

    out = {"name": config["name"], "trainable": config["trainable"], "layers": layers,
           "input_layers": refs(config["input_layers"]), "output_layers": refs(config["output_layers"])}
    return {"class_name": "Functional", "config": out}


def _names_attr(group: Any, name: str, values: List[str]) -> None:
    group.attrs[name] = np.array([v.encode("utf8") for v in values]) if values else np.array([])


def _write_weights_group(group: Any, model: Any) -> None:
    _names_attr(group, "layer_names", [layer.name for layer in model.layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = TF_KERAS_VERSION.encode("utf8")
    for layer in sorted(model.layers, key=lambda layer: layer.name):
        sub = group.create_group(layer.name)
        weights = layer.trainable_weights + layer.non_trainable_weights  # tf.keras's legacy order
        # tf.keras named a variable '<layer>/<weight>:0'; Keras 3's path may start with the model's name.
        names = [f"{w.path.removeprefix(model.name + '/')}:0" for w in weights]
        _names_attr(sub, "weight_names", names)
        for name, w in zip(names, weights):
            sub.create_dataset(name, data=to_numpy(w))
    _names_attr(group.create_group("top_level_model_weights"), "weight_names", [])


def write_legacy_h5(model: Any, path: Any, whole_model: bool = True,
                    training_config: Optional[Dict[str, Any]] = None, rnn_extras: bool = True) -> None:
    """Writes the Keras 3 `model` as tf.keras 2.15's `model.save(path)` (whole model) or
    `model.save_weights(path)` (weights only) laid the `.h5` file out: root attributes
    `keras_version`, `backend`, `model_config` (JSON bytes, see `keras2_model_config`) and
    `training_config`, then the weight groups under `model_weights` (at the root for weights
    only): `layer_names`, one group per layer with its `weight_names` and datasets at
    `<layer>/<weight path>:0`, and an empty `top_level_model_weights`."""
    with h5py.File(path, "w") as f:
        if not whole_model:
            _write_weights_group(f, model)
            return
        f.attrs["keras_version"] = TF_KERAS_VERSION
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(keras2_model_config(model, rnn_extras)).encode("utf8")
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        _write_weights_group(f.create_group("model_weights"), model)


# =========================================================================== models
def _mlp(lib: Any) -> Any:
    L = lib.layers
    return lib.Sequential([lib.Input((6,)), L.Dense(8, activation="relu", name="hidden"), L.Dropout(0.2),
                           L.Dense(3, activation="softmax", name="out")], name="mlp")


def _cnn(lib: Any) -> Any:
    L = lib.layers
    x = inputs = lib.Input((8, 8, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="conv1")(x)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.Activation("relu")(x)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(6, 3, name="conv2")(x)
    x = L.BatchNormalization(name="bn2")(x)
    x = L.GlobalAveragePooling2D()(x)
    return lib.Model(inputs, L.Dense(2, name="logits")(x), name="cnn")


def _bilstm(lib: Any) -> Any:
    L = lib.layers
    inputs = lib.Input((7,), dtype="int32", name="tokens")
    x = L.Embedding(20, 5, name="embed")(inputs)
    x = L.Bidirectional(L.LSTM(4, return_sequences=True), name="bilstm")(x)
    x = L.GRU(3, name="gru")(x)
    return lib.Model(inputs, L.Dense(1, activation="sigmoid", name="score")(x), name="text")


def _shared(lib: Any) -> Any:
    L = lib.layers
    left, right = lib.Input((5,), name="left"), lib.Input((5,), name="right")
    encoder = L.Dense(4, activation="tanh", name="encoder")  # one layer, two calls
    merged = L.Concatenate(name="merge")([encoder(left), encoder(right)])
    return lib.Model([left, right], L.Dense(2, name="head")(merged), name="siamese")


def _x_mlp(rng: Any) -> Any:
    return rng.standard_normal((4, 6)).astype("float32")


def _nested(lib: Any) -> Any:
    # A Sequential with BatchNormalization used as a layer: tf.keras stored its trainable weights
    # first (dense, gamma, beta, dense), then the moving statistics, unlike get_weights().
    L = lib.layers
    block = lib.Sequential([lib.Input((4,)), L.Dense(5, name="inner1"), L.BatchNormalization(name="inner_bn"),
                            L.Dense(3, name="inner2")], name="block")
    inputs = lib.Input((4,), name="features")
    return lib.Model(inputs, L.Dense(2, name="top")(block(inputs)), name="outer")


_MODELS = {
    "nested_sequential_batchnorm": (_nested, lambda rng: rng.standard_normal((3, 4)).astype("float32")),
    "sequential_mlp": (_mlp, _x_mlp),
    "functional_cnn_batchnorm": (_cnn, lambda rng: rng.standard_normal((3, 8, 8, 3)).astype("float32")),
    "embedding_bilstm_gru": (_bilstm, lambda rng: rng.integers(0, 20, size=(3, 7)).astype("int32")),
    "shared_layer": (_shared, lambda rng: [rng.standard_normal((3, 5)).astype("float32") for _ in range(2)]),
}


def _redraw(model: Any, rng: Any) -> None:
    """New random weights (variances kept positive), so that a load is really observed."""
    model.set_weights([rng.uniform(0.5, 1.5, size=w.shape).astype(w.dtype) for w in model.get_weights()])


def _predict(model: Any, x: Any) -> np.ndarray:
    if isinstance(x, list):
        return to_numpy(model([torch.as_tensor(v) for v in x], training=False))
    return to_numpy(model(torch.as_tensor(x), training=False))


def _keras_model(name: str, seed: int = 0) -> Any:
    keras = keras_module()
    keras.backend.clear_session(free_memory=False)
    model = _MODELS[name][0](keras)
    _redraw(model, np.random.default_rng(seed))
    return model


# =========================================================================== whole models
@pytest.mark.parametrize("name", sorted(_MODELS))
def test_whole_model_predicts_like_keras(name: str, tmp_path: Any) -> None:
    keras = keras_module()
    theirs = _keras_model(name)
    x = _MODELS[name][1](np.random.default_rng(1))
    path = tmp_path / "model.h5"
    write_legacy_h5(theirs, path)

    ours = load_legacy_h5_model(path)
    assert type(ours).__name__ == type(theirs).__name__
    assert [layer.name for layer in ours.layers if layer.weights] == \
        [layer.name for layer in theirs.layers if layer.weights]
    assert_close(_predict(ours, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)
    plain = tmp_path / "plain.h5"
    write_legacy_h5(theirs, plain, rnn_extras=False)
    assert_close(_predict(load_legacy_h5_model(plain), x), _predict(theirs, x), atol=ATOL, rtol=ATOL)
    if name != "nested_sequential_batchnorm":
        # Keras 3's own legacy reader rebuilds the same model from the file without tf.keras's RNN
        # keys (time_major/implementation: Keras 3 refuses them). It cannot read a call of a nested
        # Sequential as tf.keras numbered it (node 1, after its construction node): it looks for a
        # second node Keras 3's Sequential does not have.
        assert_close(_predict(keras.models.load_model(plain), x), _predict(theirs, x), atol=ATOL, rtol=ATOL)


def test_whole_model_compiles_from_training_config(tmp_path: Any) -> None:
    theirs = _keras_model("sequential_mlp")
    training = {"loss": "categorical_crossentropy", "metrics": ["accuracy"], "weighted_metrics": None,
                "loss_weights": None, "optimizer_config": {"class_name": "Custom>Adam", "config": TF_ADAM}}
    write_legacy_h5(theirs, tmp_path / "model.h5", training_config=training)

    ours = load_legacy_h5_model(tmp_path / "model.h5")
    assert type(ours.optimizer).__name__ == "Adam"
    assert ours.optimizer.learning_rate == pytest.approx(0.002)
    x = _x_mlp(np.random.default_rng(2))
    y = np.eye(3, dtype="float32")[[0, 1, 2, 1]]
    theirs.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    expected = theirs.evaluate(x, y, verbose=0, return_dict=True)
    got = ours.evaluate(x, y, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(expected["loss"], abs=1e-5)
    assert got["accuracy"] == pytest.approx(expected["accuracy"])

    uncompiled = load_legacy_h5_model(tmp_path / "model.h5", compile=False)
    assert getattr(uncompiled, "optimizer", None) is None
    assert_close(_predict(uncompiled, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)


def test_keras_2_first_layer_batch_input_shape(tmp_path: Any) -> None:
    # Keras 2 files without an InputLayer entry: the first layer carries batch_input_shape.
    theirs = _keras_model("sequential_mlp")
    config = keras2_model_config(theirs)
    config["config"]["layers"] = config["config"]["layers"][1:]
    config["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 6]
    write_legacy_h5(theirs, tmp_path / "model.h5")
    _rewrite_config(tmp_path / "model.h5", config)
    ours = load_legacy_h5_model(tmp_path / "model.h5")
    x = _x_mlp(np.random.default_rng(3))
    assert_close(_predict(ours, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)


def _without_modules(value: Any) -> Any:
    """A config as tf.keras before 2.13 wrote it: nested objects as bare {class_name, config}."""
    if isinstance(value, dict):
        return {k: _without_modules(v) for k, v in value.items() if k not in ("module", "registered_name",
                                                                                "build_config")}
    if isinstance(value, list):
        return [_without_modules(v) for v in value]
    return value


def _rewrite_config(path: Any, config: Dict[str, Any]) -> None:
    with h5py.File(path, "a") as f:
        f.attrs["model_config"] = json.dumps(config).encode("utf8")


def test_older_keras_2_configs(tmp_path: Any) -> None:
    # Keras 2.2-2.12: the functional class is 'Model', nested objects carry no module.
    theirs = _keras_model("embedding_bilstm_gru")
    write_legacy_h5(theirs, tmp_path / "model.h5")
    config = _without_modules(keras2_model_config(theirs))
    config["class_name"] = "Model"
    _rewrite_config(tmp_path / "model.h5", config)
    x = _MODELS["embedding_bilstm_gru"][1](np.random.default_rng(7))
    assert_close(_predict(load_legacy_h5_model(tmp_path / "model.h5"), x), _predict(theirs, x), atol=ATOL, rtol=ATOL)

    # Keras 2.0: a Sequential's config is the bare list of its layers.
    theirs = _keras_model("sequential_mlp")
    write_legacy_h5(theirs, tmp_path / "seq.h5")
    config = keras2_model_config(theirs)
    _rewrite_config(tmp_path / "seq.h5", {"class_name": "Sequential", "config": config["config"]["layers"]})
    x = _x_mlp(np.random.default_rng(8))
    assert_close(_predict(load_legacy_h5_model(tmp_path / "seq.h5"), x), _predict(theirs, x), atol=ATOL, rtol=ATOL)


def test_keras_2_only_rnn_option_is_refused_when_it_changes_the_result(tmp_path: Any) -> None:
    theirs = _keras_model("embedding_bilstm_gru")
    write_legacy_h5(theirs, tmp_path / "model.h5")
    config = keras2_model_config(theirs)
    gru = next(e for e in config["config"]["layers"] if e["class_name"] == "GRU")
    gru["config"]["time_major"] = True
    _rewrite_config(tmp_path / "model.h5", config)
    with pytest.raises(ValueError, match=r"'gru'.*time_major=True, which kerasish cannot honour"):
        load_legacy_h5_model(tmp_path / "model.h5")


# =========================================================================== weights only
@pytest.mark.parametrize("name", sorted(_MODELS))
def test_weights_only_topological(name: str, tmp_path: Any) -> None:
    keras = keras_module()
    theirs = _keras_model(name)
    x = _MODELS[name][1](np.random.default_rng(1))
    path = tmp_path / "weights.h5"
    write_legacy_h5(theirs, path, whole_model=False)

    ours = _MODELS[name][0](kerasish)
    load_legacy_h5_weights(ours, path)
    assert_close(_predict(ours, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)
    # Keras 3 reads the same file into a fresh model of the same architecture.
    keras.backend.clear_session(free_memory=False)
    fresh = _MODELS[name][0](keras)
    fresh.load_weights(path)
    assert_close(_predict(fresh, x), _predict(ours, x), atol=ATOL, rtol=ATOL)


def test_whole_model_file_loads_as_weights(tmp_path: Any) -> None:
    theirs = _keras_model("functional_cnn_batchnorm")
    write_legacy_h5(theirs, tmp_path / "model.h5")
    ours = _cnn(kerasish)
    load_legacy_h5_weights(ours, tmp_path / "model.h5")
    x = np.random.default_rng(4).standard_normal((2, 8, 8, 3)).astype("float32")
    assert_close(_predict(ours, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)


def _other_mlp(lib: Any) -> Any:
    # Same names for 'hidden', a new head of another shape, and the layers in a different order of creation.
    L = lib.layers
    return lib.Sequential([lib.Input((6,)), L.Dense(8, activation="relu", name="hidden"), L.Dense(5, name="new")],
                          name="other")


def test_by_name_matches_keras(tmp_path: Any) -> None:
    keras = keras_module()
    path = tmp_path / "weights.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), path, whole_model=False)
    keras.backend.clear_session(free_memory=False)
    theirs, ours = _other_mlp(keras), _other_mlp(kerasish)
    ours.set_weights(theirs.get_weights())
    before = ours.get_layer("new").get_weights()

    theirs.load_weights(path, by_name=True)
    load_legacy_h5_weights(ours, path, by_name=True)
    x = _x_mlp(np.random.default_rng(5))
    assert_close(_predict(ours, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)
    assert_close(ours.get_layer("new").get_weights(), before, atol=0, rtol=0)  # the file does not name it
    with pytest.raises(ValueError, match=r"Shape mismatch in layer #1 \(named 'new' in the model, 'out' in the file"):
        load_legacy_h5_weights(_other_mlp(kerasish), path)  # by position 'new' meets 'out', of another shape


def test_by_name_count_mismatch(tmp_path: Any) -> None:
    path = tmp_path / "weights.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), path, whole_model=False)
    L = kerasish.layers
    ours = kerasish.Sequential([kerasish.Input((6,)), L.Dense(8, use_bias=False, name="hidden")])
    with pytest.raises(ValueError, match=r"Weight count mismatch for layer #0 \(named 'hidden'\).*expects 1.*holds 2"):
        load_legacy_h5_weights(ours, path, by_name=True)
    before = ours.get_weights()
    with pytest.warns(UserWarning, match="Weight count mismatch"):
        load_legacy_h5_weights(ours, path, by_name=True, skip_mismatch=True)
    assert_close(ours.get_weights(), before, atol=0, rtol=0)


def _wide_head(lib: Any) -> Any:
    L = lib.layers
    return lib.Sequential([lib.Input((6,)), L.Dense(8, activation="relu", name="hidden"), L.Dropout(0.2),
                           L.Dense(4, activation="softmax", name="out")])


def test_skip_mismatch_warns_and_matches_keras(tmp_path: Any) -> None:
    keras = keras_module()
    path = tmp_path / "weights.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), path, whole_model=False)
    keras.backend.clear_session(free_memory=False)
    theirs, ours = _wide_head(keras), _wide_head(kerasish)
    ours.set_weights(theirs.get_weights())

    with pytest.raises(ValueError, match=r"Shape mismatch in layer #1 .*'out'.*\(8, 4\).*\(8, 3\)"):
        load_legacy_h5_weights(ours, path)
    with pytest.warns(UserWarning, match="mismatch in shape"):
        theirs.load_weights(path, skip_mismatch=True)
    with pytest.warns(UserWarning, match=r"skip_mismatch=True.*Shape mismatch in layer #1") as record:
        load_legacy_h5_weights(ours, path, skip_mismatch=True)
    assert record[0].filename == __file__  # the warning points at the caller's line
    x = _x_mlp(np.random.default_rng(6))
    assert_close(_predict(ours, x), _predict(theirs, x), atol=ATOL, rtol=ATOL)


# =========================================================================== errors
def test_layer_count_mismatch(tmp_path: Any) -> None:
    path = tmp_path / "weights.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), path, whole_model=False)
    ours = kerasish.Sequential([kerasish.Input((6,)), kerasish.layers.Dense(8, name="hidden")])
    before = ours.get_weights()
    with pytest.raises(ValueError, match=r"Layer count mismatch.*model has 1 layer.*\['hidden'\].*file has 2.*by_name"):
        load_legacy_h5_weights(ours, path)
    assert_close(ours.get_weights(), before, atol=0, rtol=0)


def test_weight_count_mismatch(tmp_path: Any) -> None:
    path = tmp_path / "weights.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), path, whole_model=False)
    L = kerasish.layers
    ours = kerasish.Sequential([kerasish.Input((6,)), L.Dense(8, name="a"), L.Dense(3, use_bias=False, name="b")])
    with pytest.raises(ValueError, match=r"Weight count mismatch for layer #1 \(named 'b' in the model, 'out' in "
                                         r"the file\): the layer expects 1 weight\(s\), the file holds 2"):
        load_legacy_h5_weights(ours, path, skip_mismatch=True)  # a count mismatch is never skipped by position


def test_shape_mismatch_leaves_every_weight(tmp_path: Any) -> None:
    path = tmp_path / "weights.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), path, whole_model=False)
    L = kerasish.layers
    ours = kerasish.Sequential([kerasish.Input((5,)), L.Dense(8, name="h"), L.Dense(3, name="o")])
    before = ours.get_weights()
    with pytest.raises(ValueError, match=r"layer #0 \(named 'h' in the model, 'hidden' in the file\).*weight 0 "
                                         r"\('kernel:0'\).*shape \(5, 8\).*shape \(6, 8\)"):
        load_legacy_h5_weights(ours, path)
    assert_close(ours.get_weights(), before, atol=0, rtol=0)


def test_wrong_kind_of_file(tmp_path: Any) -> None:
    weights = tmp_path / "weights.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), weights, whole_model=False)
    with pytest.raises(ValueError, match="holds weights only.*load_weights"):
        load_legacy_h5_model(weights)
    keras3 = tmp_path / "k3.weights.h5"
    _keras_model("sequential_mlp").save_weights(keras3)
    with pytest.raises(ValueError, match="Keras 3's weights layout.*'.weights.h5'"):
        load_legacy_h5_weights(_mlp(kerasish), keras3)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="is not an HDF5 file"):
        load_legacy_h5_model(text)
    with pytest.raises(FileNotFoundError, match="No file at"):
        load_legacy_h5_weights(_mlp(kerasish), tmp_path / "missing.h5")


# =========================================================================== hostile files
def test_declared_huge_dataset_is_refused(tmp_path: Any) -> None:
    path = tmp_path / "bomb.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), path, whole_model=False)
    with h5py.File(path, "a") as f:
        group = f["hidden"]
        del group["hidden/kernel:0"]
        # 64 GiB declared, nothing written: chunked storage keeps the file small.
        group.create_dataset("hidden/kernel:0", shape=(1 << 17, 1 << 17), dtype="float32", chunks=(64, 64),
                             compression="gzip")
    assert path.stat().st_size < 1 << 20
    ours = _mlp(kerasish)
    before = ours.get_weights()
    with pytest.raises(ValueError, match=r"declares shape \(131072, 131072\).*refusing to read it"):
        load_legacy_h5_weights(ours, path, skip_mismatch=True)
    assert_close(ours.get_weights(), before, atol=0, rtol=0)


def test_links_are_refused(tmp_path: Any) -> None:
    path = tmp_path / "linked.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), path, whole_model=False)
    with h5py.File(path, "a") as f:
        del f["out/out/bias:0"]
        f["out/out/bias:0"] = h5py.ExternalLink("/etc/passwd.h5", "/data")
    with pytest.raises(ValueError, match="ExternalLink at /out/out/bias:0"):
        load_legacy_h5_weights(_mlp(kerasish), path)


def _lambda_file(tmp_path: Any, function: Any, function_type: str) -> Any:
    path = tmp_path / "lambda.h5"
    theirs = _keras_model("sequential_mlp")
    write_legacy_h5(theirs, path)
    config = keras2_model_config(theirs)
    config["config"]["layers"].insert(2, {"class_name": "Lambda", "config": {
        "name": "evil", "trainable": True, "dtype": "float32", "function": function, "function_type": function_type,
        "module": "__main__", "output_shape": None, "output_shape_type": "raw", "output_shape_module": None,
        "arguments": {}}})
    _rewrite_config(path, config)
    return path


def test_lambda_is_refused(tmp_path: Any) -> None:
    # tf.keras wrote a lambda as [marshalled bytecode (base64), defaults, closure].
    path = _lambda_file(tmp_path, ["4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkARQAUwApAk7p", None, None], "lambda")
    with pytest.raises(ValueError, match="Lambda layer 'evil' is refused in safe mode"):
        load_legacy_h5_model(path)
    with pytest.raises(ValueError, match="Lambda layer 'evil' holds Python bytecode"):
        load_legacy_h5_model(path, safe_mode=False)


def test_named_lambda_function_needs_custom_objects(tmp_path: Any) -> None:
    def double(x: Any) -> Any:
        return x * 2.0

    path = _lambda_file(tmp_path, "double", "function")
    with pytest.raises(ValueError, match="names the function 'double'.*custom_objects"):
        load_legacy_h5_model(path, safe_mode=False)
    model = load_legacy_h5_model(path, safe_mode=False, custom_objects={"double": double})
    assert model.get_layer("evil").function is double


def test_deeply_nested_config_is_refused_before_parsing(tmp_path: Any) -> None:
    path = tmp_path / "deep.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), path)
    with h5py.File(path, "a") as f:
        f.attrs["model_config"] = b"[" * 50_000 + b"]" * 50_000
    with pytest.raises(ValueError, match="model_config of .* nests 50000 levels deep"):
        load_legacy_h5_model(path)


def test_subclassed_model_config_is_refused(tmp_path: Any) -> None:
    path = tmp_path / "model.h5"
    write_legacy_h5(_keras_model("sequential_mlp"), path)
    _rewrite_config(path, {"class_name": "MyModel", "config": {"units": 3}})
    with pytest.raises(ValueError, match="describes a 'MyModel' model.*load_legacy_h5_weights"):
        load_legacy_h5_model(path)


def test_the_format_registry_routes_legacy_h5_files(tmp_path: Any) -> None:
    """`kerasish.load_model("m.h5")` and `model.load_weights("w.h5", by_name=True)` reach these readers;
    saving to `.h5` is refused with the way out (Keras 3's formats)."""
    theirs = _keras_model("sequential_mlp")
    x = _x_mlp(np.random.default_rng(1))
    write_legacy_h5(theirs, tmp_path / "m.h5")
    write_legacy_h5(theirs, tmp_path / "w.h5", whole_model=False)
    loaded = kerasish.load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(_predict(loaded, x), _predict(theirs, x), atol=1e-5)
    ours = _mlp(kerasish)
    ours.load_weights(tmp_path / "w.h5", by_name=True)
    np.testing.assert_allclose(_predict(ours, x), _predict(theirs, x), atol=1e-5)
    with pytest.raises(ValueError, match=r"read but not written.*model\.save\('model\.keras'\)"):
        ours.save(tmp_path / "again.h5")
    with pytest.raises(ValueError, match=r"by_name=True applies to legacy '\.h5' weights files only"):
        ours.load_weights(tmp_path / "w.weights.h5", by_name=True)
