"""BackupAndRestore: resume an interrupted fit where its last backup left it."""

from __future__ import annotations

import json
import os
import random
import warnings
import zipfile
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np
import torch

from kerasish import distributed
from kerasish.callbacks.callback import Callback, overrides
from kerasish.saving import zip_guard
from kerasish.saving.json_guard import parse_json
from kerasish.saving.model_file import load_optimizer_state, optimizer_state_to_files
from kerasish.saving.serialization import decode_state, encode_state
from kerasish.saving.weights import assign_weights, tensors_from_bytes, tensors_to_bytes
from kerasish.utils.io import atomic_write, remove_stale_temp_files

_FILE = "training_backup.zip"
_JSON_LIMIT = 256 * 2 ** 20  # bytes of state.json / optimizer.json
_FORMAT = "kerasish-backup"
_VERSION = 1


def _rng_state() -> Dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    return {"numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "python": [version, list(internal), gauss_next], "torch": tensors}


def _set_rng_state(state: Mapping[str, Any]) -> None:
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    torch.set_rng_state(state["torch"]["torch_cpu"])
    cuda = [state["torch"][k] for k in sorted(state["torch"]) if k.startswith("torch_cuda_")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


class BackupAndRestore(Callback):
    """Backs up the training state at every epoch boundary and resumes from it after a crash.

    One file in `backup_dir` holds the model weights, the optimizer state, the next
    epoch, the position in the training data (the shuffled order and cursor of arrays
    when `steps_per_epoch` is shorter than the data, how far a generator or a
    DataLoader's pass has been read, the DataLoader's generators), the random-number
    states (torch, NumPy, Python) and every other callback's `state_dict()`
    (EarlyStopping's patience count, ReduceLROnPlateau's, ModelCheckpoint's best value
    ...). It is written atomically when an epoch's end hooks have all run, so it always
    matches one finished epoch. When `fit` starts and a backup exists, all of it is
    restored and training continues at the next epoch; with the same seed and the same
    data (a generator made the same way, a DataLoader with the same seeded generator)
    the result equals an uninterrupted run bit for bit. Put it first in
    `callbacks=[...]`: callbacks listed before it that act at epoch begin
    (LearningRateScheduler) would run twice for the resumed epoch.

    `fit` tells it where the loop starts through `set_loop_position` (a
    `kerasish.training.snapshot.LoopPosition`); a restore moves that position. Temporary
    files of backups whose writer was killed are removed when training starts and ends;
    if the folder still holds other files at the end, a warning names them.

    Args:
        backup_dir: the folder for the backup (created if missing). Use one folder per run.
        save_freq: 'epoch' to back up every epoch, or False to only restore. Defaults to `'epoch'`.
        delete_checkpoint: delete the backup when training ends normally. Defaults to `True`.

    Raises:
        ValueError: for an empty `backup_dir` or a `save_freq` other than 'epoch'/False.

    Example:
        >>> backup = BackupAndRestore(backup_dir="/tmp/backup")
    """

    def __init__(self, backup_dir: Union[str, "os.PathLike[str]"], save_freq: Union[str, bool] = "epoch",
                 delete_checkpoint: bool = True) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError(
                f"Empty `backup_dir` argument passed, received backup_dir={backup_dir!r}. Pass a folder path, "
                "e.g. BackupAndRestore(backup_dir='/tmp/backup').")
        if save_freq not in ("epoch", False):
            raise ValueError(
                f"save_freq must be 'epoch' or False, received save_freq={save_freq!r}. Backups every N batches "
                "are not supported: resuming mid-epoch would need fit to skip batches. Use save_freq='epoch'.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self._callbacks: List[Callback] = []
        self._pending: Optional[Dict[str, Any]] = None
        self._finished_epoch: Optional[int] = None
        self._in_epoch = False
        self._position: Any = None

    @property
    def backup_path(self) -> str:
        """The backup file's path."""
        return os.path.join(self.backup_dir, _FILE)

    def set_callbacks(self, callbacks: List[Callback]) -> None:
        """Called by CallbackList with every callback of the fit (whose state is backed up)."""
        self._callbacks = callbacks

    def set_loop_position(self, position: Any) -> None:
        """Called by fit before `on_train_begin` with its `LoopPosition` (epoch and data), restored and saved here."""
        self._position = position

    # ----------------------------------------------------------------- hooks
    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._pending = None
        self._finished_epoch = None
        self._in_epoch = False
        mine = self._callbacks.index(self) if self in self._callbacks else 0
        early = [type(c).__name__ for c in self._callbacks[:mine]
                 if overrides(c, "on_epoch_begin") and type(c).__name__ not in ("ProgbarLogger", "History")]
        if early:
            warnings.warn(
                f"BackupAndRestore comes after {', '.join(early)} in callbacks=[...], which act at epoch begin; "
                "after a resume they would act twice on the resumed epoch. Put BackupAndRestore first.",
                stacklevel=2)
        # Data-parallel runs: rank 0 may still be writing or deleting the backup of the previous
        # fit; wait for it, so that every rank restores the same file (or none does).
        distributed.barrier()
        if distributed.is_main_process():
            self._check_folder()  # before training: not at the first epoch's end
            remove_stale_temp_files(self.backup_path)  # a backup write killed mid-way leaves one
        if os.path.isfile(self.backup_path):
            self._restore()

    def _check_folder(self) -> None:
        """Creates `backup_dir` if missing and refuses one this process cannot write into."""
        try:
            os.makedirs(self.backup_dir, exist_ok=True)
        except OSError as e:
            raise PermissionError(f"BackupAndRestore cannot create its backup folder {self.backup_dir!r}: {e}. "
                                  "Choose a backup_dir in a writable location.") from None
        if not os.access(self.backup_dir, os.W_OK | os.X_OK):
            raise PermissionError(
                f"BackupAndRestore cannot write into its backup folder {self.backup_dir!r} (not writable by this "
                "process); training would fail at the first epoch's end. Change its permissions or choose another "
                "backup_dir."
            )

    def on_epoch_begin(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        if self._pending is not None:
            # Restored last: other callbacks' on_train_begin reset their state after ours ran.
            _set_rng_state(self._pending["rng"])
            self._load_callback_states(self._pending["callbacks"])
            self._pending = None
        elif self._finished_epoch is not None and self.save_freq == "epoch":
            self._write(next_epoch=epoch)
        self._finished_epoch = None
        self._in_epoch = True

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._finished_epoch = epoch
        self._in_epoch = False

    def on_train_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        # fit also calls on_train_end when Ctrl-C interrupts it: keep the backup then.
        finished = self._finished_epoch
        completed = not self._in_epoch and (
            finished is None or self.model.stop_training or finished + 1 >= self.params.get("epochs", 0))
        if not distributed.is_main_process():
            return  # data-parallel runs: rank 0 writes and deletes; every rank restores
        if completed and self.delete_checkpoint:
            if os.path.isfile(self.backup_path):
                os.remove(self.backup_path)
            remove_stale_temp_files(self.backup_path)
            self._remove_folder()
        elif finished is not None and self.save_freq == "epoch":
            self._write(next_epoch=finished + 1)

    # ----------------------------------------------------------------- files
    def _remove_folder(self) -> None:
        try:
            os.rmdir(self.backup_dir)
        except FileNotFoundError:
            return
        except OSError as e:
            try:
                left = sorted(os.listdir(self.backup_dir))
            except OSError:
                left = []
            shown = ", ".join(left[:10]) + (f" and {len(left) - 10} more" if len(left) > 10 else "")
            warnings.warn(
                f"BackupAndRestore removed its backup but could not remove the folder {self.backup_dir!r} "
                f"({e.strerror}); it still holds: {shown or 'nothing listable'}. Files there that are not the "
                "backup's are left alone: delete them yourself, or use a folder for the backup only.", stacklevel=2)

    def _callback_states(self) -> Dict[str, Any]:
        states = {}
        for i, c in enumerate(self._callbacks):
            if c is not self:
                state = c.state_dict()
                if state:
                    states[f"{i}:{type(c).__name__}"] = state
        return states

    def _load_callback_states(self, states: Mapping[str, Any]) -> None:
        keys = {f"{i}:{type(c).__name__}": c for i, c in enumerate(self._callbacks) if c is not self}
        unmatched = [k for k in states if k not in keys]
        if unmatched:
            warnings.warn(
                f"The backup in {self.backup_dir!r} holds state for callbacks {unmatched} that this fit does not "
                "have at the same positions; their state was not restored. Pass the same callbacks, in the same "
                "order, as the interrupted run.", stacklevel=3)
        for key, state in states.items():
            if key in keys:
                keys[key].load_state_dict(state)

    def _write(self, next_epoch: int) -> None:
        if not distributed.is_main_process():
            return
        rng = _rng_state()
        callbacks_structure, callback_tensors = encode_state(self._callback_states(), "callbacks")
        extra = {f"rng.{k}": v for k, v in rng.pop("torch").items()}
        extra.update(callback_tensors)
        state = {"format": _FORMAT, "version": _VERSION, "next_epoch": next_epoch, "rng": rng,
                 "callbacks": callbacks_structure}
        if self._position is not None:
            # The data position as it is between two epochs: read once per epoch, no device sync.
            state["data"], data_tensors = encode_state(self._position.data_state(), "data")
            extra.update(data_tensors)
        optimizer_files = optimizer_state_to_files(getattr(self.model, "optimizer", None))
        os.makedirs(self.backup_dir, exist_ok=True)
        with atomic_write(self.backup_path) as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr("state.json", json.dumps(state))
                zf.writestr("model.safetensors", tensors_to_bytes(self.model.state_dict()))
                zf.writestr("extra.safetensors", tensors_to_bytes(extra))
                if optimizer_files is not None:
                    zf.writestr("optimizer.safetensors", optimizer_files[0])
                    zf.writestr("optimizer.json", optimizer_files[1])

    def _restore(self) -> None:
        path = self.backup_path
        def bad(why: str) -> ValueError:
            return ValueError(f"The backup {path!r} is unreadable: {why}. Backups are written atomically, so it was "
                              "damaged or replaced after writing. Delete it to start training from scratch.")

        try:
            with zipfile.ZipFile(path) as zf:
                # Bounded reads: the backup folder is a file like any other (zip bombs, duplicated members).
                zip_guard.check_members(zf, bad)
                state = parse_json(zip_guard.read_bounded(zf, "state.json", bad, _JSON_LIMIT), f"{path!r} (state.json)")
                weights = tensors_from_bytes(zip_guard.read_bounded(zf, "model.safetensors", bad),
                                             f"{path!r} (model.safetensors)")
                extra = tensors_from_bytes(zip_guard.read_bounded(zf, "extra.safetensors", bad),
                                           f"{path!r} (extra.safetensors)")
                names = set(zf.namelist())
                optimizer_files = None
                if {"optimizer.safetensors", "optimizer.json"} <= names:
                    optimizer_files = (zip_guard.read_bounded(zf, "optimizer.safetensors", bad),
                                       zip_guard.read_bounded(zf, "optimizer.json", bad, _JSON_LIMIT).decode("utf-8"))
        except (zipfile.BadZipFile, KeyError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(
                f"The backup {path!r} is unreadable ({type(e).__name__}: {e}). Backups are written atomically, so "
                "it was damaged after writing. Delete it to start training from scratch.") from None
        if state.get("format") != _FORMAT:
            raise ValueError(
                f"{path!r} is not a kerasish training backup (format {state.get('format')!r}). Point backup_dir "
                "at a folder used only by BackupAndRestore, or delete the file.")
        next_epoch, data = state.get("next_epoch"), state.get("data", {})
        if isinstance(next_epoch, bool) or not isinstance(next_epoch, int) or next_epoch < 0:
            raise bad(f"state.json's 'next_epoch' is {next_epoch!r}, not an int >= 0")
        if not isinstance(state.get("rng"), dict) or not isinstance(data, dict):
            raise bad("state.json's 'rng' or 'data' is not a dict")
        if self._position is not None:
            # First, before any weight changes: data that does not match the backup is refused.
            try:
                self._position.restore(next_epoch, decode_state(data, extra))
            except ValueError as e:
                raise ValueError(f"Cannot resume from {path!r}: {e}") from None
        else:
            raise RuntimeError(
                f"BackupAndRestore found a backup in {path!r} but no training loop handed it its position "
                "(Model.fit does, through set_loop_position). Restore by calling fit with this callback."
            )
        assign_weights(self.model, weights, repr(path))
        if optimizer_files is not None and getattr(self.model, "optimizer", None) is not None:
            self.model.ensure_optimizer()
            load_optimizer_state(self.model.optimizer, optimizer_files[0], optimizer_files[1], repr(path))
        rng = dict(state["rng"])
        rng["torch"] = {k[len("rng."):]: v for k, v in extra.items() if k.startswith("rng.")}
        self._pending = {"rng": rng, "callbacks": decode_state(state.get("callbacks", {}), extra)}
