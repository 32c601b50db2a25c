"""One layer's config, translated between kerasish's `get_config()` and Keras 3's.

kerasish's layer configs are meant to equal Keras's; where they still differ this
module bridges the gap, in both directions, and refuses what it cannot honour:

- `dtype`: Keras writes a DTypePolicy envelope, kerasish a dtype name (or nothing).
- initializers: Keras writes `{'module': 'keras.initializers', 'class_name': 'GlorotUniform',
  ...}`, kerasish a name (`'glorot_uniform'`) or `{'class_name': 'zeros', 'config': {}}`.
- regularizers: Keras's class names (`'L2'`) against kerasish's (`'l2'`).
- nested layers (`Bidirectional.layer`, `RNN.cell`, ...): envelopes whose configs need the same.
- `InputLayer`: Keras's `batch_shape` against kerasish's `shape`/`batch_size`.
- keys one side writes and the other lacks (`quantization_config`, `zero_output_for_mask`,
  `rms_scaling`, ...): dropped when they hold the value that means "off", refused otherwise.

Keras's own code is never imported: every Keras name here is plain data.
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Optional

from kerasish.utils.object_registration import (
    builtin_classes,
    get_registered_name,
    get_registered_object,
)
from kerasish.utils.safe_mode import in_safe_mode
from kerasish.utils.text import short_repr

# Keys a Keras config may hold that a kerasish class does not take, with the value that
# means the feature is off: loading drops the key at that value and refuses any other.
_OFF_VALUES: Dict[str, Any] = {
    "quantization_config": None, "zero_output_for_mask": False, "rms_scaling": False,
    "activity_regularizer": None, "lora_rank": None, "lora_alpha": None, "sparse": False,
    "ragged": False, "optional": False, "use_cudnn": "auto", "seed": None, "input_length": None,
    "flash_attention": None, "unroll": False,
}
# Keras's class name -> kerasish's, where they differ (kerasish exports Keras's name as an alias).
KERAS_TO_KERASISH = {"GroupQueryAttention": "GroupedQueryAttention"}
KERASISH_TO_KERAS = {v: k for k, v in KERAS_TO_KERASISH.items()}

_INITIALIZER_CLASSES = {
    "zeros": "Zeros", "ones": "Ones", "constant": "Constant", "uniform": "RandomUniform",
    "random_uniform": "RandomUniform", "normal": "RandomNormal", "random_normal": "RandomNormal",
    "truncated_normal": "TruncatedNormal", "variance_scaling": "VarianceScaling",
    "glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform",
    "he_normal": "HeNormal", "lecun_uniform": "LecunUniform", "lecun_normal": "LecunNormal",
    "orthogonal": "Orthogonal", "identity": "IdentityInitializer",
}
# Keras's default config of each initializer class kerasish writes by name only.
_INITIALIZER_DEFAULTS = {
    "Zeros": {}, "Ones": {}, "RandomUniform": {"seed": None, "minval": -0.05, "maxval": 0.05},
    "RandomNormal": {"seed": None, "mean": 0.0, "stddev": 0.05},
    "TruncatedNormal": {"seed": None, "mean": 0.0, "stddev": 0.05},
    "Orthogonal": {"seed": None, "gain": 1.0}, "IdentityInitializer": {"gain": 1.0},
    "Constant": {"value": 0.0},
}
_SCALING_CLASSES = {"GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal"}
# Keras 3.12+ adds these to the scaling initializers; older kerasish/Keras configs lack them.
_SCALING_EXTRA = {"input_axes": None, "output_axes": None}
_REGULARIZER_CLASSES = {"l1": "L1", "l2": "L2", "l1_l2": "L1L2", "l1l2": "L1L2", "orthogonal_regularizer":
                        "OrthogonalRegularizer"}
_DTYPE_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy", "Policy")
# Keras classes that build in their constructor: Keras writes no build_config for them.
KERAS_BUILT_AT_INIT = {
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "AlphaDropout", "GaussianDropout",
    "GaussianNoise", "ActivityRegularization", "Identity", "Masking", "Reshape", "UnitNormalization",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "TorchModuleWrapper",
    *(f"{kind}Pooling{d}D" for kind in ("Max", "Average", "GlobalMax", "GlobalAverage") for d in (1, 2, 3)),
}
# Keys Keras 3 writes that kerasish's config leaves out, at the value kerasish computes with.
_KERAS_ONLY_KEYS = {
    "Dense": {"quantization_config": None}, "EinsumDense": {"quantization_config": None},
    "LayerNormalization": {"rms_scaling": False},
    "Embedding": {"quantization_config": None, "activity_regularizer": None},
    "ReversibleEmbedding": {"quantization_config": None, "activity_regularizer": None},
    **{c: {"zero_output_for_mask": False, "activity_regularizer": None} for c in ("SimpleRNN", "LSTM", "GRU")},
    **{f"Conv{d}D{t}": {"activity_regularizer": None} for d in (1, 2, 3) for t in ("", "Transpose")},
    **{f"{k}Conv{d}D": {"activity_regularizer": None} for k in ("Depthwise", "Separable") for d in (1, 2)},
}
# Keys kerasish writes that Keras's class lacks, with the only value a Keras config can stand for.
_KERASISH_ONLY_KEYS = {
    "RandomGrayscale": {"seed": None}, "CategoryEncoding": {"sparse": False}, "SimpleRNN": {"seed": None},
    "Embedding": {"input_length": None}, "ReversibleEmbedding": {"input_length": None},
    "GRU": {"use_cudnn": "auto"}, "LSTM": {"use_cudnn": "auto"},
}
# Keras classes that write `dtype` as a plain name rather than a DTypePolicy.
_KERAS_PLAIN_DTYPE = {"SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Discretization"}
# Keras classes whose constructor takes no `trainable` (their config has none).
_KERAS_WITHOUT_TRAINABLE = {"SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Discretization"}


def is_envelope(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("class_name"), str) and "config" in value


def keras_dtype_policy(name: str) -> Dict[str, Any]:
    """The DTypePolicy envelope Keras 3 writes for a layer's `dtype`."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


