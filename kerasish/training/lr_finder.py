"""The learning-rate range test: `model.find_learning_rate(x, y)`.

The model trains for up to `steps` batches while the learning rate grows exponentially
from `start_lr` to `end_lr`, with its own compiled loss and optimizer (through
`train_on_batch`, so a custom `train_step` is used too). The smoothed loss first falls
slowly, then steeply, then flattens and blows up; a good rate sits on the steep part,
below the minimum. The test stops early once the smoothed loss exceeds `diverge_factor`
times the best seen (or is not finite). Afterwards the model, the optimizer (state,
`iterations`, rate), the metrics and the random-number states are put back bit for bit
(`TrainingSnapshot`), so `fit` after the test behaves as if it had never run.

Cost: one host sync per step, to read the batch loss (the test needs the number to
decide whether to stop); that is a deliberate price of this tool, not of `fit`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch

from kerasish.training.snapshot import TrainingSnapshot, prepare_for_training

# The first points of the curve are noise around the starting loss: the suggestion skips
# this many (Lightning's lr_find skips 10 of 100 as well).
_SKIP_BEGIN = 10


@dataclass
class LearningRateFinderResult:
    """What `find_learning_rate` measured, with the rates it suggests.

    Attributes:
        lrs: the learning rate of each step run.
        losses: the smoothed (bias-corrected exponential moving average) loss at each step.
        raw_losses: the batch loss at each step.
        suggestion: the rate where the smoothed loss falls fastest (steepest descent per
            decade of rate, before the minimum), or None when the curve never falls.
        min_loss_lr: the rate at the minimum of the smoothed loss.
        minimum: `min_loss_lr / 10`, fastai's other rule of thumb.
        diverged: whether the test stopped early because the loss blew up.
    """

    lrs: List[float]
    losses: List[float]
    raw_losses: List[float] = field(repr=False)
    suggestion: Optional[float]
    min_loss_lr: float
    minimum: float
    diverged: bool

    def __repr__(self) -> str:
        def rate(value: Optional[float]) -> str:
            return "None" if value is None else f"{value:.3g}"

        return (f"LearningRateFinderResult(steps={len(self.lrs)}, suggestion={rate(self.suggestion)}, "
                f"minimum={rate(self.minimum)}, min_loss_lr={rate(self.min_loss_lr)}, diverged={self.diverged})")

    def plot(self, ax: Any = None, path: Union[str, "os.PathLike[str]", None] = None) -> Any:
        """Draws the smoothed loss against the rate (log axis), with both suggestions marked.

        In a notebook the figure shows inline. The figure is pyplot's when `ax` is None;
        close it with `matplotlib.pyplot.close(ax.figure)` when drawing many.

        Args:
            ax: a matplotlib `Axes` to draw on. Defaults to `None` (a new figure).
            path: also save the figure there (PNG, or the format its suffix names).
                Defaults to `None`.

        Returns:
            The matplotlib `Axes`.

        Raises:
            ImportError: if matplotlib is not installed.
            ValueError: if `path` has a suffix matplotlib cannot write.
        """
        try:
            import matplotlib  # noqa: F401 - lazily: kerasish does not need it otherwise
        except ImportError as error:
            raise ImportError(
                "LearningRateFinderResult.plot() needs matplotlib, which is not installed. Install it with "
                "`pip install 'kerasish[plot]'` (or `pip install matplotlib`).") from error
        fmt = None
        if path is not None:
            path = os.fspath(path)
            fmt = os.path.splitext(path)[1].lstrip(".").lower() or "png"
            from matplotlib.backend_bases import FigureCanvasBase

            supported = FigureCanvasBase.get_supported_filetypes()
            if fmt not in supported:
                raise ValueError(
                    f"Cannot save the plot as {fmt!r} (from path={path!r}). Use one of {sorted(supported)}, "
                    "e.g. path='lr_find.png'.")
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6.4, 4.0))
        ax.plot(self.lrs, self.losses, color="tab:blue", label="smoothed loss")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("loss")
        ax.set_title("Learning-rate range test")
        if self.suggestion is not None:
            i = self.lrs.index(self.suggestion)
            ax.plot([self.suggestion], [self.losses[i]], "o", color="tab:red", markersize=8,
                    label=f"steepest descent: {self.suggestion:.2e}")
        ax.axvline(self.minimum, color="tab:gray", linestyle="--", label=f"minimum / 10: {self.minimum:.2e}")
        low, first, high = min(self.losses), self.losses[0], max(self.losses)
        top = min(high, first + (first - low)) if first > low else high  # the blow-up need not fill the plot
        if top > low:
            ax.set_ylim(low - 0.05 * (top - low), top + 0.05 * (top - low))
        ax.legend()
        if path is not None:
            from kerasish.utils.io import atomic_write

            with atomic_write(path) as f:
                ax.figure.savefig(f, format=fmt, bbox_inches="tight")
        return ax


def _check(name: str, value: Any, ok: bool, expected: str, example: str) -> None:
    if not ok:
        raise ValueError(f"find_learning_rate: {name} must be {expected}, received {name}={value!r}. {example}")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _batches(x: Any, y: Any, sample_weight: Any, batch_size: int) -> Iterator[Tuple[Any, Any, Any]]:
    """Endless batches: shuffled slices of arrays, or the user's batches, re-iterated when they run out."""
    from kerasish.data.adapters import is_array_structure, num_samples
    from kerasish.utils.tree import map_structure

    if is_array_structure(x):
        n = num_samples(x)
        size = min(batch_size, n)
        take = lambda a, idx: None if a is None else map_structure(lambda t: t[idx], a)  # noqa: E731
        while True:
            order = torch.randperm(n).numpy()  # the global generator, restored afterwards
            for start in range(0, n - size + 1, size):
                idx = order[start:start + size]
                yield take(x, idx), take(y, idx), take(sample_weight, idx)
        return
    while True:
        produced = False
        for batch in x:
            produced = True
            if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
                yield batch[0], batch[1], batch[2] if len(batch) == 3 else None
            else:
                yield batch, None, None
        if not produced:
            raise ValueError(
                "find_learning_rate: x yielded no batches (a generator used up?). Pass arrays, a Dataset or a "
                "DataLoader, which can be iterated again.")


