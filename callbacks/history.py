"""History: the record fit returns."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from kerasish.callbacks.callback import Callback


class History(Callback):
    """Records each epoch's logs; `model.fit` returns it.

    Attributes:
        history: dict of lists, one entry per epoch, e.g. `{'loss': [0.5, 0.3], 'val_loss': [...]}`.
        epoch: the 0-based epoch indices recorded.
        params: the fit parameters (`epochs`, `steps`, `verbose`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []

    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        # Keras keeps appending across fit calls on the same History object.
        pass

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def plot(self, metrics: Optional[List[str]] = None, ax: Any = None) -> Any:
        """Draws each metric per epoch, training and validation together (needs matplotlib).

        Args:
            metrics: base metric names to draw. Defaults to every recorded one.
            ax: unused placeholder for API symmetry; a new figure is created. Defaults to `None`.

        Returns:
            The matplotlib Figure.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError('History.plot() needs matplotlib: pip install "kerasish[plot]"') from None
        names = metrics or [k for k in self.history if not k.startswith("val_")]
        fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for a, name in zip(axes[0], names):
            a.plot(epochs, self.history[name], marker="o", label="train")
            if "val_" + name in self.history:
                a.plot(epochs[-len(self.history["val_" + name]):], self.history["val_" + name], marker="o", label="validation")
            a.set_xlabel("epoch")
            a.set_title(name)
            a.legend()
        fig.tight_layout()
        return fig