# --------------------------------------------------------------------------- kerasish -> Keras
def _initializer_to_keras(value: Any) -> Any:
    if isinstance(value, str):
        name = _INITIALIZER_CLASSES.get(value, value)
        config = dict(_INITIALIZER_DEFAULTS.get(name, {"seed": None}))
        if name in _SCALING_CLASSES:
            config.update(_SCALING_EXTRA)
        return {"module": "keras.initializers", "class_name": name, "config": config, "registered_name": None}
    if is_envelope(value) and not str(value.get("module", "")).startswith("keras."):
        name = _INITIALIZER_CLASSES.get(value["class_name"], value["class_name"])
        config = dict(value["config"])
        if name in _SCALING_CLASSES:
            config = {"seed": config.get("seed"), **_SCALING_EXTRA}
        return {"module": "keras.initializers", "class_name": name, "config": config, "registered_name": None}
    return value


def _regularizer_to_keras(value: Any) -> Any:
    if is_envelope(value) and value["class_name"] in _REGULARIZER_CLASSES:
        return {"module": "keras.regularizers", "class_name": _REGULARIZER_CLASSES[value["class_name"]],
                "config": dict(value["config"]), "registered_name": None}
    return value


def layer_config_to_keras(class_name: str, config: Mapping[str, Any], layer: Any = None) -> Dict[str, Any]:
    """Keras's config for a kerasish layer of class `class_name` whose get_config() is `config`."""
    out: Dict[str, Any] = {}
    for key, value in config.items():
        if key.endswith("_initializer"):
            value = _initializer_to_keras(value)
        elif key.endswith("_regularizer"):
            value = _regularizer_to_keras(value)
        elif key in ("layer", "backward_layer", "cell") and is_envelope(value):
            nested = getattr(layer, "forward_layer" if (key, class_name) == ("layer", "Bidirectional") else key, None)
            value = nested_layer_to_keras(value, nested)
            if class_name == "Bidirectional":
                # Keras's Bidirectional zeroes masked steps of its sequences (its layers' copies say so).
                value["config"]["zero_output_for_mask"] = bool(value["config"].get("return_sequences"))
                if key == "layer":  # Keras writes its forward copy, named forward_<layer>
                    name = str(value["config"].get("name", ""))
                    value["config"]["name"] = "forward_" + (name.removeprefix("forward_"))
        elif key == "cells" and isinstance(value, list):
            objects = list(getattr(layer, "cells", None) or [None] * len(value))
            value = [nested_layer_to_keras(v, o) if is_envelope(v) else v for v, o in zip(value, objects)]
        elif key == "dtype" and isinstance(value, str) and class_name not in _KERAS_PLAIN_DTYPE:
            value = keras_dtype_policy(value)
        elif key == "function" and class_name == "Lambda":
            value = _function_to_keras(layer)
        elif key in _KERASISH_ONLY_KEYS.get(class_name, {}):
            if value != _KERASISH_ONLY_KEYS[class_name][key]:
                raise ValueError(
                    f"Keras's {class_name} has no `{key}` argument, so a Keras config cannot hold {key}="
                    f"{short_repr(value)} for layer {config.get('name')!r}. Set it to "
                    f"{_KERASISH_ONLY_KEYS[class_name][key]!r} to write the model for Keras."
                )
            continue
        elif key == "trainable" and class_name in _KERAS_WITHOUT_TRAINABLE:
            if value is not True:
                raise ValueError(
                    f"Keras's {class_name} has no `trainable` argument, so a Keras config cannot hold "
                    f"trainable={value!r} for layer {config.get('name')!r}. Leave it trainable (it has no weights)."
                )
            continue  # kerasish-only keys at their default; Keras's config has no such key
        out[key] = value
    if class_name == "Bidirectional" and out.get("backward_layer") is None and layer is not None:
        # Keras always writes the backward copy it made; kerasish made the same one.
        backward = layer.backward_layer
        out["backward_layer"] = nested_layer_to_keras(
            {"module": type(backward).__module__, "class_name": type(backward).__name__,
             "config": backward.get_config()}, backward)
        out["backward_layer"]["config"]["zero_output_for_mask"] = bool(out["layer"]["config"].get("return_sequences"))
    for key, value in _KERAS_ONLY_KEYS.get(class_name, {}).items():
        out.setdefault(key, value)
    if class_name == "LayerNormalization" and isinstance(out.get("axis"), int):
        out["axis"] = [out["axis"]]  # Keras keeps the axes as a list
    if "dtype" not in out:
        dtype = getattr(layer, "dtype", None) if layer is not None else None
        dtype = dtype if isinstance(dtype, str) else "float32"
        out["dtype"] = dtype if class_name in _KERAS_PLAIN_DTYPE else keras_dtype_policy(dtype)
    return out


