"""Keeps non-finite updates away from the weights, without a per-batch host sync.

With `fit(..., skip_nonfinite=True)` (opt-in: it costs about 17-21% per step on the CPU, see
below), `fit`'s built-in step runs every update through a `NonFiniteGuard`. The guard decides on
the device whether the update is finite (the loss, every gradient, and, for batches from an
iterable, the batch's inputs and targets: one `_amp_foreach_non_finite_check_and_unscale_`
kernel, as torch's GradScaler finds `found_inf`) and undoes the update when it is not:

1. non-finite gradient entries are zeroed (`nan_to_num_`; an identity on a kept update), so
   that a skipped update leaves finite values behind;
2. the weights and every optimizer-state tensor (moments, EMA averages, gradient
   accumulators) are copied into buffers allocated once (one `_foreach_copy_`);
3. the optimizer steps as usual;
4. every tracked tensor becomes `lerp(new, saved, bad)` (one `_foreach_lerp_`): exactly the
   new value when `bad` is 0 and exactly the saved one when it is 1.

Zeroing the gradients alone would NOT be a skip (Adam's moments decay and its counter moves),
hence the copy. Nothing is read on the host per batch: the skipped-update count, the current
run of skipped updates and the batch where a run reached the limit stay on the device and are
read once per epoch, next to the epoch's logs. The cost is two more passes over the weights
and the optimizer state per update (measured on the CPU: about 50 us per step for a linear
model, about 1 ms per step, +65% of the optimizer's update, for a 235k-weight MLP with Adam).

Two host values cannot be rolled back without a sync, so a skipped update still advances them:
the optimizer's host step counter (`optimizer.iterations`, which learning-rate schedules and
the Keras-rule optimizers' bias corrections read) and torch optimizers' CPU `step` tensors
when training on an accelerator. The first update that creates the optimizer's state (once
per fit) reads the flag on the host, since there is no earlier state to restore to.
"""

from __future__ import annotations

import math

import warnings
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from kerasish.utils.tree import map_structure


class NonFiniteStepsError(RuntimeError):
    """`fit` skipped too many consecutive updates because of NaN/inf values."""


def _floating_leaves(*parts: Any) -> List[torch.Tensor]:
    leaves: List[torch.Tensor] = []
    for part in parts:
        if part is not None:
            map_structure(lambda a: leaves.append(a) if isinstance(a, torch.Tensor) and a.is_floating_point()
                          else None, part)
    return leaves


