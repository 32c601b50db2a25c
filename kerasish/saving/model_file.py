"""The `.kerasish` model file: one zip holding JSON and safetensors.

The file itself is never a pickle, and loading never runs code from it unless the caller
trusts it (`safe_mode=False`): the only code a config can carry is a `Lambda` layer's Python
source and a `TorchModuleWrapper`'s module (pickled inside its config, as Keras 3 stores it).

Members:

- `config.json`: `{'format': 'kerasish', 'format_version': 1, 'model': {class_name, config},
  'compile': {optimizer, loss, metrics, weighted_metrics, loss_weights, jit_compile} or null}`;
  metrics are names or Metric envelopes (per output: a dict by output name).
- `model.safetensors`: `model.state_dict()`.
- `optimizer.safetensors` + `optimizer.json`: the torch optimizer's state_dict split by
  `encode_state` (present once the optimizer has been built).

A file is untrusted input. Before anything is read, member names are checked (no
duplicates, nothing pointing outside the archive) and so are their declared sizes (JSON
members against `JSON_LIMITS`, any member against `MAX_COMPRESSION_RATIO`). JSON is parsed
only after its nesting depth is checked. The architecture is first built on the meta device
(no memory, no initialisation): its variables bound the size of the weights member, and
their shapes are checked against the file's tensors before the real model is built.
"""

from __future__ import annotations

import json
import os
import random
import warnings
import zipfile
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from kerasish.saving import zip_guard
from kerasish.saving.json_guard import MAX_DEPTH, parse_json
from kerasish.saving import serialization
from kerasish.saving.weights import (
    MODEL_SUFFIX, assign_weights, decode_state, encode_state, match_weights, tensors_from_bytes, tensors_to_bytes,
)
from kerasish.utils.io import atomic_write
from kerasish.utils.object_registration import resolve_class
from kerasish.utils.safe_mode import SafeModeScope
from kerasish.utils.text import short_repr

FORMAT_VERSION = 1


# --------------------------------------------------------------------- optimizer state
def optimizer_state_to_files(optimizer: Any) -> Optional[Tuple[bytes, str]]:
    """(safetensors bytes, JSON structure) for a kerasish optimizer's torch state, or None if unbuilt."""
    if optimizer is None or getattr(optimizer, "torch_optimizer", None) is None:
        return None
    structure, tensors = encode_state(optimizer.state_dict(), "optimizer")
    return tensors_to_bytes(tensors), json.dumps(structure)


def load_optimizer_state(optimizer: Any, data: bytes, structure_json: str, source: str) -> None:
    """Restores what `optimizer_state_to_files` wrote into a built kerasish optimizer.

    Raises:
        ValueError: when the stored state does not fit the optimizer's parameters.
    """
    tensors = tensors_from_bytes(data, source)
    structure = parse_json(structure_json.encode("utf-8"), f"The optimizer description in {source}")
    try:
        state = decode_state(structure, tensors)
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError, TypeError, IndexError, AttributeError) as e:
        raise ValueError(
            f"The optimizer state in {source} does not fit this model's optimizer ({type(e).__name__}: {e}). "
            "Expected state saved from the same architecture and optimizer class; compile with the saved "
            "optimizer, or load with compile=False and start a fresh optimizer."
        ) from None


# --------------------------------------------------------------------- zip access
_MiB = 2 ** 20
#: The most a JSON member may inflate to; tensor members are bounded by the architecture (see load_model).
JSON_LIMITS = {"config.json": 64 * _MiB, "optimizer.json": 256 * _MiB}
#: Uncompressed / compressed size above which a member over 1 MiB is refused (model.save stores
#: members uncompressed; random-looking weights deflate by ~1.1x, JSON by ~10x).
MAX_COMPRESSION_RATIO = zip_guard.MAX_COMPRESSION_RATIO
#: Nesting depth past which a JSON member is refused before parsing (a saved model nests ~6 per sub-model).
MAX_JSON_DEPTH = MAX_DEPTH


def _bad_file(filepath: str, why: str) -> ValueError:
    return ValueError(
        f"{filepath!r} is not a readable .kerasish model file: {why}. Expected a zip written by model.save(); "
        "if the save was interrupted, use an earlier checkpoint or save again. kerasish never unpickles files."
    )


def _check_members(zf: zipfile.ZipFile, filepath: str) -> None:
    """Refuses duplicated names, names that point outside the archive and zip bombs, before any read."""
    zip_guard.check_members(zf, lambda why: _bad_file(filepath, why))