def _function_to_keras(layer: Any) -> Any:
    fn = getattr(layer, "function", None)
    name = getattr(fn, "__name__", None)
    if fn is None or name is None or name == "<lambda>" or "<locals>" in getattr(fn, "__qualname__", ""):
        raise ValueError(
            f"Cannot describe Lambda layer {getattr(layer, 'name', '?')!r} in a Keras config: its function "
            f"{short_repr(fn)} is not a named module-level function, and Keras can only refer to a function by "
            "name (or by Python bytecode, which kerasish never writes). Define the function with `def` at module "
            "level, or replace the Lambda with a registered Layer subclass."
        )
    # As Keras writes a function: found again by name (custom_objects or registered), never imported.
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}


def nested_layer_to_keras(envelope: Mapping[str, Any], layer: Any = None) -> Dict[str, Any]:
    """A nested layer's envelope (inside Bidirectional, RNN ...) in Keras's form; `layer`,
    the nested layer itself when known, gives its build_config."""
    module = str(envelope.get("module") or "")
    if not module.startswith("kerasish"):
        return dict(envelope)
    class_name = envelope["class_name"]
    out = {"module": "keras.layers", "class_name": class_name,
           "config": layer_config_to_keras(class_name, envelope["config"], layer), "registered_name": None}
    build = layer.get_build_config() if hasattr(layer, "get_build_config") else None
    if build is not None and class_name not in KERAS_BUILT_AT_INIT:
        out["build_config"] = build
    return out


