"""The `.kerasish` model file: one zip holding JSON and safetensors.

The file itself is never a pickle, and loading never runs code from it unless the caller
trusts it (`safe_mode=False`): the only code a config can carry is a `Lambda` layer's Python
source and a `TorchModuleWrapper`'s module (pickled inside its config, as Keras 3 stores it).

Members:

- `config.json`: `{'format': 'kerasish', 'format_version': 1, 'model': {class_name, config},
  'compile': {optimizer, loss, metrics, loss_weights, jit_compile} or null}`.
- `model.safetensors`: `model.state_dict()`.
- `optimizer.safetensors` + `optimizer.json`: the torch optimizer's state_dict split by
  `serialization.encode_state` (present once the optimizer has been built).
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
import zlib
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from kerasish.saving import serialization
from kerasish.saving.weights import (
    MODEL_SUFFIX, assign_weights, tensors_from_bytes, tensors_to_bytes,
)
from kerasish.utils.io import atomic_write
from kerasish.utils.safe_mode import SafeModeScope

FORMAT_VERSION = 1


# --------------------------------------------------------------------- optimizer state
def optimizer_state_to_files(optimizer: Any) -> Optional[Tuple[bytes, str]]:
    """(safetensors bytes, JSON structure) for a kerasish optimizer's torch state, or None if unbuilt."""
    if optimizer is None or getattr(optimizer, "torch_optimizer", None) is None:
        return None
    structure, tensors = serialization.encode_state(optimizer.state_dict(), "optimizer")
    return tensors_to_bytes(tensors), json.dumps(structure)


def load_optimizer_state(optimizer: Any, data: bytes, structure_json: str, source: str) -> None:
    """Restores what `optimizer_state_to_files` wrote into a built kerasish optimizer.

    Raises:
        ValueError: when the stored state does not fit the optimizer's parameters.
    """
    tensors = tensors_from_bytes(data, source)
    try:
        structure = json.loads(structure_json)
    except json.JSONDecodeError as e:
        raise ValueError(f"The optimizer description in {source} is not valid JSON ({e}). Save the model again.") from None
    state = serialization.decode_state(structure, tensors)
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError) as e:
        raise ValueError(
            f"The optimizer state in {source} does not fit this model's optimizer ({type(e).__name__}: {e}). "
            "Expected state saved from the same architecture and optimizer class; compile with the saved "
            "optimizer, or load with compile=False and start a fresh optimizer."
        ) from None


# --------------------------------------------------------------------- zip access
def _bad_file(filepath: str, why: str) -> ValueError:
    return ValueError(
        f"{filepath!r} is not a readable .kerasish model file: {why}. Expected a zip written by model.save(); "
        "if the save was interrupted, use an earlier checkpoint or save again. kerasish never unpickles files."
    )


def _open(filepath: str) -> zipfile.ZipFile:
    if not os.path.isfile(filepath):
        raise FileNotFoundError(
            f"No model file at {filepath!r}. Check the path (the working folder is {os.getcwd()!r}).")
    try:
        return zipfile.ZipFile(filepath)
    except zipfile.BadZipFile as e:
        with open(filepath, "rb") as f:
            head = f.read(2)
        why = "it is a Python pickle, which could run code when loaded" if head[:1] == b"\x80" else (
            f"it is truncated or not a zip archive ({e})")
        raise _bad_file(filepath, why) from None


def _read(zf: zipfile.ZipFile, filepath: str, name: str) -> bytes:
    try:
        return zf.read(name)
    except KeyError:
        names = zf.namelist()
        hint = " (it looks like a torch.save checkpoint, which holds a pickle)" if any(
            n.endswith(".pkl") for n in names) else ""
        raise _bad_file(filepath, f"the member {name!r} is missing; it holds {names[:8]}{hint}") from None
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as e:
        raise _bad_file(filepath, f"the member {name!r} is damaged ({e})") from None


def read_member(filepath: str, name: str) -> bytes:
    """The bytes of one member of a `.kerasish` file, with clear errors."""
    with _open(filepath) as zf:
        return _read(zf, filepath, name)


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
        ValueError: for a file that is not a valid model file (truncated, a pickle, edited),
            a class name found nowhere (the message says how to pass it), or weights that do
            not fit the architecture.
        TypeError: when `custom_objects` is not a dict of names to classes.
    """
    custom_objects = serialization.check_custom_objects(custom_objects)
    filepath = os.fspath(filepath)
    with _open(filepath) as zf:
        raw = _read(zf, filepath, "config.json")
        try:
            config = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise _bad_file(filepath, f"config.json is not valid JSON ({e})") from None
        if not isinstance(config, dict) or config.get("format") != "kerasish" or "model" not in config:
            raise _bad_file(filepath, "config.json does not describe a kerasish model")
        if config.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(
                f"{filepath!r} was written in model-file format {config['format_version']}, newer than this "
                f"kerasish reads ({FORMAT_VERSION}). Upgrade kerasish to load it.")
        weights = tensors_from_bytes(_read(zf, filepath, "model.safetensors"), f"{filepath!r} (model.safetensors)")
        names = set(zf.namelist())
        optimizer_files = None
        if {"optimizer.safetensors", "optimizer.json"} <= names:
            optimizer_files = (_read(zf, filepath, "optimizer.safetensors"),
                               _read(zf, filepath, "optimizer.json").decode("utf-8"))
    with SafeModeScope(safe_mode):
        model = serialization.deserialize_model(config["model"], custom_objects)
    compile_config: Optional[Dict[str, Any]] = config.get("compile")
    if compile and compile_config is not None:
        loss = compile_config.get("loss")
        if isinstance(loss, dict) and "class_name" in loss:  # a loss object's {class_name, config} envelope
            from kerasish import losses

            loss = losses.get(loss)
        model.compile(optimizer=serialization.deserialize_optimizer(compile_config["optimizer"]),
                      loss=loss, metrics=compile_config.get("metrics") or None,
                      loss_weights=compile_config.get("loss_weights"),
                      jit_compile=bool(compile_config.get("jit_compile", False)), device=device)
    elif device is not None:
        model.to(device)
    assign_weights(model, weights, repr(filepath))
    if compile and compile_config is not None and optimizer_files is not None:
        model.ensure_optimizer()
        load_optimizer_state(model.optimizer, optimizer_files[0], optimizer_files[1],
                             f"{filepath!r} (optimizer.safetensors)")
    return model
