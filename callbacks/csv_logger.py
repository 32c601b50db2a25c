"""CSVLogger: one CSV row per epoch."""

from __future__ import annotations

import csv
import io
import os
from typing import Any, List, Mapping, Optional

from kerasish import distributed
from kerasish.callbacks.callback import Callback
from kerasish.utils.io import atomic_write


class CSVLogger(Callback):
    """Writes each epoch's logs as a row of a CSV file: `epoch` (0-based, as Keras) then the keys in order.

    The columns are fixed by the first epoch; a value missing in a later epoch (say,
    validation that did not run) is written as `NA`. Every epoch rewrites the file
    atomically, so a crash never leaves a half-written row.

    Args:
        filename: the CSV file path.
        separator: the column separator. Defaults to `','`.
        append: keep an existing file's rows and add to them (a resumed run). Defaults to `False`.

    Raises:
        ValueError: if `separator` is not a single character.

    Example:
        >>> csv_logger = CSVLogger("training.log")
    """

    def __init__(self, filename: str, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(
                f"separator must be a single character, received separator={separator!r}. Example: separator=';'.")
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: Optional[List[str]] = None
        self._text = ""

    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self.keys = None
        self._text = ""
        if self.append and os.path.isfile(self.filename):
            with open(self.filename, newline="", encoding="utf-8") as f:
                self._text = f.read()
            if self._text and not self._text.endswith("\n"):
                self._text += "\n"
            header = next(csv.reader(io.StringIO(self._text), delimiter=self.sep), None)
            if header and header[0] == "epoch":
                self.keys = header[1:]
        if distributed.is_main_process():  # data-parallel runs: rank 0 writes
            os.makedirs(os.path.dirname(os.path.abspath(self.filename)), exist_ok=True)

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        logs = dict(logs or {})
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=self.sep, lineterminator="\n")
        if self.keys is None:
            self.keys = sorted(logs)
            writer.writerow(["epoch", *self.keys])
        writer.writerow([epoch, *(logs.get(k, "NA") for k in self.keys)])
        self._text += buf.getvalue()
        if not distributed.is_main_process():
            return
        with atomic_write(self.filename, "w") as f:
            f.write(self._text)