def layer_envelope(layer: Any) -> Dict[str, Any]:
    """Keras's envelope for one kerasish layer (no graph keys)."""
    from kerasish.layers.layer import Layer

    if not isinstance(layer, Layer):
        raise TypeError(
            f"Cannot describe {type(layer).__name__} in a Keras config: only kerasish layers have configs. Wrap a "
            "torch module in kerasish.layers.TorchModuleWrapper, or save only the weights."
        )
    from kerasish.saving.keras_objects import serialize_nested  # a nested layer in a custom config, as Keras

    cls = type(layer)
    builtin = builtin_classes().get(cls.__name__) is cls
    config = layer.get_config()
    if cls.__name__ == "InputLayer":
        return {"module": "keras.layers", "class_name": "InputLayer", "config": input_layer_to_keras(config),
                "registered_name": None}
    envelope = {
        "module": "keras.layers" if builtin else cls.__module__,
        "class_name": KERASISH_TO_KERAS.get(cls.__name__, cls.__name__) if builtin else cls.__name__,
        "config": layer_config_to_keras(cls.__name__, config, layer) if builtin else serialize_nested(config),
        "registered_name": None if builtin else get_registered_name(cls),
    }
    build = layer.get_build_config() if hasattr(layer, "get_build_config") else None
    if build is not None and envelope["class_name"] not in KERAS_BUILT_AT_INIT:
        envelope["build_config"] = build
    return envelope


def build_config_from_call(layer: Any, node: Any) -> Dict[str, Any]:
    """What Keras's build_from_config expects: the first call's input shape, or for a layer
    built from several named tensors (MultiHeadAttention) its `shapes_dict`."""
    from kerasish.layers.symbolic import KerasTensor

    if node.simple:
        return {"input_shape": shapes_of(node.inputs)}
    if len(node.args) == 1 and not any(isinstance(v, KerasTensor) for v in node.kwargs.values()):
        return {"input_shape": shapes_of(node.args[0])}
    names = list(inspect.signature(layer.call).parameters)
    shapes = {f"{n}_shape": shapes_of(a) for n, a in zip(names, node.args) if isinstance(a, KerasTensor)}
    shapes.update({f"{k}_shape": shapes_of(v) for k, v in node.kwargs.items()
                   if isinstance(v, KerasTensor) and k in ("key", "value", "query")})
    return {"shapes_dict": shapes}


