"""Progbar: Keras 3's progress bar, drawn for a terminal, a log file or a notebook.

The layout is Keras's (`3/3 ━━━━━━━━━━━━━━━━━━━━ 1s 31ms/step - accuracy: 0.9309 - loss: 0.2776`,
and `3/3 - 1s - 31ms/step - ...` for `verbose=2`), so log parsers written for Keras match. Where it
is drawn decides how:

- a terminal with a size: the line is redrawn in place. When it is wider than the terminal the bar
  shrinks, then goes, then the metrics wrap onto more rows; a number is never cut.
- anything else (a pipe, a file, a pseudo-terminal reporting 0x0 columns): full lines without
  colours: the finished line of each bar, plus one line every `line_interval` seconds on long bars.
- Jupyter (ipykernel) when writing to the default stdout: an ipywidgets progress bar and an HTML
  line if ipywidgets is importable, else an HTML line updated in place through `IPython.display`.
"""

from __future__ import annotations

import html
import math
import os
import re
import sys
import time
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from kerasish.utils.interactive_logging import is_interactive_logging_enabled, progress_stream

_BAR_CHAR = "━"
_TODO_CHAR = "─"
_COLOUR = re.compile("\x1b\\[[0-9;]*m")
_MIN_BAR = 5  # a bar narrower than this carries no information: drop it instead


def format_value(value: Any) -> str:
    """One logged value as Keras prints it: 4 decimals, or scientific notation near zero."""
    try:
        number = float(np.mean(value))
    except (TypeError, ValueError):
        return str(value)
    # Keras's verbose=2 branch tests `value > 1e-3`, printing negatives in scientific notation;
    # both modes here test the magnitude, as its verbose=1 branch does.
    return f"{number:.4f}" if abs(number) > 1e-3 else f"{number:.4e}"


