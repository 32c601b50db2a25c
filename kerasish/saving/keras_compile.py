"""A model's compile settings in Keras 3's `compile_config` form, both ways.

`compile_to_keras(model)` is what Keras's `Model.get_compile_config()` returns for a compiled
kerasish model (optimizer, loss and metrics as Keras envelopes or names); `compile_from_keras`
compiles a model from such a dict (Keras's default `compile_from_config`). The `.keras` writer and
reader go through the model's own `get_compile_config` (`compile_config_of`) and
`compile_from_config`, so a user's override is what a file holds and what loading calls.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from kerasish.saving import keras_config_layers as kl
from kerasish.utils.text import short_repr


_OPTIMIZER_KEYS_KERAS_ONLY = {"loss_scale_factor": None, "gradient_accumulation_steps": None, "use_ema": False,
                              "ema_momentum": 0.99, "ema_overwrite_frequency": None}


def compile_config_of(model: Any) -> Dict[str, Any]:
    """`model.get_compile_config()` serialized as Keras serializes it ({} when not compiled): a
    user's override is what the file holds, as Keras's writer calls it."""
    from kerasish.saving.keras_objects import serialize_keras_object

    config = model.get_compile_config()
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise TypeError(
            f"{type(model).__name__}.get_compile_config() must return a dict (or None), received "
            f"{short_repr(config)} of type {type(config).__name__}. Return the arguments compile_from_config() "
            "needs, e.g. {'optimizer': ..., 'loss': ...}."
        )
    return serialize_keras_object(dict(config))


def compile_to_keras(model: Any) -> Optional[Dict[str, Any]]:
    """A compiled model's compile settings as Keras 3's `get_compile_config()` gives them (None
    when not compiled).

    Raises:
        ValueError: for settings Keras cannot name (an unregistered loss function, a torch optimizer).
    """
    from kerasish.saving.serialization import serialize_compile

    if getattr(model, "_compile_config", None) is None:
        return None
    config, dropped = serialize_compile(model)
    if config is None:
        raise ValueError(
            f"Cannot describe the compile settings of model {model.name!r} for Keras: {', '.join(dropped)} cannot "
            "be written by name. Compile with string names (optimizer='adam', loss='mse', metrics=['mae']) or "
            "write the config of an uncompiled model."
        )
    optimizer = config["optimizer"]
    if optimizer["class_name"] == "TorchOptimizer":
        raise ValueError(
            f"Model {model.name!r} is compiled with a torch optimizer ({optimizer['config']['torch_class']}), which "
            "Keras does not have. Compile with a kerasish optimizer (e.g. 'adam') to write its Keras config."
        )
    opt_config = {"name": optimizer["class_name"].lower(), **optimizer["config"]}
    rate = opt_config.get("learning_rate")
    if kl.is_envelope(rate) and rate.get("module") == "kerasish.optimizers.schedules":
        opt_config["learning_rate"] = {**rate, "module": "keras.optimizers.schedules"}  # Keras's own class
    loss = config["loss"]
    loss_object = getattr(model._compile_config, "loss", None)
    if kl.is_envelope(loss) and loss_object is not None and not isinstance(loss_object, (list, dict)):
        loss = {**loss, "class_name": type(loss_object).__name__}  # Keras's class name, not kerasish's alias
    loss_weights = config.get("loss_weights")
    if isinstance(loss_weights, (int, float)) and loss_weights == 1.0:
        loss_weights = None  # one output weighted 1: Keras writes "not given"
    return {"optimizer": {"module": "keras.optimizers", "class_name": optimizer["class_name"], "config": opt_config,
                          "registered_name": None},
            "loss": _with_keras_module(loss, "keras.losses"), "loss_weights": loss_weights,
            "metrics": _with_keras_module(config.get("metrics"), "keras.metrics"),
            "weighted_metrics": None,
            "run_eagerly": bool(getattr(model._compile_config, "run_eagerly", False)), "steps_per_execution": 1,
            "jit_compile": bool(config.get("jit_compile"))}


def _is_keras_module(module: Any) -> bool:
    return module is None or (isinstance(module, str) and (module in ("keras", "kerasish") or module.startswith(
        ("keras.", "kerasish."))))


def compile_from_keras(model: Any, config: Mapping[str, Any]) -> None:
    """Compiles `model` from a Keras `compile_config` (what Keras's default `compile_from_config` does).

    Raises:
        ValueError: for a setting kerasish does not restore (naming it) or a class from elsewhere.
    """
    from kerasish.saving.serialization import deserialize_optimizer

    optimizer = config.get("optimizer")
    if kl.is_envelope(optimizer):
        opt_config = {k: v for k, v in optimizer["config"].items() if k != "name"}
        for key, off in _OPTIMIZER_KEYS_KERAS_ONLY.items():
            if key in opt_config and opt_config[key] == off:
                opt_config.pop(key)
        optimizer = deserialize_optimizer({"class_name": optimizer["class_name"], "config": opt_config})
    for key in ("weighted_metrics",):
        if config.get(key):
            raise ValueError(
                f"The compile config sets {key}={short_repr(config[key])}, which from_keras_config does not restore. "
                "Compile the loaded model yourself."
            )
    from kerasish import losses, metrics

    model.compile(optimizer=optimizer, loss=_compile_objects(config.get("loss"), losses.get, "loss"),
                  metrics=_compile_objects(config.get("metrics"), metrics.get, "metric"),
                  loss_weights=config.get("loss_weights"), jit_compile=bool(config.get("jit_compile")))


def _compile_objects(value: Any, get: Any, what: str) -> Any:
    """Losses/metrics of a compile config: names stay names, Keras envelopes become kerasish objects."""
    if isinstance(value, list):
        return [_compile_objects(v, get, what) for v in value]
    if kl.is_envelope(value):
        if not _is_keras_module(value.get("module")) and value.get("registered_name") is None:
            raise ValueError(
                f"The compile config names the {what} {value['class_name']!r} from module {value.get('module')!r}, "
                "which kerasish does not have; kerasish never imports a module named in a file. Load with "
                "compile=False and compile the model yourself."
            )
        config = {k: v for k, v in value["config"].items() if k != "dtype" or isinstance(v, str)}
        return get({"class_name": value["class_name"], "config": config})
    if isinstance(value, Mapping):
        return {k: _compile_objects(v, get, what) for k, v in value.items()}
    return value


def _with_keras_module(value: Any, module: str) -> Any:
    """kerasish's loss/metric envelopes in a compile config, with the module Keras looks them up in."""
    if isinstance(value, list):
        return [_with_keras_module(v, module) for v in value]
    if kl.is_envelope(value):
        return {"module": module, "class_name": value["class_name"], "config": value["config"],
                "registered_name": value.get("registered_name")}
    if isinstance(value, Mapping):
        return {k: _with_keras_module(v, module) for k, v in value.items()}
    return value