def shapes_of(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [shapes_of(v) for v in value]
    return list(value.shape)


def input_layer_to_keras(config: Mapping[str, Any]) -> Dict[str, Any]:
    return {"batch_shape": [config.get("batch_size")] + list(config["shape"]),
            "dtype": config.get("dtype") or "float32", "sparse": False, "ragged": False,
            "name": config["name"], "optional": False}


# --------------------------------------------------------------------------- Keras -> kerasish
def dtype_from_keras(value: Any, where: str) -> Any:
    if is_envelope(value):
        if value["class_name"] not in _DTYPE_POLICY_CLASSES:
            raise ValueError(
                f"{where}: the dtype policy {value['class_name']!r} ({short_repr(value, 160)}) is not one kerasish "
                f"has; expected one of {list(_DTYPE_POLICY_CLASSES)} naming a dtype such as 'float32' or "
                "'mixed_float16'. Save the model from Keras with a plain float policy."
            )
        return value["config"].get("name")
    return value


_INITIALIZER_NAMES = {cls: name for name, cls in reversed(list(_INITIALIZER_CLASSES.items()))}


def _initializer_from_keras(value: Any) -> Any:
    if not is_envelope(value):
        return value
    name = _INITIALIZER_NAMES.get(value["class_name"], value["class_name"])
    config = {k: v for k, v in value["config"].items() if not (k in _SCALING_EXTRA and v is None)}
    default = {"seed": None} if value["class_name"] in _SCALING_CLASSES else _INITIALIZER_DEFAULTS.get(
        value["class_name"])
    if config == default:
        return name  # the name alone: every kerasish layer takes it
    return {"class_name": name, "config": config}


def _regularizer_from_keras(value: Any) -> Any:
    if is_envelope(value):
        return {"class_name": str(value["class_name"]).lower(), "config": dict(value["config"])}
    return value


def lambda_function(value: Any, layer_name: Any, custom_objects: Mapping[str, Any]) -> Any:
    """The function of a Lambda layer in a Keras config: refused in safe mode and as bytecode,
    else looked up by name (never imported)."""
    if in_safe_mode():
        raise ValueError(
            f"Lambda layer {layer_name!r} is refused in safe mode: a Lambda runs code the file chooses. If you "
            "trust the file, pass safe_mode=False (its function is then looked up by name in custom_objects= or "
            "the registered objects; no module is ever imported)."
        )
    if isinstance(value, Mapping) and value.get("class_name") == "__lambda__":
        raise ValueError(
            f"Lambda layer {layer_name!r} holds Python bytecode (a `__lambda__` entry). kerasish never runs "
            "bytecode from a file, whatever safe_mode says. Rewrite the lambda as a named module-level function, "
            "save again from Keras, and pass it with custom_objects={'name': function} and safe_mode=False."
        )
    if isinstance(value, Mapping) and value.get("class_name") == "function":
        name = value.get("config")
        fn = get_registered_object(str(name), custom_objects) if isinstance(name, str) else None
        if not callable(fn):
            raise ValueError(
                f"Lambda layer {layer_name!r} names the function {name!r} (module {value.get('module')!r}), which "
                f"is not among custom_objects or the registered objects; kerasish never imports a module named in "
                f"a file. Pass custom_objects={{'{name}': {name}}}."
            )
        return fn
    if isinstance(value, Mapping) and "source" in value:
        from kerasish.layers.lambda_layer import Lambda

        return Lambda.from_config({"function": value}).function
    raise ValueError(f"Lambda layer {layer_name!r}: unknown function entry {short_repr(value, 160)}.")


def input_from_keras(config: Mapping[str, Any]) -> Any:
    """The kerasish Input for Keras's InputLayer config."""
    from kerasish.layers.core import Input

    shape = config.get("batch_shape") or config.get("batch_input_shape")
    for key, off in (("sparse", False), ("ragged", False), ("optional", False)):
        if config.get(key, off) not in (off, None):
            raise ValueError(
                f"Input {config.get('name')!r} sets {key}={config[key]!r}, which kerasish cannot honour (its inputs "
                f"are dense, non-optional torch tensors). Save the Keras model with {key}=False."
            )
    return Input(batch_shape=tuple(shape), dtype=dtype_from_keras(config.get("dtype"), "Input"),
                 name=config.get("name"))


def _accepted_keys(cls: type) -> Optional[set]:
    """The argument names `cls(**config)` accepts (None: any, the class takes **kwargs it keeps)."""
    from kerasish.layers.layer import Layer

    keys: set = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        try:
            params = list(inspect.signature(klass.__init__).parameters.values())[1:]
        except (TypeError, ValueError):
            return None
        keys |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params) or klass is Layer:
            return keys
    return keys


def layer_config_from_keras(cls: type, config: Mapping[str, Any], translate_nested: Any) -> Dict[str, Any]:
    """kerasish's constructor arguments for `cls` from the config Keras wrote.

    `translate_nested(envelope)` turns a nested layer envelope into kerasish's form.

    Raises:
        ValueError: for a key kerasish's class does not take, at a value other than the one
            that turns its feature off.
    """
    where = f"Layer {config.get('name')!r} ({cls.__name__})"
    accepted = _accepted_keys(cls)
    out: Dict[str, Any] = {}
    for key, value in config.items():
        if key == "dtype":
            value = dtype_from_keras(value, where)
        elif key.endswith("_initializer"):
            value = _initializer_from_keras(value)
        elif key.endswith("_regularizer"):
            value = _regularizer_from_keras(value)
        elif key in ("layer", "backward_layer", "cell") and is_envelope(value):
            if cls.__name__ == "Bidirectional":
                # Keras's Bidirectional sets this on its own copies of the layer (from its
                # return_sequences); kerasish's Bidirectional masks its outputs itself.
                value = {**value, "config": {k: v for k, v in value["config"].items() if k != "zero_output_for_mask"}}
            value = translate_nested(value)
        elif key == "cells" and isinstance(value, list):
            value = [translate_nested(v) if is_envelope(v) else v for v in value]
        if accepted is not None and key not in accepted:
            if key in _OFF_VALUES and value == _OFF_VALUES[key]:
                continue
            raise ValueError(
                f"{where}: the Keras config sets {key}={short_repr(value, 120)}, an argument kerasish's "
                f"{cls.__name__} does not have (it takes {sorted(accepted)}). kerasish cannot honour it, so the "
                f"model would compute something else. Remove `{key}` from the layer in Keras (or set it to its "
                "default) before saving, or load this layer as a registered custom layer via custom_objects=."
            )
        out[key] = value
    return out