def format_time(seconds: float, unit_name: str) -> str:
    """Time per unit as Keras prints it: `1s/step`, `31ms/step` or `912us/step`."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


def _in_notebook() -> bool:
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    from ipykernel.zmqshell import ZMQInteractiveShell  # already imported: ipykernel is running

    # A subclass counts too (Colab's shell is one); a terminal IPython is not a notebook.
    return isinstance(sys.modules["IPython"].get_ipython(), ZMQInteractiveShell)


def terminal_columns(stream: Any) -> int:
    """The column count of the terminal behind `stream`, or 0 when it is not a sized terminal."""
    try:
        if not stream.isatty():
            return 0
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # no fileno (StringIO), closed, or not a terminal
        return 0


class Progbar:
    """Displays a progress bar, with Keras 3's layout.

    Metrics are averaged over the steps they were given for, unless they are listed in
    `stateful_metrics` (shown as given). Pass `stateless_metrics` instead to average only those.

    Args:
        target: total number of steps, or None if unknown. Required.
        width: the bar's width in characters. Defaults to `20`.
        verbose: 0 silent, 1 a bar updated in place, 2 one line when the bar finishes. Defaults to `1`.
        interval: minimum seconds between two redraws. Defaults to `0.05`.
        stateful_metrics: names displayed as given, not averaged. Defaults to `None`.
        stateless_metrics: names averaged, all others displayed as given. Defaults to `None`.
        unit_name: what a step is called (`'step'`, `'sample'`). Defaults to `'step'`.
        file: keyword-only, a text stream to write to. Defaults to `None` (`sys.stdout` at each write, or
            the `"kerasish"` logger while interactive logging is disabled).
        line_interval: keyword-only, seconds between two progress lines where the output cannot be
            redrawn (a pipe, a file, an unsized pty); the finished line always prints. Defaults to `30.0`.

    Raises:
        ValueError: both `stateful_metrics` and `stateless_metrics` given, or a bad `verbose`/`width`.

    Example:
        >>> bar = Progbar(target=2, verbose=2)
        >>> bar.update(1, [("loss", 0.5)])
        >>> bar.update(2, [("loss", 0.3)])  # doctest: +ELLIPSIS
        2/2 - ...s - ...step - loss: 0.3000
    """

    def __init__(
        self,
        target: Optional[int],
        width: int = 20,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Optional[Iterable[str]] = None,
        stateless_metrics: Optional[Iterable[str]] = None,
        unit_name: str = "step",
        *,
        file: Any = None,
        line_interval: float = 30.0,
    ) -> None:
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Progbar received both stateful_metrics and stateless_metrics. Pass one: stateful_metrics lists "
                "the names shown as given (all others are averaged), stateless_metrics the names averaged."
            )
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar verbose must be 0, 1 or 2, received verbose={verbose!r}.")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"Progbar width must be a positive integer, received width={width!r}.")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.file = file
        self.line_interval = line_interval
        self.stateful_metrics = None if stateless_metrics is not None else set(stateful_metrics or ())
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self._values: dict = {}
        self._values_order: List[str] = []
        self._seen_so_far = 0
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step: Optional[float] = None
        self._display: Any = None

    # ------------------------------------------------------------------ values
    def update(self, current: int, values: Optional[Sequence[Tuple[str, Any]]] = None,
               finalize: Optional[bool] = None) -> None:
        """Records the progress and redraws when `interval` has passed (always when finalizing).

        Args:
            current: the number of steps done so far.
            values: `(name, value)` pairs for this step. Defaults to `None`.
            finalize: whether this is the bar's last update. Defaults to `None` (`current >= target`).
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or ():
            if name not in self._values_order:
                self._values_order.append(name)
            averaged = (name not in self.stateful_metrics if self.stateful_metrics is not None
                        else name in self.stateless_metrics)
            if averaged and not finalize:
                weight = max(current - self._seen_so_far, 1)
                total, count = self._values.get(name, (0.0, 0))
                self._values[name] = (total + value * weight, count + weight)
            else:
                self._values[name] = (value, 1)
        self._seen_so_far = current
        now = time.time()
        per_unit = self._step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._show(current, now, per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target:
            count = f"{current:{self._digits()}d}/{self.target}"
            line = f"{count} - {now - self._start:.0f}s - {format_time(per_unit, self.unit_name)}"
            self._write(line + "".join(f" - {k}: {v}" for k, v in self._metric_texts()) + "\n")
        self._last_update = now

    def add(self, n: int, values: Optional[Sequence[Tuple[str, Any]]] = None) -> None:
        """Advances the bar by `n` steps."""
        self.update(self._seen_so_far + n, values)

    def _metric_texts(self) -> List[Tuple[str, str]]:
        out = []
        for name in self._values_order:
            value, count = self._values[name]
            if count > 1:
                value = float(np.mean(value)) / count
            out.append((name, format_value(value)))
        return out

    def _step_duration(self, current: int, now: float) -> float:
        # The first step (compilation, warm-up) is left out of the estimate once there are others.
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit

    def _digits(self) -> int:
        return int(math.log10(self.target)) + 1

    # ------------------------------------------------------------------ drawing
    def _stream(self) -> Any:
        # The default is stdout, or the "kerasish" logger after config.disable_interactive_logging().
        return self.file if self.file is not None else progress_stream()

    def _write(self, text: str) -> None:
        stream = self._stream()
        try:
            stream.write(text)
        except UnicodeEncodeError:  # a stream that cannot encode the bar character (ASCII, cp1252)
            stream.write(text.replace(_BAR_CHAR, "=").replace(_TODO_CHAR, "."))
        stream.flush()

    def _show(self, current: int, now: float, per_unit: float, finalize: bool) -> None:
        if self._display is None:
            if self.file is None and is_interactive_logging_enabled() and _in_notebook():
                self._display = _NotebookDisplay()
            else:
                self._display = _TextDisplay()
        if self.target is not None and self.target > 0:
            count = f"{current:{self._digits()}d}/{self.target}"
            done = int(self.width * current / self.target)
        else:
            count, done = "%7d/Unknown" % current, None
        if self.target and not finalize:
            clock = _format_eta(per_unit * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"
        timing = f"{clock} {format_time(per_unit, self.unit_name)}"
        metrics = [f"{k}: {v}" for k, v in self._metric_texts()]
        self._display.draw(self, count, done, timing, metrics, finalize)


def _plain(count: str, bar: str, timing: str, metrics: List[str]) -> str:
    return " ".join(p for p in (count, bar, timing) if p) + "".join(" - " + m for m in metrics)


class _TextDisplay:
    """A terminal (redrawn in place, fitted to its width) or a stream of full lines."""

    def __init__(self) -> None:
        self.rows = 0  # rows the previous redraw used, to move back over them
        self.last_line: Optional[float] = None  # a short bar prints only its finished line

    def draw(self, bar: Progbar, count: str, done: Optional[int], timing: str, metrics: List[str],
             finalize: bool) -> None:
        columns = terminal_columns(bar._stream())
        if columns <= 0:
            # Not redrawable: a pipe, a file, or a pseudo-terminal without a size.
            now = time.time()
            since = now - (bar._start if self.last_line is None else self.last_line)
            if not finalize and since < bar.line_interval:
                return
            self.last_line = now
            # No colours here: the part still to do is drawn with a lighter line.
            plain_bar = "" if done is None else _BAR_CHAR * done + _TODO_CHAR * (bar.width - done)
            bar._write(_plain(count, plain_bar, timing, metrics) + "\n")
            return
        lines = self._fit(columns, bar.width, count, done, timing, metrics)
        rows = sum(max(1, math.ceil(len(_strip(line)) / columns)) for line in lines)
        back = "\r" + (f"\x1b[{self.rows - 1}A" if self.rows > 1 else "") + "\x1b[J"
        bar._write(back + "\n".join(lines) + ("\n" if finalize else ""))
        self.rows = 0 if finalize else rows

    @staticmethod
    def _fit(columns: int, width: int, count: str, done: Optional[int], timing: str,
             metrics: List[str]) -> List[str]:
        """The coloured rows of one update, none wider than `columns`, no number cut.

        The bar shrinks to make the line fit; when it cannot, the metrics wrap onto more rows
        (whole `name: value` pieces) and the bar keeps what room the first row has, or goes.
        """
        head = f"\x1b[1m{count}\x1b[0m"
        clock, _, per_unit = timing.partition(" ")
        tail = f" \x1b[1m{clock}\x1b[0m {per_unit}"
        if done is not None:
            room = columns - len(_plain(count, "", timing, metrics)) - 1
            if room < _MIN_BAR:
                # The metrics must wrap anyway: the bar only has to fit on the first row.
                room = columns - len(_plain(count, "", timing, [])) - 1
            shown = min(width, room) if room >= _MIN_BAR else 0
            if shown:
                filled = done * shown // width
                head += (f" \x1b[32m{_BAR_CHAR * filled}\x1b[0m" if filled else " ")
                head += f"\x1b[37m{_BAR_CHAR * (shown - filled)}\x1b[0m"
        rows = [head + tail]
        for metric in metrics:
            piece = " - " + metric
            if len(_strip(rows[-1])) + len(piece) <= columns:
                rows[-1] += piece
            else:
                rows.append("- " + metric)
        return rows


def _strip(text: str) -> str:
    return _COLOUR.sub("", text)


class _NotebookDisplay:
    """Jupyter: a live widget bar (ipywidgets) or HTML line, and a finished line that stays.

    The finished line is a text/plain + text/html bundle, so a saved notebook shows the
    metrics in any viewer, with or without widget support.
    """

    def __init__(self) -> None:
        try:
            import ipywidgets
        except ImportError:  # optional: HTML lines updated in place instead
            ipywidgets = None
        self.ipywidgets = ipywidgets
        self.widgets: Any = None
        self.display_id: Optional[str] = None

    def draw(self, bar: Progbar, count: str, done: Optional[int], timing: str, metrics: List[str],
             finalize: bool) -> None:
        if self.ipywidgets is not None and not finalize:
            self._draw_widget(self.ipywidgets, bar, count, timing, metrics)
            return
        self._draw_html(bar, count, done, timing, metrics)  # replaces the widget's output, if any
        if self.widgets is not None:
            self.widgets[0].close()
            self.widgets = None

    def _draw_html(self, bar: Progbar, count: str, done: Optional[int], timing: str, metrics: List[str]) -> None:
        from IPython.display import display, update_display

        plain_bar = "" if done is None else _BAR_CHAR * done + _TODO_CHAR * (bar.width - done)
        bar_html = "" if done is None else (
            f'<span style="color:#2ca02c">{_BAR_CHAR * done}</span>'
            f'<span style="color:#bbbbbb">{_BAR_CHAR * (bar.width - done)}</span> ')
        tail = html.escape(_plain("", "", timing, metrics).strip())
        bundle = {
            "text/plain": _plain(count, plain_bar, timing, metrics),
            "text/html": f'<pre style="white-space:pre-wrap;margin:0"><b>{html.escape(count)}</b> {bar_html}{tail}</pre>',
        }
        if self.display_id is None:
            self.display_id = display(bundle, raw=True, display_id=True).display_id
        else:
            update_display(bundle, raw=True, display_id=self.display_id)

    def _draw_widget(self, ipywidgets: Any, bar: Progbar, count: str, timing: str, metrics: List[str]) -> None:
        if self.widgets is None:
            from IPython.display import display

            progress = ipywidgets.IntProgress(min=0, max=bar.target or 1, bar_style="success")
            label = ipywidgets.HTML()
            box = ipywidgets.HBox([progress, label]) if bar.target else ipywidgets.HBox([label])
            self.widgets = (box, progress, label)
            self.display_id = display(box, display_id=True).display_id
        _, progress, label = self.widgets
        if bar.target:
            progress.value = min(bar._seen_so_far, bar.target)
        text = html.escape(_plain(count, "", timing, metrics))
        label.value = f'<span style="font-family:monospace;white-space:pre-wrap">{text}</span>'