class NonFiniteGuard:
    """Skips non-finite updates on the device and counts them (see the module docstring).

    Args:
        optimizer: the built kerasish optimizer whose updates are guarded.
        limit: raise at the end of the epoch when this many consecutive updates were skipped;
            `None` never raises (the skips are still counted). Defaults to `10`.
        device: the model's device.
    """

    def __init__(self, optimizer: Any, device: torch.device, limit: Optional[int] = 10) -> None:
        self.optimizer = optimizer
        self.limit = limit
        self.device = device
        self.batch = 0  # the loop sets the batch index (a host integer) before each step
        # One buffer for the per-step flags and counters, so that updating them costs few kernels:
        # [bad (1.0: skip this update), skipped updates this epoch, current run of skipped updates].
        self._flags = torch.zeros(3, dtype=torch.float32, device=device)
        self._bad, self._counts, self._run = self._flags[0], self._flags[1:], self._flags[2]
        self._inputs_bad: Optional[torch.Tensor] = None  # set by check_inputs for batches from iterables
        self.limit_batch = torch.full((), -1, dtype=torch.int64, device=device)
        self.bad_input_batch = torch.full((), -1, dtype=torch.int64, device=device)
        self._one = torch.ones((), dtype=torch.float32, device=device)
        self._floats: List[torch.Tensor] = []  # the tracked floating-point tensors
        self._saved: List[torch.Tensor] = []  # their values before the update
        self._weights: List[torch.Tensor] = []  # `_bad` broadcast to each one's shape
        self._others: List[Any] = []  # (tensor, backup) for tracked integer tensors
        self._flag_copies: dict = {}
        self._state_size = -1
        self.total_skipped = 0  # host count over the whole fit (updated once per epoch)

    def reset_epoch(self) -> None:
        self._flags[1].zero_()
        self.limit_batch.fill_(-1)
        self.bad_input_batch.fill_(-1)

    def check_inputs(self, x: Any, y: Any, sample_weight: Any = None) -> None:
        """Flags a batch (from an iterable) holding NaN/inf on the device; no host sync."""
        leaves = _floating_leaves(x, y, sample_weight)
        if not leaves:
            self._inputs_bad = None
            return
        ok = torch.isfinite(leaves[0]).all()
        for leaf in leaves[1:]:
            ok = ok & torch.isfinite(leaf).all()
        bad = ~ok
        self._inputs_bad = bad
        self.bad_input_batch.masked_fill_(bad & (self.bad_input_batch < 0), self.batch)

    # ----------------------------------------------------------------- the guarded update
    def _tracked(self) -> List[torch.Tensor]:
        """The weights and every optimizer-state tensor on the device, in a fixed order."""
        opt = self.optimizer
        tensors: List[torch.Tensor] = [p.data for p in opt._params]
        for st in opt.torch_optimizer.state.values():
            tensors.extend(v for v in st.values() if isinstance(v, torch.Tensor) and v.device == self.device)
        tensors.extend(opt._ema)
        tensors.extend(opt._accumulators.values())
        return tensors

    def _collect(self) -> None:
        """Backup buffers for the tracked tensors (allocated once per fit, and again only when the
        optimizer creates state), and per tensor a view of the skip flag broadcast to its shape."""
        tracked = self._tracked()
        self._floats = [t for t in tracked if t.is_floating_point()]
        self._saved = [t.clone() for t in self._floats]
        # The flag in each tracked dtype (float32 is `_bad` itself; others are copied per step).
        self._flag_copies = {t.dtype: torch.zeros((), dtype=t.dtype, device=self.device)
                             for t in self._floats if t.dtype != torch.float32}
        flags = {torch.float32: self._bad, **self._flag_copies}
        self._weights = [flags[t.dtype].expand_as(t) for t in self._floats]
        self._others = [(t, t.clone()) for t in tracked if not t.is_floating_point()]

    def _save(self) -> None:
        torch._foreach_copy_(self._saved, self._floats)
        for t, saved in self._others:
            saved.copy_(t)

    def _restore_if_bad(self) -> None:
        """Every tracked tensor becomes `lerp(current, saved, bad)`: exactly `current` when the
        update is kept and exactly `saved` when it is not (lerp is exact at both ends; `current`
        is finite because non-finite gradients were zeroed first)."""
        for flag in self._flag_copies.values():
            flag.copy_(self._bad)
        if self._floats:
            torch._foreach_lerp_(self._floats, self._saved, self._weights)
        for t, saved in self._others:
            torch.where(self._bad.bool(), saved, t, out=t)

    def _current_state_size(self) -> int:
        # Parameters with state (torch creates all of a parameter's state at its first update).
        return len(self.optimizer.torch_optimizer.state)

    @torch.no_grad()
    def step(self, loss: torch.Tensor) -> None:
        """The optimizer's update from the parameters' `.grad`, undone on the device when not finite."""
        opt = self.optimizer
        _, grads = opt._grads()
        if self._inputs_bad is None:
            self._bad.zero_()
        else:
            self._bad.copy_(self._inputs_bad)
            self._inputs_bad = None
        # One kernel sets `_bad` to 1.0 if the loss or any gradient holds NaN/inf (it also
        # multiplies them by 1.0, which changes no value).
        torch._amp_foreach_non_finite_check_and_unscale_(grads + [loss.detach()], self._bad, self._one)
        for g in grads:
            g.nan_to_num_(0.0, 0.0, 0.0)  # identity on a kept update; a skipped one then stays finite
        size = self._current_state_size()
        if size != self._state_size:
            self._collect()  # copies the current values too
            self._state_size = size
        else:
            self._save()
        opt.step()
        self._restore_if_bad()
        if self._current_state_size() != size:
            # The optimizer created state in this update (the first one, once per fit): there is
            # nothing to restore it to, so a skipped update drops it instead.
            if bool(self._bad):  # host sync: only on an update that creates optimizer state
                for st in opt.torch_optimizer.state.values():
                    st.clear()
                opt.torch_optimizer.state.clear()
            self._state_size = -1
        self._count()

    def _count(self) -> None:
        # run = (run + 1) * bad = run * bad + bad; skipped += bad.
        self._run.mul_(self._bad)
        self._counts.add_(self._bad)
        if self.limit is not None:
            # The batch where a run of skips reaches the limit (the latest such run of the epoch).
            self.limit_batch.masked_fill_(self._run == self.limit, self.batch)

    # ----------------------------------------------------------------- once per epoch
    def end_epoch(self, epoch: int) -> int:
        """The epoch's skipped-update count; raises when the limit was reached.

        Raises:
            NonFiniteStepsError: after `limit` consecutive skipped updates, naming the epoch
                and the batch.
        """
        skipped, limit_batch, bad_input = torch.stack(
            [self._flags[1].long(), self.limit_batch, self.bad_input_batch]).tolist()  # host sync: once per epoch
        self.total_skipped += skipped
        if bad_input >= 0:
            warnings.warn(
                f"Epoch {epoch + 1}: batch {bad_input} from the data iterable holds NaN or inf in its inputs or "
                "targets; its update was skipped (the weights did not change). Clean the data (e.g. with "
                "np.nan_to_num or by dropping those samples).", stacklevel=4)
        if limit_batch >= 0:
            raise NonFiniteStepsError(
                f"fit skipped {self.limit} consecutive updates because the loss, a gradient or the batch held NaN "
                f"or inf; the limit was reached at epoch {epoch + 1}, batch {limit_batch} ({skipped} updates "
                "skipped in that epoch; the weights keep their last finite values). Check the data and the "
                "learning rate (a smaller one, or clipnorm=... in the optimizer), or raise the limit with "
                "fit(..., max_nonfinite_steps=N) (None never stops)."
            )
        return skipped