def _open(filepath: str) -> zipfile.ZipFile:
    if not os.path.isfile(filepath):
        raise FileNotFoundError(
            f"No model file at {filepath!r}. Check the path (the working folder is {os.getcwd()!r}).")
    try:
        zf = zipfile.ZipFile(filepath)
    except zipfile.BadZipFile as e:
        with open(filepath, "rb") as f:
            head = f.read(2)
        why = "it is a Python pickle, which could run code when loaded" if head[:1] == b"\x80" else (
            f"it is truncated or not a zip archive ({e})")
        raise _bad_file(filepath, why) from None
    try:
        _check_members(zf, filepath)
    except ValueError:
        zf.close()
        raise
    return zf


def _read(zf: zipfile.ZipFile, filepath: str, name: str, limit: Optional[int] = None) -> bytes:
    """The member's bytes, refused unread when its declared size passes `limit` (for weights: what
    the saved architecture's variables take)."""
    hint = " (it looks like a torch.save checkpoint, which holds a pickle)" if any(
        n.endswith(".pkl") for n in zf.namelist()) else ""
    return zip_guard.read_bounded(zf, name, lambda why: _bad_file(filepath, why), limit, missing_hint=hint)


def read_member(filepath: str, name: str) -> bytes:
    """The bytes of one member of a `.kerasish` file, with clear errors."""
    with _open(filepath) as zf:
        return _read(zf, filepath, name, JSON_LIMITS.get(name))


# --------------------------------------------------------------------- save / load
def save_model(model: Any, filepath: Any, overwrite: bool = True) -> None:
    """Writes the architecture, compile settings, weights and optimizer state to one `.kerasish` file.

    The write is atomic: an interrupted save leaves the previous file intact.

    Args:
        model: a kerasish model whose architecture can be described: Sequential, functional,
            `Model(module)` around a module with get_config/from_config, or a subclass of
            Model whose get_config() returns its constructor arguments. Custom layers and
            models need such a get_config(); register them with
            `@register_keras_serializable()` so that loading finds them.
        filepath: path ending in `.kerasish`.
        overwrite: replace an existing file. Defaults to `True`.

    Raises:
        ValueError: for another suffix, or an architecture that cannot be described (the
            message says how: save_weights, or a get_config() returning the constructor
            arguments), checked before anything is written.
        TypeError: when a custom class's get_config() holds values JSON cannot hold.
        FileExistsError: if the file exists and `overwrite` is False.

    Example:
        >>> import os, tempfile
        >>> from kerasish import Sequential
        >>> from kerasish.layers import Dense
        >>> model = Sequential([Dense(2, input_shape=(3,))])
        >>> model.compile(optimizer="adam", loss="mse", device="cpu")
        >>> path = os.path.join(tempfile.mkdtemp(), "model.kerasish")
        >>> save_model(model, path)
        >>> load_model(path).get_weights()[0].shape
        (3, 2)
    """
    filepath = os.fspath(filepath)
    if not filepath.endswith(MODEL_SUFFIX):
        raise ValueError(
            f"The model file path must end in '.kerasish', received filepath={filepath!r}. Use a name such as "
            "'model.kerasish', or model.save_weights('model.weights.safetensors') to save only the weights."
        )
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(
            f"{filepath!r} already exists and overwrite=False. Pass overwrite=True or choose another path.")
    architecture = serialization.serialize_model(model)
    compile_config, dropped = serialization.serialize_compile(model)
    if dropped:
        warnings.warn(
            f"Saving {filepath!r} without: {', '.join(dropped)}. A file cannot hold code, so load_model will "
            f"return {'an uncompiled model' if compile_config is None else 'a model compiled without them'}; "
            "compile it again after loading, or use named losses/metrics.", stacklevel=3)
    config = {"format": "kerasish", "format_version": FORMAT_VERSION, "model": architecture,
              "compile": compile_config}
    config_json = json.dumps(config, indent=2)  # before opening the file: nothing is written if this fails
    weights = tensors_to_bytes(model.state_dict())
    optimizer_files = optimizer_state_to_files(getattr(model, "optimizer", None))
    with atomic_write(filepath) as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("config.json", config_json)
            zf.writestr("model.safetensors", weights)
            if optimizer_files is not None:
                zf.writestr("optimizer.safetensors", optimizer_files[0])
                zf.writestr("optimizer.json", optimizer_files[1])


