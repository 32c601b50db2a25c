"""History: the record fit returns."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from kerasish.callbacks.callback import Callback


class History(Callback):
    """Records each epoch's logs; `model.fit` returns it.

    Attributes:
        history: dict of lists, one entry per epoch, e.g. `{'loss': [0.5, 0.3], 'val_loss': [...]}`.
        epoch: the 0-based epoch indices recorded.
        logged_at: for each key, the 0-based epochs it was logged at (`val_*` keys skip the
            epochs without validation when `validation_freq` > 1).
        params: the fit parameters (`epochs`, `steps`, `verbose`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []
        # The epochs each key was logged at: validation_freq logs val_* on some epochs only.
        self.logged_at: Dict[str, List[int]] = {}

    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        # Keras keeps appending across fit calls on the same History object.
        pass

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
            self.logged_at.setdefault(key, []).append(epoch)

    def plot(self, metrics: Optional[List[str]] = None, ax: Any = None) -> Any:
        """Draws the loss and each metric per epoch, training and validation on the same axes.

        One subplot per metric; see `kerasish.utils.plot_history`, which this calls. Needs
        matplotlib (`pip install "kerasish[plot]"`); in a notebook the figure shows inline.

        Args:
            metrics: the names to draw. Defaults to `None` (every recorded one, loss first).
            ax: a matplotlib `Axes` (one metric) or a sequence of them (one per metric).
                Defaults to `None` (a new figure).

        Returns:
            The matplotlib `Figure`.

        Example:
            >>> history = History()
            >>> history.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.6})
            >>> history.on_epoch_end(1, {"loss": 0.3, "val_loss": 0.4})
            >>> [line.get_label() for line in history.plot().axes[0].get_lines()]
            ['loss', 'val_loss']
        """
        from kerasish.utils.plot_history import plot_history

        return plot_history(self, metrics=metrics, ax=ax)
