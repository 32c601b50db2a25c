"""Which file format a path means: one registry keyed by suffix, for models and for weights.

| suffix          | `model.save` / `load_model`                 | `save_weights` / `load_weights`          |
|-----------------|---------------------------------------------|------------------------------------------|
| `.keras`        | Keras 3's zip (Keras opens it; we open its) | load: the weights inside                 |
| `.kerasish`     | kerasish's zip (JSON + safetensors)         | load: the weights inside                 |
| `.weights.h5`   | -                                           | Keras 3's HDF5 weights, both ways        |
| `.weights.json` | -                                           | Keras 3's sharded weights, both ways     |
| `.safetensors`  | -                                           | safetensors by state-dict key            |
| `.h5` / `.hdf5` | legacy tf.keras HDF5: load only             | legacy: load only (`by_name` too)        |

`.keras` is the format to exchange models with Keras and the one kerasish recommends for
models made of Keras layers; `.kerasish` also describes what Keras's format cannot (a plain
torch module in a `Sequential`, `kerasish.Model(torch_module)`) and keeps the exact
`torch.optim` state. Both are read without pickle and without running code from the file.
`model.save(folder, zipped=False)` writes the `.keras` content unzipped into a folder (no
suffix), which `load_model(folder)` reads, as in Keras (`keras_folder`);
`save_weights("m.weights.json", max_shard_size=2)` writes Keras's sharded weights (`keras_sharded`).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional


class ModelFormat(NamedTuple):
    description: str
    save: Optional[Callable[..., None]]
    load: Optional[Callable[..., Any]]


class WeightsFormat(NamedTuple):
    description: str
    save: Optional[Callable[..., None]]
    load: Optional[Callable[..., None]]


def _save_keras(model: Any, filepath: str, overwrite: bool = True) -> None:
    from kerasish.saving.keras_file import save_keras

    save_keras(model, filepath, overwrite=overwrite)


def _load_keras(filepath: str, custom_objects: Any = None, compile: bool = True, safe_mode: bool = True) -> Any:
    from kerasish.saving.keras_file import load_keras

    return load_keras(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def _save_kerasish(model: Any, filepath: str, overwrite: bool = True) -> None:
    from kerasish.saving.model_file import save_model

    save_model(model, filepath, overwrite=overwrite)


def _load_kerasish(filepath: str, custom_objects: Any = None, compile: bool = True, safe_mode: bool = True) -> Any:
    from kerasish.saving.model_file import load_model

    return load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def _legacy_h5(*args: Any, **kwargs: Any) -> Any:
    raise ValueError(
        "Legacy tf.keras HDF5 files ('.h5' without '.weights') are read but not written (Keras 3 deprecates "
        "them too). Save as Keras 3's format instead: model.save('model.keras') for the whole model, or "
        "model.save_weights('model.weights.h5') for the weights."
    )


def _load_legacy_h5_model(filepath: str, custom_objects: Any = None, compile: bool = True,
                          safe_mode: bool = True) -> Any:
    from kerasish.saving.legacy_h5 import load_legacy_h5_model

    return load_legacy_h5_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def _load_legacy_h5_weights(model: Any, filepath: str, skip_mismatch: bool = False, by_name: bool = False) -> None:
    from kerasish.saving.legacy_h5 import load_legacy_h5_weights

    load_legacy_h5_weights(model, filepath, by_name=by_name, skip_mismatch=skip_mismatch)


def _save_weights_h5(model: Any, filepath: str, overwrite: bool = True) -> None:
    from kerasish.saving.keras_weights import write_keras_weights

    if os.path.exists(filepath) and not overwrite:
        raise FileExistsError(f"{filepath} exists; pass overwrite=True to replace it.")
    write_keras_weights(model, filepath)


def _load_weights_h5(model: Any, filepath: str, skip_mismatch: bool = False) -> None:
    from kerasish.saving.keras_weights import read_keras_weights

    read_keras_weights(model, filepath, skip_mismatch=skip_mismatch)


def _load_weights_from_keras(model: Any, filepath: str, skip_mismatch: bool = False) -> None:
    import tempfile

    from kerasish.saving.keras_file import WEIGHTS_H5, copy_weights_member
    from kerasish.saving.keras_weights import read_keras_weights

    with tempfile.TemporaryDirectory(prefix="kerasish-") as tmp:
        target = os.path.join(tmp, WEIGHTS_H5)
        copy_weights_member(filepath, target)
        read_keras_weights(model, target, skip_mismatch=skip_mismatch)


def _save_sharded(model: Any, filepath: str, overwrite: bool = True, max_shard_size: Any = None) -> None:
    from kerasish.saving.keras_sharded import save_sharded_weights

    if max_shard_size is None:
        raise ValueError(
            f"{filepath!r} names Keras's sharded weights (a '.weights.json' index plus shards), which need "
            "max_shard_size (in GB). Pass e.g. model.save_weights(path, max_shard_size=2), or save one file with a "
            "'.weights.h5' path.")
    save_sharded_weights(model, filepath, max_shard_size, overwrite=overwrite)


def _load_sharded(model: Any, filepath: str, skip_mismatch: bool = False) -> None:
    from kerasish.saving.keras_sharded import load_sharded_weights

    load_sharded_weights(model, filepath, skip_mismatch=skip_mismatch)


def _save_safetensors(model: Any, filepath: str, overwrite: bool = True) -> None:
    from kerasish.saving.weights import save_weights

    save_weights(model, filepath, overwrite=overwrite)


def _load_safetensors(model: Any, filepath: str, skip_mismatch: bool = False) -> None:
    from kerasish.saving.weights import load_weights

    if skip_mismatch:
        raise ValueError(
            f"skip_mismatch=True is not supported for {os.path.basename(filepath)!r} (safetensors and .kerasish "
            "weights are matched by key and must all fit). Use a '.weights.h5' file to skip mismatched layers."
        )
    load_weights(model, filepath)


MODEL_FORMATS: Dict[str, ModelFormat] = {
    ".keras": ModelFormat("Keras 3's model file", _save_keras, _load_keras),
    ".kerasish": ModelFormat("kerasish's model file", _save_kerasish, _load_kerasish),
    ".h5": ModelFormat("legacy tf.keras HDF5, read only", _legacy_h5, _load_legacy_h5_model),
    ".hdf5": ModelFormat("legacy tf.keras HDF5, read only", _legacy_h5, _load_legacy_h5_model),
}
WEIGHTS_FORMATS: Dict[str, WeightsFormat] = {
    ".weights.h5": WeightsFormat("Keras 3's HDF5 weights", _save_weights_h5, _load_weights_h5),
    ".weights.json": WeightsFormat("Keras 3's sharded HDF5 weights (index + shards)", _save_sharded, _load_sharded),
    ".safetensors": WeightsFormat("safetensors weights", _save_safetensors, _load_safetensors),
    ".keras": WeightsFormat("the weights in a Keras 3 model file", None, _load_weights_from_keras),
    ".kerasish": WeightsFormat("the weights in a kerasish model file", None, _load_safetensors),
    ".h5": WeightsFormat("legacy tf.keras HDF5 weights, read only", _legacy_h5, _load_legacy_h5_weights),
    ".hdf5": WeightsFormat("legacy tf.keras HDF5 weights, read only", _legacy_h5, _load_legacy_h5_weights),
}
_PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".tar")


def _match(filepath: str, table: Mapping[str, Any]) -> Optional[str]:
    name = filepath.lower()
    for suffix in sorted(table, key=len, reverse=True):  # '.weights.h5' before '.h5'
        if name.endswith(suffix):
            return suffix
    return None


def _unknown(filepath: str, table: Mapping[str, Any], what: str, example: str) -> ValueError:
    hint = (" That suffix usually means a pickle-based file, which kerasish never loads because unpickling can "
            "run code." if filepath.lower().endswith(_PICKLE_SUFFIXES) else "")
    choices = ", ".join(f"'{s}' ({f.description})" for s, f in table.items() if not s.endswith("hdf5"))
    return ValueError(f"{what} must end in one of {choices}; received filepath={filepath!r}.{hint} "
                      f"Example: {example}.")


def model_format(filepath: Any, saving: bool) -> ModelFormat:
    """The model format of `filepath` (by suffix), or a ValueError listing the choices."""
    path = os.fspath(filepath)
    suffix = _match(path, MODEL_FORMATS)
    if suffix is None or (suffix == ".h5" and path.lower().endswith(".weights.h5")):
        if path.lower().endswith((".weights.h5", ".weights.json", ".safetensors")):
            verb = "model.save_weights(path)" if saving else "model.load_weights(path)"
            raise ValueError(f"{path!r} names a weights file; use {verb} for it, or a '.keras' path for the model.")
        raise _unknown(path, MODEL_FORMATS, "The model file path", "model.save('model.keras')")
    return MODEL_FORMATS[suffix]


def weights_format(filepath: Any, saving: bool) -> WeightsFormat:
    """The weights format of `filepath` (by suffix), or a ValueError listing the choices."""
    path = os.fspath(filepath)
    suffix = _match(path, WEIGHTS_FORMATS)
    if suffix is None:
        raise _unknown(path, WEIGHTS_FORMATS, "The weights file path", "model.save_weights('model.weights.h5')")
    fmt = WEIGHTS_FORMATS[suffix]
    if saving and fmt.save is None:
        raise ValueError(
            f"save_weights writes weights files; {path!r} names a whole-model file ({suffix}). Use "
            f"model.save({path!r}) for the model, or a '.weights.h5' path for the weights."
        )
    return fmt


# Keras's saving hooks a user's class may define. The `.keras` writer and reader (zipped or a
# folder) call them all as Keras does: the state hooks (`keras_paths.SAVING_HOOKS`) in
# `keras_weights` / `keras_assets`, the compile pair in `keras_config`. kerasish's own `.kerasish`
# format calls none: what they store would be lost without a word, so saving one refuses such a model.
_COMPILE_HOOKS = ("get_compile_config", "compile_from_config")


def check_saving_hooks(model: Any, keras_format: bool = False) -> None:
    """Raises when `model` or a layer in it defines a Keras saving hook the chosen format does not call.

    Args:
        model: the model to save.
        keras_format: True for Keras's `.keras` format (zipped or a folder), which calls every
            hook (`save_own_variables` ... `load_assets`, `get_compile_config`, `compile_from_config`).
            Defaults to `False` (kerasish's `.kerasish` format, which calls none).

    Raises:
        ValueError: naming the class, the hooks and what to do instead.
    """
    from kerasish.saving.keras_paths import SAVING_HOOKS as _STATE_HOOKS
    from kerasish.saving.keras_paths import user_hooks

    if keras_format:
        return
    uncalled = _STATE_HOOKS + _COMPILE_HOOKS
    modules = model.modules() if callable(getattr(model, "modules", None)) else [model]
    for module in modules:
        hooks = user_hooks(module, uncalled)
        if not hooks:
            continue
        if set(hooks) & set(_STATE_HOOKS):
            raise ValueError(
                f"{type(module).__name__} defines {', '.join(h + '()' for h in hooks)}, which kerasish's own "
                "'.kerasish' files never call, so what they store or restore would be lost. Save the model as "
                "'.keras' (model.save('model.keras')), whose writer and reader call save_own_variables, "
                "load_own_variables, save_assets and load_assets as Keras does."
            )
        raise ValueError(
            f"{type(module).__name__} defines {', '.join(h + '()' for h in hooks)}, which kerasish's own '.kerasish' "
            "files never call, so the compile state they describe would be lost. Save the model as '.keras' "
            "(model.save('model.keras')), whose writer and reader call get_compile_config and compile_from_config "
            "as Keras does."
        )


def save_model(model: Any, filepath: Any, overwrite: bool = True, zipped: Optional[bool] = None) -> None:
    """Saves `model` in the format its suffix names (see the module docstring); `zipped=False`
    writes the `.keras` content into the folder `filepath` (which must not end in `.keras`).

    Raises:
        ValueError: for a model Keras's format cannot describe, or, in a `.kerasish` file, a layer
            with a Keras saving hook that format never calls (`save_own_variables`,
            `get_compile_config` ...).
    """
    if zipped is not None and not isinstance(zipped, bool):
        raise TypeError(f"zipped must be True, False or None, received zipped={zipped!r}. Pass zipped=False to "
                        "write the model as a folder, or leave it out for a '.keras' file.")
    fmt = None if zipped is False else model_format(filepath, saving=True)
    check_saving_hooks(model, keras_format=fmt is None or fmt is MODEL_FORMATS[".keras"])
    if fmt is None:
        from kerasish.saving.keras_folder import save_keras_folder

        save_keras_folder(model, os.fspath(filepath), overwrite=overwrite)
        return
    fmt.save(model, os.fspath(filepath), overwrite=overwrite)


def load_model(filepath: Any, custom_objects: Optional[Mapping[str, Any]] = None, compile: bool = True,
               safe_mode: bool = True) -> Any:
    """Loads a model from a `.keras` or `.kerasish` file, or a folder written with `zipped=False`
    (see the module docstring)."""
    from kerasish.saving.keras_folder import is_keras_folder, load_keras_folder

    if is_keras_folder(filepath):
        return load_keras_folder(os.fspath(filepath), custom_objects=custom_objects, compile=compile,
                                 safe_mode=safe_mode)
    return model_format(filepath, saving=False).load(os.fspath(filepath), custom_objects=custom_objects,
                                                      compile=compile, safe_mode=safe_mode)


def save_weights(model: Any, filepath: Any, overwrite: bool = True, max_shard_size: Any = None) -> None:
    """Saves `model`'s weights in the format its suffix names; with `max_shard_size` (GB), as
    Keras's sharded weights (a `.weights.json` index plus shards, see `keras_sharded`)."""
    if max_shard_size is not None:
        from kerasish.saving.keras_sharded import (
            index_path,
            save_sharded_weights,
            shard_size_bytes,
        )

        shard_size_bytes(max_shard_size)  # the argument first, then the name
        save_sharded_weights(model, index_path(filepath), max_shard_size, overwrite=overwrite)
        return
    weights_format(filepath, saving=True).save(model, os.fspath(filepath), overwrite=overwrite)


def load_weights(model: Any, filepath: Any, skip_mismatch: bool = False, by_name: bool = False) -> None:
    """Loads weights into `model` from any weights or model file kerasish reads (`by_name`: legacy
    `.h5` only, as in Keras 3)."""
    fmt = weights_format(filepath, saving=False)
    if by_name:
        if fmt.load is not _load_legacy_h5_weights:
            raise ValueError(
                f"by_name=True applies to legacy '.h5' weights files only (as in Keras 3), received "
                f"filepath={os.fspath(filepath)!r}. Keras 3's '.weights.h5' and '.keras' files are matched by the "
                "model's structure; drop by_name.")
        fmt.load(model, os.fspath(filepath), skip_mismatch=skip_mismatch, by_name=True)
        return
    fmt.load(model, os.fspath(filepath), skip_mismatch=skip_mismatch)


def check_save_path(filepath: Any, weights_only: bool, who: str) -> None:
    """Refuses, up front, a path `who` (e.g. 'ModelCheckpoint') could not save to later."""
    try:
        fmt = weights_format(filepath, saving=True) if weights_only else model_format(filepath, saving=True)
    except ValueError as e:
        raise ValueError(f"{who}: {e}") from None
    if fmt.save is _save_sharded:
        raise ValueError(
            f"{who}: {os.fspath(filepath)!r} names sharded weights ('.weights.json'), which {who} does not write "
            "(it saves one file per checkpoint, as Keras's does). Use a '.weights.h5' path, e.g. "
            "'ckpt-{epoch:02d}.weights.h5'.")
    if fmt.save is _legacy_h5:
        raise ValueError(
            f"{who}: {os.fspath(filepath)!r} names a legacy HDF5 file, which kerasish does not write. Use "
            f"{'a .weights.h5' if weights_only else 'a .keras'} path (Keras 3's format), e.g. "
            f"{'ckpt-{epoch:02d}.weights.h5' if weights_only else 'ckpt-{epoch:02d}.keras'}."
        )