def load_model(filepath: Any, custom_objects: Optional[Mapping[str, type]] = None, compile: bool = True,
               safe_mode: bool = True, *, device: Any = None) -> Any:
    """Rebuilds a model saved by `save_model`, ready to `predict` or to continue `fit`.

    Nothing in the file can run code: the architecture is JSON resolved through the
    class registry, tensors are safetensors.

    Args:
        filepath: a `.kerasish` file.
        custom_objects: `{class_name: class}` for classes that are not registered. A
            saved name is looked up here first, then in the enclosing
            `custom_object_scope(...)`, then among the classes registered with
            `@register_keras_serializable()`, then kerasish's own. Defaults to `None`.
        compile: compile the model with the saved settings and restore the optimizer
            state. Defaults to `True`.
        safe_mode: refuse to run code stored in the file. The only such code is the Python
            source of a `Lambda` layer's function; pass `False` only for files you trust.
            Defaults to `True`.
        device: where to put the model (as in `compile`). Defaults to `None` (kerasish's choice).

    Returns:
        The model.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for a file that is not a valid model file (truncated, a pickle, edited,
            duplicated or escaping member names, members larger than their role allows or
            compressed like a zip bomb, JSON nested too deep), an entry of the config or of the
            compile settings that cannot be rebuilt (the message names it), a class name found
            nowhere (the message says how to pass it), or weights that do not fit the
            architecture (checked before the model's memory is allocated).
        TypeError: when `custom_objects` is not a dict of names to classes.
    """
    custom_objects = serialization.check_custom_objects(custom_objects)
    filepath = os.fspath(filepath)
    with _open(filepath) as zf:
        config = parse_json(_read(zf, filepath, "config.json", JSON_LIMITS["config.json"]),
                            f"{filepath!r}: config.json")
        _check_config(config, filepath)
        # A dry run on the meta device: the shapes the architecture declares, without memory.
        declared = _declared_weights(config["model"], custom_objects) if safe_mode else None
        weights_bytes = None if declared is None else sum(v.numel() * v.element_size() for v in declared.values())
        limit = None if weights_bytes is None else 2 * weights_bytes + _MiB + 1024 * len(declared)
        source = f"{filepath!r} (model.safetensors)"
        weights = tensors_from_bytes(_read(zf, filepath, "model.safetensors", limit), source)
        if declared is not None:  # shapes checked before a byte of the real model is allocated
            match_weights(config["model"]["config"].get("name"), declared, weights, source)
        names = set(zf.namelist())
        optimizer_files = None
        if compile and {"optimizer.safetensors", "optimizer.json"} <= names:
            optimizer_files = (_read(zf, filepath, "optimizer.safetensors", None if limit is None else 5 * limit),
                               _read(zf, filepath, "optimizer.json", JSON_LIMITS["optimizer.json"]).decode(
                                   "utf-8", "replace"))
    with SafeModeScope(safe_mode):
        model = serialization.deserialize_model(config["model"], custom_objects)
    compile_config: Optional[Dict[str, Any]] = config.get("compile")
    if compile and compile_config is not None:
        compile_from_file(model, compile_config, custom_objects, filepath, device)
    elif device is not None:
        model.to(device)
    assign_weights(model, weights, repr(filepath))
    if compile and compile_config is not None and optimizer_files is not None:
        model.ensure_optimizer()
        load_optimizer_state(model.optimizer, optimizer_files[0], optimizer_files[1],
                             f"{filepath!r} (optimizer.safetensors)")
    return model


def _check_config(config: Any, filepath: str) -> None:
    if not isinstance(config, dict) or config.get("format") != "kerasish" or "model" not in config:
        raise _bad_file(filepath, "config.json does not describe a kerasish model")
    version = config.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise _bad_file(filepath, f"config.json has format_version={version!r} ({type(version).__name__}), "
                                  "expected an integer")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{filepath!r} was written in model-file format {version}, newer than this "
            f"kerasish reads ({FORMAT_VERSION}). Upgrade kerasish to load it.")
    if not isinstance(config.get("compile"), (dict, type(None))):
        raise _bad_file(filepath, f"config.json has compile={config['compile']!r:.80}, expected the compile "
                                  "settings (a dict) or null; load with compile=False to skip them")


