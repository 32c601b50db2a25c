"""Interactive logging: whether progress and callback messages go to the terminal or to `logging`.

Keras 3 writes its progress bars and callback messages ("Epoch 3: early stopping") to stdout
while interactive logging is on (the default), and to absl logging once
`keras.config.disable_interactive_logging()` is called, for jobs on a server whose stdout
nobody watches. kerasish does the same with Python's standard `logging`: the messages become
INFO records of the `"kerasish"` logger, one record per line, without the terminal's colours
and redraws (a progress bar logs its finished line, plus one line every 30 seconds on a long
epoch). Configure that logger (`logging.basicConfig(level=logging.INFO)`) to see them.

The switch is process-wide (Keras keeps it per thread), so a progress bar drawn from another
thread follows it too.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

#: The logger that receives the messages while interactive logging is off.
logger = logging.getLogger("kerasish")

_interactive = True


def enable_interactive_logging() -> None:
    """Sends progress bars and callback messages to stdout (the default).

    Example:
        >>> from kerasish import config
        >>> config.enable_interactive_logging()
        >>> config.is_interactive_logging_enabled()
        True
    """
    global _interactive
    _interactive = True


def disable_interactive_logging() -> None:
    """Sends progress bars and callback messages to the `"kerasish"` logger (INFO) instead of stdout.

    Example:
        >>> from kerasish import config
        >>> config.disable_interactive_logging()
        >>> config.is_interactive_logging_enabled()
        False
        >>> config.enable_interactive_logging()
    """
    global _interactive
    _interactive = False


def is_interactive_logging_enabled() -> bool:
    """Whether messages go to stdout (True, the default) or to the `"kerasish"` logger (False)."""
    return _interactive


def print_msg(message: Any, line_break: bool = True) -> None:
    """Writes `message` to stdout, or logs it (INFO, `"kerasish"` logger) when interactive logging is off.

    Args:
        message: what to show; converted with `str`. Required.
        line_break: end the stdout line after it. Defaults to `True`.
    """
    message = str(message)
    if _interactive:
        text = message + "\n" if line_break else message
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:
            # A terminal or pipe that cannot show the box-drawing characters (PYTHONIOENCODING=ascii): drop
            # what it cannot encode, as Keras's print_msg does, rather than fail a summary() or a fit.
            encoding = getattr(sys.stdout, "encoding", None) or "ascii"
            sys.stdout.write(text.encode(encoding, "ignore").decode(encoding))
        sys.stdout.flush()
    else:
        # A record per line; the blank lines that separate messages on a terminal carry nothing here.
        for line in message.splitlines():
            if line.strip():
                logger.info(line)


class _LogStream:
    """A text stream for the progress bar that turns each finished line into a log record."""

    def __init__(self) -> None:
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line.strip():
                logger.info(line)
        return len(text)

    def flush(self) -> None:
        pass  # a partial line waits for its end: a record is a whole line

    def isatty(self) -> bool:
        return False  # never redrawn in place: the bar writes whole lines here


#: Where `Progbar` writes while interactive logging is off.
log_stream = _LogStream()


def progress_stream() -> Any:
    """The stream progress bars write to by default: stdout, or `log_stream` when logging is not interactive."""
    return sys.stdout if _interactive else log_stream
