"""ModelCheckpoint: save the model (or its weights) during training."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Union

from kerasish import distributed, saving
from kerasish.callbacks.monitor import MonitorCallback
from kerasish.utils.interactive_logging import print_msg


class ModelCheckpoint(MonitorCallback):
    """Saves the model every epoch (or every `save_freq` batches), optionally only when it improves.

    `filepath` may hold `{epoch:02d}` (1-based, as Keras counts for people) and any
    logs key, e.g. `'ckpt/model-{epoch:02d}-{val_loss:.2f}.keras'`; at batch-level
    saves `{batch}` (1-based) is also available. Missing folders are created. Every
    file is written atomically: a crash mid-save leaves the previous file intact.

    Args:
        filepath: where to save: `.keras` (Keras 3's model file) or `.kerasish` for the full
            model; `.weights.h5` (Keras 3's) or `.safetensors` with `save_weights_only=True`.
        monitor: the logs key compared when `save_best_only`. Defaults to `'val_loss'`.
        verbose: 1 prints a line per save decision. Defaults to `0`.
        save_best_only: save only when `monitor` improves on the best so far. Defaults to `False`.
        save_weights_only: save only the weights (`model.save_weights`). Defaults to `False`.
        mode: 'auto', 'min' or 'max' (see `MonitorCallback`). Defaults to `'auto'`.
        save_freq: 'epoch', or an integer number of batches between saves. Defaults to `'epoch'`.
        initial_value_threshold: the value to beat for the first save with
            `save_best_only`. Defaults to `None`.

    Raises:
        ValueError: for a bad `save_freq` or a `filepath` with the wrong suffix.

    Example:
        >>> checkpoint = ModelCheckpoint("best.keras", monitor="val_accuracy", save_best_only=True)
    """

    def __init__(self, filepath: Union[str, "os.PathLike[str]"], monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: Union[str, int] = "epoch", initial_value_threshold: Optional[float] = None) -> None:
        super().__init__(monitor, mode, baseline=initial_value_threshold)
        filepath = os.fspath(filepath)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq!r}. Expected 'epoch' or a positive integer number of "
                "batches, e.g. save_freq=100.")
        from kerasish.saving.formats import check_save_path

        # Keras's names ('.keras', '.weights.h5') and kerasish's ('.kerasish', '.safetensors').
        check_save_path(filepath, save_weights_only, "ModelCheckpoint")
        self.filepath = filepath
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0

    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0

    def on_epoch_begin(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        if self.save_freq == "epoch":
            return
        # A smaller batch index than last time means a new epoch began.
        added = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def format_filepath(self, epoch: int, batch: Optional[int], logs: Optional[Mapping[str, Any]]) -> str:
        """`filepath` with `{epoch}` (1-based), `{batch}` (1-based) and the logs keys filled in.

        Raises:
            KeyError: when the template names a key the logs do not have.
        """
        values: Dict[str, Any] = dict(logs or {})  # reading batch logs syncs once, only when saving
        values["epoch"] = epoch + 1
        if batch is not None and "batch" not in values:
            values["batch"] = batch + 1
        try:
            return self.filepath.format(**values)
        except KeyError as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: the key {e} is not in the '
                f"logs, which hold {sorted(values)}. Use one of those names in the template.") from None

    def _save(self, epoch: int, batch: Optional[int], logs: Optional[Mapping[str, Any]]) -> None:
        filepath = self.format_filepath(epoch, batch, logs)
        # Every process tracks `best` (the logs are the same on all); only rank 0 prints and writes.
        main = distributed.is_main_process()
        if self.save_best_only:
            current = (logs or {}).get(self.monitor)
            if current is None:
                self.get_monitor_value(logs)  # warns, listing the available keys
                return
            current = float(current)
            if not self.is_improvement(current, self.best):
                if self.verbose > 0 and main:
                    print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best_text()}")
                return
            if self.verbose > 0 and main:
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best_text()} to {current:.5f}, "
                          f"saving model to {filepath}")
            self.best = current
        elif self.verbose > 0 and main:
            print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        if not main:
            return
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            saving.save_weights(self.model, filepath, overwrite=True)
        else:
            saving.save_model(self.model, filepath, overwrite=True)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def state_dict(self) -> Dict[str, Any]:
        """`{'best': ...}`: the best monitored value so far (None before the first save)."""
        return {"best": self.best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = state.get("best", self.best)