def _first_arrays(x: Any, y: Any) -> Tuple[Any, Any]:
    from kerasish.data.adapters import is_array_structure

    if is_array_structure(x):
        return x, y
    batch = next(iter(x))
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        return batch[0], batch[1]
    return batch, None


def _suggest(lrs: List[float], losses: List[float]) -> Tuple[Optional[float], float]:
    """(steepest-descent rate before the minimum or None, rate at the minimum)."""
    values = np.asarray(losses, dtype=np.float64)
    lowest = int(values.argmin())
    if len(values) < 3 or lowest == 0:
        return None, lrs[lowest]
    slopes = np.gradient(values, np.log10(np.asarray(lrs, dtype=np.float64)))
    begin = _SKIP_BEGIN if lowest > _SKIP_BEGIN + 1 else 0
    steepest = begin + int(slopes[begin:lowest + 1].argmin())
    if slopes[steepest] >= 0:
        return None, lrs[lowest]
    return lrs[steepest], lrs[lowest]


def find_learning_rate(model: Any, x: Any, y: Any = None, start_lr: float = 1e-7, end_lr: float = 10.0,
                       steps: int = 100, batch_size: int = 32, smoothing: float = 0.98,
                       diverge_factor: float = 4.0, *, sample_weight: Any = None) -> LearningRateFinderResult:
    """Runs a learning-rate range test on the model and puts the model back as it was.

    Args:
        model: a compiled kerasish model (its loss and optimizer are used).
        x: input arrays (or a structure of them), a Dataset, a DataLoader, or an iterable of
            `(x, y)` / `(x, y, sample_weight)` batches.
        y: targets when `x` is arrays. Defaults to `None`.
        start_lr: the rate of the first step. Defaults to `1e-7`.
        end_lr: the rate of the last step. Defaults to `10`.
        steps: the most steps to run (fewer when the loss diverges). Defaults to `100`.
        batch_size: samples per step for arrays. Defaults to `32`.
        smoothing: the moving average's weight of the past (0 means no smoothing).
            Defaults to `0.98`.
        diverge_factor: stop when the smoothed loss exceeds this multiple of the best.
            Defaults to `4.0`.
        sample_weight: per-sample weights for array data. Defaults to `None`.

    Returns:
        A `LearningRateFinderResult` with `lrs`, `losses`, `suggestion`, `minimum` and
        `plot()`.

    Raises:
        RuntimeError: if the model is not compiled.
        ValueError: for arguments out of range, or an optimizer created with a
            learning-rate schedule (the test sets the rate itself).

    Example:
        >>> result = model.find_learning_rate(x_train, y_train)   # doctest: +SKIP
        >>> result.suggestion, result.minimum                       # doctest: +SKIP
        (0.0012, 0.0031)
        >>> result.plot(path="lr_find.png")                         # doctest: +SKIP
    """
    from kerasish.data import checks

    model.require_compiled("find_learning_rate")
    _check("start_lr", start_lr, _is_number(start_lr) and start_lr > 0, "a number > 0", "Pass e.g. start_lr=1e-7.")
    _check("end_lr", end_lr, _is_number(end_lr) and end_lr > start_lr, f"a number > start_lr={start_lr!r}",
           "Pass e.g. end_lr=10.")
    _check("steps", steps, isinstance(steps, int) and not isinstance(steps, bool) and steps >= 3,
           "an integer >= 3", "Pass e.g. steps=100.")
    batch_size = checks.check_batch_size(batch_size)
    _check("smoothing", smoothing, _is_number(smoothing) and 0 <= smoothing < 1, "a number in [0, 1)",
           "Pass e.g. smoothing=0.98 (0 turns smoothing off).")
    _check("diverge_factor", diverge_factor, _is_number(diverge_factor) and diverge_factor > 1, "a number > 1",
           "Pass e.g. diverge_factor=4.0.")
    optimizer = model.optimizer
    schedule = getattr(optimizer, "learning_rate_schedule", None)
    if schedule is not None:
        raise ValueError(
            f"find_learning_rate sets the learning rate itself, but the optimizer was created with a schedule "
            f"({type(schedule).__name__}). Compile with a constant rate for the test, e.g. optimizer="
            f"kerasish.optimizers.{type(optimizer).__name__}(), then build your schedule from the suggestion.")

    first_x, first_y = _first_arrays(x, y)
    prepare_for_training(model, first_x, first_y, "find_learning_rate")
    snapshot = TrainingSnapshot(model)
    lrs: List[float] = []
    raw: List[float] = []
    smoothed: List[float] = []
    diverged = False
    ratio = end_lr / start_lr
    try:
        average, best = 0.0, math.inf
        batches = _batches(x, y, sample_weight, batch_size)
        for i in range(steps):
            lr = start_lr * ratio ** (i / (steps - 1))
            optimizer.learning_rate = lr
            bx, by, bw = next(batches)
            logs = model.train_on_batch(bx, by, sample_weight=bw, return_dict=True)
            if "loss" not in logs:
                raise ValueError(
                    f"find_learning_rate reads the loss from train_on_batch, but the model's train_step returned "
                    f"{sorted(logs)} without a 'loss' entry. Return {{'loss': loss, ...}} from train_step.")
            loss = float(logs["loss"])  # host sync: once per step, the test must see the loss to stop
            if not math.isfinite(loss):
                diverged = True
                break
            average = smoothing * average + (1 - smoothing) * loss
            value = average / (1 - smoothing ** (i + 1))
            lrs.append(lr)
            raw.append(loss)
            smoothed.append(value)
            best = min(best, value)
            if value > diverge_factor * best:
                diverged = True
                break
    finally:
        snapshot.restore()
    if not lrs:
        raise ValueError(
            f"find_learning_rate: the loss was not finite at the first step (start_lr={start_lr!r}). Check the data "
            "for NaN/inf, or lower start_lr.")
    suggestion, min_loss_lr = _suggest(lrs, smoothed)
    return LearningRateFinderResult(lrs=lrs, losses=smoothed, raw_losses=raw, suggestion=suggestion,
                                    min_loss_lr=min_loss_lr, minimum=min_loss_lr / 10, diverged=diverged)