def check_arguments(skip_nonfinite: Any, max_nonfinite_steps: Any) -> None:
    """fit's `skip_nonfinite` and `max_nonfinite_steps`, checked before any weight changes."""
    if not isinstance(skip_nonfinite, (bool, np.bool_)):
        raise TypeError(
            f"skip_nonfinite must be True or False, received skip_nonfinite={skip_nonfinite!r}. Pass "
            "skip_nonfinite=False to let non-finite updates reach the weights, as Keras does."
        )
    if max_nonfinite_steps is not None and (isinstance(max_nonfinite_steps, bool) or not isinstance(
            max_nonfinite_steps, (int, np.integer)) or max_nonfinite_steps < 1):
        raise ValueError(
            f"max_nonfinite_steps must be a positive integer or None, received "
            f"max_nonfinite_steps={max_nonfinite_steps!r}. Pass e.g. 10 (fit raises after 10 consecutive skipped "
            "updates), or None to skip without limit."
        )


def make_guard(model: Any, steps: Any, skip_nonfinite: bool, limit: Optional[int]) -> Optional[NonFiniteGuard]:
    """The non-finite guard of the built-in step, or None: when turned off, for a custom train_step
    (the user's code makes the update), and under the float16 GradScaler or a LossScaleOptimizer
    (both skip non-finite updates themselves, with one host sync per step)."""
    from kerasish.optimizers import LossScaleOptimizer
    from kerasish.training.stepper import overrides

    if not skip_nonfinite or overrides(model, "train_step") or steps.scaler is not None \
            or isinstance(model.optimizer, LossScaleOptimizer) or not model.optimizer._params:
        return None
    steps.guard = NonFiniteGuard(model.optimizer, model.device, None if limit is None else int(limit))
    return steps.guard


def warn_if_nonfinite_loss(epoch: int, logs: Dict[str, float]) -> bool:
    """Warns (once per fit: returns True) when an epoch's training loss is NaN/inf without the guard.

    The epoch's logs are host floats already, so this costs nothing per step. Keras prints the `nan`
    and trains on; kerasish does too, but says what it means and the ways out.
    """
    loss = logs.get("loss")
    if loss is None or math.isfinite(loss):
        return False
    warnings.warn(
        f"Epoch {epoch + 1}: the training loss is {loss}: a NaN or inf reached the loss (from the inputs, the "
        "labels, the sample weights or an overflow), and every weight its gradient touched is now non-finite. "
        "fit goes on, as Keras does. Pass fit(..., skip_nonfinite=True) to skip such updates on the device "
        "(the weights stay finite), or add kerasish.callbacks.TerminateOnNaN() to stop at the first one.",
        stacklevel=4)
    return True
