"""OneCycle: the one-cycle policy (warm-up, then annealing), set before every batch."""

from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Mapping, Optional, Tuple

from kerasish.callbacks.callback import Callback, keras_learning_rate
from kerasish.optimizers.rate_variable import OptimizerVariable

_ANNEAL = ("cos", "linear")


def _anneal(anneal: str, start: float, end: float, pct: float) -> float:
    if anneal == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
    return start + (end - start) * pct


def _momentum_key(group: Mapping[str, Any]) -> Optional[str]:
    """The param-group entry holding the momentum: torch's `betas` pair, Keras's `beta_1`, or SGD's `momentum`."""
    for key in ("betas", "beta_1", "momentum"):
        if key in group:
            return key
    return None


def _number(name: str, value: Any, low: float, high: float = math.inf, closed_low: bool = False) -> float:
    ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
          and (value >= low if closed_low else value > low) and value <= high)
    if not ok:
        where = f"{'>=' if closed_low else '>'} {low}" + ("" if high == math.inf else f" and <= {high}")
        raise ValueError(f"OneCycle: {name} must be a number {where}, received {name}={value!r}.")
    return float(value)


class OneCycle(Callback):
    """Trains with the one-cycle policy: the rate warms up, then anneals to almost zero.

    The learning rate rises from `max_lr / div_factor` to `max_lr` over the first
    `pct_start` of the steps, then falls to `max_lr / (div_factor * final_div_factor)` at the
    last step, along a half cosine (or a line). Momentum moves the other way, from
    `max_momentum` down to `base_momentum` and back: SGD's `momentum`, or `beta_1` of
    Adam-type optimizers. This is fastai's `fit_one_cycle` policy, with the argument names
    and step arithmetic of `torch.optim.lr_scheduler.OneCycleLR` (so the values equal
    torch's, step for step).

    The rate is set before every batch from the optimizer's host step counter
    (`optimizer.iterations`, counted from the start of the first `fit`), so it costs no
    device synchronisation, and it resumes where it was after `BackupAndRestore`. The rate
    in effect is added to the epoch logs as `learning_rate`.

    Args:
        max_lr: the peak learning rate (e.g. from `model.find_learning_rate(...)`).
        total_steps: optimizer updates in the cycle. Defaults to `None` (`epochs * steps` of
            the `fit` call, divided by the optimizer's `gradient_accumulation_steps`).
        pct_start: fraction of the cycle spent warming up. Defaults to `0.25`.
        div_factor: the first rate is `max_lr / div_factor`. Defaults to `25.0`.
        final_div_factor: the last rate is `max_lr / div_factor / final_div_factor`.
            Defaults to `1e4`.
        anneal: 'cos' or 'linear'. Defaults to `'cos'`.
        cycle_momentum: cycle the momentum (SGD) or `beta_1` (Adam family) inversely.
            Defaults to `True`.
        base_momentum: the momentum at the peak rate. Defaults to `0.85`.
        max_momentum: the momentum at the start and end of the cycle. Defaults to `0.95`.

    Raises:
        ValueError: for arguments out of range, an unknown `anneal`, or (when training
            starts) an optimizer created with a learning-rate schedule, a `fit` whose number
            of steps is unknown while `total_steps` is None, or `cycle_momentum` with an
            optimizer that has no momentum.

    Example:
        >>> one_cycle = OneCycle(max_lr=1e-2)
        >>> one_cycle.learning_rate_at(24, total_steps=100)  # the peak, after 25% of the steps
        0.01
    """

    def __init__(self, max_lr: float, total_steps: Optional[int] = None, pct_start: float = 0.25,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, anneal: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85, max_momentum: float = 0.95) -> None:
        super().__init__()
        if isinstance(max_lr, OptimizerVariable):  # OneCycle(max_lr=optimizer.learning_rate): its value now
            max_lr = float(max_lr)
        self.max_lr = _number("max_lr", max_lr, 0.0)
        if total_steps is not None and (isinstance(total_steps, bool) or not isinstance(total_steps, int)
                                        or total_steps < 1):
            raise ValueError(
                f"OneCycle: total_steps must be a positive integer or None, received total_steps={total_steps!r}. "
                "Pass None to use epochs * steps of the fit call.")
        self.total_steps = total_steps
        self.pct_start = _number("pct_start", pct_start, 0.0, 1.0, closed_low=True)
        self.div_factor = _number("div_factor", div_factor, 0.0)
        self.final_div_factor = _number("final_div_factor", final_div_factor, 0.0)
        if anneal not in _ANNEAL:
            raise ValueError(f"OneCycle: anneal must be one of {list(_ANNEAL)}, received anneal={anneal!r}.")
        self.anneal = anneal
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentum = _number("base_momentum", base_momentum, 0.0, 1.0, closed_low=True)
        self.max_momentum = _number("max_momentum", max_momentum, 0.0, 1.0, closed_low=True)
        # Where the cycle started on the optimizer's step counter, and its length once known.
        self._start_iteration: Optional[int] = None
        self._cycle_steps: Optional[int] = None
        self._warned_past_end = False

    # ----------------------------------------------------------------- the policy
    def _phases(self, total_steps: int) -> Tuple[float, float]:
        return float(self.pct_start * total_steps) - 1.0, float(total_steps - 1)

    def _value_at(self, step: int, total_steps: int, low: float, high: float, low_end: float) -> float:
        warm_end, last = self._phases(total_steps)
        if step <= warm_end:
            pct = step / warm_end if warm_end > 0 else 1.0
            return _anneal(self.anneal, low, high, pct)
        pct = (step - warm_end) / (last - warm_end) if last > warm_end else 1.0
        return _anneal(self.anneal, high, low_end, min(pct, 1.0))

    def learning_rate_at(self, step: int, total_steps: Optional[int] = None) -> float:
        """The learning rate at `step` (0-based) of a cycle of `total_steps` steps.

        Args:
            step: the step within the cycle.
            total_steps: the cycle's length. Defaults to `None` (the callback's `total_steps`,
                or the length resolved when training started).
        """
        total = self._resolve_total(total_steps)
        initial = self.max_lr / self.div_factor
        return self._value_at(step, total, initial, self.max_lr, initial / self.final_div_factor)

    def momentum_at(self, step: int, total_steps: Optional[int] = None) -> float:
        """The momentum (or `beta_1`) at `step` of a cycle of `total_steps` steps."""
        total = self._resolve_total(total_steps)
        return self._value_at(step, total, self.max_momentum, self.base_momentum, self.max_momentum)

    def _resolve_total(self, total_steps: Optional[int]) -> int:
        total = total_steps or self.total_steps or self._cycle_steps
        if total is None:
            raise ValueError(
                "OneCycle does not know the cycle's length yet: pass total_steps=..., or call this once fit has "
                "started (it uses epochs * steps of the fit call).")
        return int(total)

    # ----------------------------------------------------------------- hooks
    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        optimizer = self.model.optimizer
        schedule = getattr(optimizer, "learning_rate_schedule", None)
        if schedule is not None:
            raise ValueError(
                f"OneCycle sets the learning rate itself, but the optimizer was created with a learning-rate "
                f"schedule ({type(schedule).__name__}). Compile with a number instead, e.g. "
                f"optimizer=kerasish.optimizers.{type(optimizer).__name__}(learning_rate={self.max_lr}).")
        if self.cycle_momentum:
            groups = optimizer.torch_optimizer.param_groups
            if not all(_momentum_key(g) for g in groups):
                raise ValueError(
                    f"OneCycle: cycle_momentum=True needs an optimizer with momentum (SGD, RMSprop) or beta_1 (Adam "
                    f"family), received {type(optimizer).__name__}. Pass cycle_momentum=False.")
        if self._cycle_steps is None:
            if self.total_steps is not None:
                self._cycle_steps = self.total_steps
            else:
                epochs, steps = self.params.get("epochs"), self.params.get("steps")
                if not epochs or not steps:
                    raise ValueError(
                        f"OneCycle needs the cycle's length, but this fit has epochs={epochs!r} and steps per epoch "
                        f"{steps!r} (unknown for an iterable without a length). Pass OneCycle(total_steps=...) or "
                        "fit(..., steps_per_epoch=...).")
                # The step counter counts updates: one per `gradient_accumulation_steps` batches.
                per_update = getattr(optimizer, "gradient_accumulation_steps", None) or 1
                self._cycle_steps = max(1, int(epochs) * int(steps) // per_update)
        if self._start_iteration is None:
            # The cycle starts at this fit's first step; a later fit continues it.
            self._start_iteration = int(optimizer.iterations)
        self._apply(optimizer)

    def on_train_batch_begin(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._apply(self.model.optimizer)

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        if isinstance(logs, dict):
            logs["learning_rate"] = keras_learning_rate(self.model.optimizer)  # a float, as the LR callbacks log

    def _apply(self, optimizer: Any) -> None:
        # Python floats from a host integer: no device synchronisation, once per batch.
        step = int(optimizer.iterations) - self._start_iteration
        total = self._cycle_steps
        if step >= total:
            if not self._warned_past_end:
                warnings.warn(
                    f"OneCycle's cycle of {total} steps is over (step {step}); the learning rate stays at its final "
                    f"value. Pass a larger total_steps to OneCycle to train longer along the cycle.", stacklevel=2)
                self._warned_past_end = True
            step = total - 1
        optimizer.learning_rate = self.learning_rate_at(step, total)
        if self.cycle_momentum:
            momentum = self.momentum_at(step, total)
            for group in optimizer.torch_optimizer.param_groups:
                key = _momentum_key(group)
                group[key] = (momentum, *tuple(group[key])[1:]) if key == "betas" else momentum

    # ----------------------------------------------------------------- state
    def state_dict(self) -> Dict[str, Any]:
        """`{'start_iteration', 'cycle_steps'}`: where the cycle began on the step counter, and its length."""
        if self._start_iteration is None:
            return {}
        return {"start_iteration": self._start_iteration, "cycle_steps": self._cycle_steps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "start_iteration" in state:
            self._start_iteration = int(state["start_iteration"])
            self._cycle_steps = int(state["cycle_steps"])
            if self.model is not None and self.model.optimizer is not None:
                self._apply(self.model.optimizer)

    def get_config(self) -> Dict[str, Any]:
        return {"max_lr": self.max_lr, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor, "anneal": self.anneal,
                "cycle_momentum": self.cycle_momentum, "base_momentum": self.base_momentum,
                "max_momentum": self.max_momentum}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "OneCycle":
        return cls(**config)
