"""plot_history: the curves of a fit, one subplot per metric, training and validation together."""

from __future__ import annotations

import difflib
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence


def _curves(history: Any) -> Dict[str, List[float]]:
    record = getattr(history, "history", history)
    if not isinstance(record, Mapping):
        raise TypeError(
            f"plot_history expects the History that fit returns (or its .history dict), received "
            f"{type(history).__name__}. Pass `model.fit(...)`'s return value."
        )
    return dict(record)


def _names(curves: Mapping[str, Sequence[float]], metrics: Optional[Sequence[str]]) -> List[str]:
    """The panels to draw: base names (`loss`, `accuracy`), each with its `val_` twin if recorded."""
    known = [k for k in curves if not (k.startswith("val_") and k[4:] in curves)]
    known.sort(key=lambda k: k.removeprefix("val_") != "loss")  # loss first, then as recorded (stable)
    if metrics is None:
        return known
    if isinstance(metrics, str):
        metrics = [metrics]
    names = []
    for name in metrics:
        base = name.removeprefix("val_") if name.removeprefix("val_") in curves else name
        if base not in curves and "val_" + base not in curves:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"plot_history received metrics={list(metrics)!r}, but {name!r} was not recorded. "
                f"Recorded metrics: {known}.{hint}"
            )
        names.append(base)
    return names


def plot_history(history: Any, metrics: Optional[Sequence[str]] = None, ax: Any = None) -> Any:
    """Draws a fit's loss and metrics per epoch: one subplot each, training and validation together.

    Each subplot holds the training curve (labelled with its key, e.g. `accuracy`) and, when
    validation ran, the validation curve (`val_accuracy`) on the same axes, against the epoch
    counted from 1. Needs matplotlib (`pip install "kerasish[plot]"`). In a notebook the figure
    is the cell's result and shows inline once (end the cell with the call, or `display(fig)`);
    in a script call `matplotlib.pyplot.show()` or `fig.savefig(path)`.

    Args:
        history: the `History` that `fit` returns, or its `.history` dict.
        metrics: the names to draw (`'loss'`, `'accuracy'`, ...; a `val_` name draws the same panel).
            Defaults to `None` (every recorded one, loss first).
        ax: a matplotlib `Axes` to draw on (one metric), or a sequence of them (one per metric).
            Defaults to `None` (a new figure, one subplot per metric side by side).

    Returns:
        The matplotlib `Figure` holding the subplots.

    Raises:
        ImportError: matplotlib is not installed.
        TypeError: `history` is neither a History nor a dict.
        ValueError: the history is empty, a metric was not recorded, or `ax` has the wrong count.

    Example:
        >>> import numpy as np, kerasish
        >>> model = kerasish.Sequential([kerasish.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, validation_split=0.25, verbose=0)
        >>> fig = plot_history(history)
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['loss', 'val_loss']
    """
    curves = _curves(history)
    if not curves:
        raise ValueError("plot_history received an empty history: nothing was recorded. Call model.fit(...) first.")
    names = _names(curves, metrics)
    try:
        from matplotlib.axes import Axes
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError('plot_history needs matplotlib, which is not installed: pip install "kerasish[plot]"') from None
    if ax is None:
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
        axes = list(axes[0])
    else:
        axes = [ax] if isinstance(ax, Axes) else list(ax)
        if len(axes) != len(names):
            raise ValueError(
                f"plot_history draws {len(names)} subplots ({names}) but received {len(axes)} Axes in ax. "
                "Pass one Axes per metric, choose the metrics with metrics=[...], or leave ax=None."
            )
        figure = axes[0].figure
    # Which epochs each key was logged at: validation may run every few epochs (validation_freq).
    logged_at = getattr(history, "logged_at", {})
    for panel, name in zip(axes, names):
        for key in (name, "val_" + name):
            if key not in curves:
                continue
            values = list(curves[key])
            epochs = logged_at.get(key, [])
            x = [e + 1 for e in epochs] if len(epochs) == len(values) else list(range(1, len(values) + 1))
            panel.plot(x, values, marker="o", label=key)
        panel.set_title(name)
        panel.set_xlabel("epoch")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.legend()
    if ax is None:
        figure.tight_layout()
        if _inline_notebook_backend(_matplotlib_backend()):
            # The inline backend shows every open pyplot figure at the end of the cell, and the
            # returned figure shows again as the cell's result: closing it here shows it once.
            import matplotlib.pyplot as plt

            plt.close(figure)
    return figure


def _matplotlib_backend() -> str:
    import matplotlib

    return str(matplotlib.get_backend())


def _inline_notebook_backend(backend: str) -> bool:
    return "inline" in backend.lower() and "ipykernel" in sys.modules