def _declared_weights(envelope: Mapping[str, Any], custom_objects: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The state_dict the saved architecture declares, built on the meta device (no memory,
    no initialisation), or None when a layer cannot be built there (an op without a meta
    kernel, a tensor created on an explicit device). Only in safe mode: a trusted file's code
    (Lambda, TorchModuleWrapper) is not run twice."""
    seeds = random.getstate()  # layers built without a seed draw one: the real build must draw the same
    try:
        with SafeModeScope(True), torch.device("meta"):
            return serialization.deserialize_model(envelope, custom_objects).state_dict()
    except (NotImplementedError, RuntimeError, TypeError, ValueError):
        return None  # the real build below raises the same error when the config caused it
    finally:
        random.setstate(seeds)


# --------------------------------------------------------------------- compile settings
def compile_from_file(model: Any, settings: Mapping[str, Any], custom_objects: Mapping[str, Any], filepath: str,
                      device: Any) -> None:
    """Compiles `model` with the settings `serialization.serialize_compile` wrote.

    Raises:
        ValueError: naming the entry (`compile.metrics[1]`, ...) that is not what a saved
            model holds, or settings that `compile` refuses.
    """
    optimizer = serialization.deserialize_optimizer(settings.get("optimizer"))
    loss = _decode_loss(settings.get("loss"), "compile.loss")
    metrics = _decode_metrics(settings.get("metrics"), "compile.metrics", custom_objects)
    weighted = _decode_metrics(settings.get("weighted_metrics"), "compile.weighted_metrics", custom_objects)
    loss_weights = settings.get("loss_weights")
    if not _numbers(loss_weights):
        raise _bad_entry("compile.loss_weights", loss_weights, "a number, a list of numbers or a dict of numbers")
    try:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics or None, loss_weights=loss_weights,
                      weighted_metrics=weighted or None, jit_compile=settings.get("jit_compile") is True,
                      device=device)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"The compile settings in {filepath!r} do not fit the saved model ({e}). Load with compile=False "
            "and compile the model yourself."
        ) from None


def _bad_entry(where: str, value: Any, expected: str) -> ValueError:
    return ValueError(
        f"The saved {where} is {short_repr(value, 120)}, expected {expected}. The file was edited or damaged; "
        "load it with compile=False and compile the model yourself."
    )


def _numbers(value: Any) -> bool:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if value is None or number(value):
        return True
    if isinstance(value, list):
        return all(number(v) for v in value)
    return isinstance(value, dict) and all(isinstance(k, str) and number(v) for k, v in value.items())


def _is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value


def _decode_loss(value: Any, where: str) -> Any:
    from kerasish import losses

    if value is None or isinstance(value, str):
        return value
    if _is_envelope(value):
        if not (isinstance(value["class_name"], str) and isinstance(value.get("config", {}), dict)):
            raise _bad_entry(where, value, "{'class_name': str, 'config': dict} or a loss name")
        try:
            return losses.get({"class_name": value["class_name"], "config": value.get("config", {})})
        except (ValueError, TypeError) as e:
            raise _bad_entry(where, value, f"a kerasish loss and its config ({e})") from None
    if isinstance(value, dict):
        return {k: _decode_loss(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_loss(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise _bad_entry(where, value, "a loss name, a loss description, or a dict/list of them per output")


def _decode_metric(value: Any, where: str, custom_objects: Mapping[str, Any]) -> Any:
    from kerasish import metrics

    if isinstance(value, str):
        return value
    if not (_is_envelope(value) and isinstance(value["class_name"], str) and isinstance(value.get("config"), dict)):
        raise _bad_entry(where, value, "a metric name or {'class_name': str, 'config': dict}")
    name, config = value["class_name"], value["config"]
    module = value.get("module")
    try:
        if not isinstance(module, str) or module == "keras.metrics" or module.startswith("kerasish.metrics"):
            return metrics.get({"class_name": name, "config": config})
        cls = resolve_class(name, value.get("registered_name"), module, custom_objects)
        if not (isinstance(cls, type) and issubclass(cls, metrics.Metric)):
            raise TypeError(f"{name!r} resolves to {short_repr(cls)}, which is not a kerasish.metrics.Metric")
        return cls.from_config(dict(config))
    except (ValueError, TypeError) as e:
        raise _bad_entry(where, value, f"a metric kerasish can rebuild ({e})") from None


def _decode_metrics(value: Any, where: str, custom_objects: Mapping[str, Any]) -> Any:
    if value is None or isinstance(value, str) or _is_envelope(value):
        return None if value is None else [_decode_metric(value, where, custom_objects)]
    if isinstance(value, list):
        return [_decode_metrics(v, f"{where}[{i}]", custom_objects) if isinstance(v, list)
                else _decode_metric(v, f"{where}[{i}]", custom_objects) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _decode_metrics(v, f"{where}[{k!r}]", custom_objects) for k, v in value.items()}
    raise _bad_entry(where, value, "a list of metric names or descriptions, or a dict of them per output")
