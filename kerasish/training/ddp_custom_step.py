"""A model's own `train_step` / `test_step` under torchrun: what DDP does for the built-in step.

The built-in step runs its forward through `DistributedDataParallel`. A custom step calls the model,
its sub-models (a GAN's generator and discriminator), `compute_loss`, `backward` and the optimizer
itself, so no wrapper can sit around "the forward". Instead, for the duration of a distributed fit:

- every process starts from rank 0's weights and buffers (as wrapping in DDP does);
- every trainable parameter's gradient is averaged over the processes as soon as a backward pass has
  accumulated it into `.grad` (a post-accumulate-grad hook per parameter), so whatever the step then
  does with `.grad` (`optimizer.apply`, `apply_gradients`, a torch optimizer) sees the gradient of
  the global batch, as DDP gives it. Averaging is idempotent on values already equal across processes,
  so a second backward into the same `.grad` adds the average of its own contribution;
- at each step's start, the state that is not trained by gradients (buffers, non-trainable weights such
  as BatchNormalization's moving statistics) is taken from rank 0, as DDP broadcasts buffers before
  each forward;
- the epoch logs: a returned value that is a metric's `result()` is replaced by that metric's result
  over all processes' data (its state reduced, see `distributed.reduced_results`); any other number or
  scalar tensor is averaged over the processes (exact for means when every process has as many samples);
- weights created after fit began (a sub-model built by its first call inside the step) are refused at the
  next step with the way out: each process initialised them differently;
- at each epoch's end the untrained state is taken from rank 0 again, so callbacks (a checkpoint on rank 0)
  and the next epoch see the same model everywhere; then a checksum of the weights is compared across
  processes: a step that updated
  them from gradients that never reached `.grad` (`torch.autograd.grad(...)` handed to the optimizer)
  leaves the processes with different weights, and fit stops with an error saying so instead of
  training diverged copies.

Costs: one all_reduce per parameter per backward (not bucketed as DDP's), one broadcast of the
untrained state per step (one collective per dtype), one small collective per epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, List

import torch
import torch.distributed as dist

from kerasish import distributed


class AveragedGradients:
    """While entered (`with AveragedGradients(model):`), a custom step of `model` trains on every process
    as one data-parallel run (see the module docstring). Gradients are averaged only while `active`
    (inside the step): a backward pass a callback runs on one process (a saliency map on rank 0) must
    not wait for the others."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.world = dist.get_world_size()
        self.active = False
        self._hooks: Dict[int, Any] = {}
        self._known: set = set()  # every parameter present when fit began

    def _average(self, p: torch.Tensor) -> None:
        if not self.active:
            return
        dist.all_reduce(p.grad)
        p.grad.div_(self.world)

    def _untrained_state(self) -> List[torch.Tensor]:
        """Buffers and non-trainable weights, without the seed generators' states: those are rank 0's from
        the start and advance alike everywhere (copying them would make each generator re-read its state,
        a host sync per step)."""
        from kerasish.random.seed_generator import SeedGenerator

        seeds = {id(m.state) for m in self.model.modules() if isinstance(m, SeedGenerator)}
        untrained = [p for p in self.model.parameters() if not p.requires_grad]
        return untrained + [b for b in self.model.buffers() if b.numel() and id(b) not in seeds]

    def begin_step(self) -> None:
        """Rank 0's untrained state on every process; hooks on parameters that became trainable.

        Raises:
            RuntimeError: (on every process alike) for weights created after fit began, e.g. a sub-model
                built by its first call inside train_step: each process initialised them differently.
        """
        new = []
        for p in self.model.parameters():
            if id(p) not in self._known:
                new.append(p)
            elif p.requires_grad and id(p) not in self._hooks:
                self._hooks[id(p)] = p.register_post_accumulate_grad_hook(self._average)
        if new:
            paths = [getattr(p, "path", None) or tuple(p.shape) for p in new]
            raise RuntimeError(
                f"{type(self.model).__name__}.train_step created weights during a distributed fit ({paths[:5]}): "
                "each process initialised them differently and their first gradients were not averaged. Build "
                "every sub-model before fit (give it an Input(...) or call model.build(shape)), then fit again."
            )
        untrained = self._untrained_state()
        if untrained:
            distributed.broadcast_into_from_main(untrained)

    def __enter__(self) -> "AveragedGradients":
        distributed.broadcast_into_from_main([t for t in list(self.model.parameters()) + list(self.model.buffers()) if t.numel()])
        self._known = {id(p) for p in self.model.parameters()}
        self.begin_step()
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._hooks.values():
            handle.remove()
        self._hooks.clear()

    def check_in_step(self) -> None:
        """At an epoch's end: rank 0's untrained state everywhere (callbacks and the next epoch see the same
        model on every process), then raises when the trained weights differ (collectives: every rank calls it)."""
        self.begin_step()
        device = distributed._collective_device()
        with torch.no_grad():
            local = sum((p.detach().double().sum().to(device) for p in self.model.parameters()),
                        torch.zeros((), dtype=torch.float64, device=device))
            sums = [torch.zeros((), dtype=torch.float64, device=device) for _ in range(self.world)]
            dist.all_gather(sums, local)
        values = [float(s) for s in sums]  # host sync: once per epoch
        if any(v != values[0] for v in values[1:]):
            raise RuntimeError(
                f"The processes' weights differ after this epoch (checksums per rank: {values}): "
                f"{type(self.model).__name__}.train_step updated them from gradients that were not accumulated "
                "in .grad (e.g. torch.autograd.grad(...) passed to the optimizer), which kerasish cannot average "
                "across processes. Compute gradients with loss.backward() and read them from each weight's .grad "
                "(as the Keras guide's train_step does), or train without torchrun."
            )


def _metric_objects(model: Any) -> List[Any]:
    """The model's metrics, a compiled-metrics container replaced by its members."""
    out: List[Any] = []
    for m in model.metrics:
        members = getattr(m, "metrics", None)
        out.extend(members if isinstance(members, list) else [m])
    return out


def reduced_result(model: Any, result: Mapping) -> Mapping:
    """`result` (a step's returned dict) over all processes, in the same nesting: a metric's own result is
    replaced by the metric's reduced result, any other scalar tensor by its mean (a collective)."""
    from kerasish.training.step_logs import flatten

    names, values = flatten(result)
    # Python numbers (the built-in step's logs through super().train_step, a loss.item()) are per process too.
    values = [torch.tensor(float(v), dtype=torch.float64) if isinstance(v, (int, float)) and not isinstance(v, bool)
              else v for v in values]
    metrics = _metric_objects(model)
    reduced = distributed.reduced_results(metrics)
    local = {m.name: (m.result(), r) for m, r in zip(metrics, reduced) if isinstance(r, torch.Tensor)}
    device = distributed._collective_device()
    scalar = [isinstance(v, torch.Tensor) and v.numel() == 1 for v in values]
    numbers = torch.stack([v.detach().reshape(()).to(device, torch.float64) if ok
                           else torch.zeros((), dtype=torch.float64, device=device) for v, ok in zip(values, scalar)])
    dist.all_reduce(numbers)
    numbers /= dist.get_world_size()
    new_values = []
    for i, (name, value) in enumerate(zip(names, values)):
        own = local.get(name)
        if (scalar[i] and own is not None and value.shape == own[0].shape and value.device == own[0].device
                and value.dtype == own[0].dtype and torch.equal(value.detach(), own[0])):  # that metric's result
            new_values.append(own[1])
        else:
            new_values.append(numbers[i] if scalar[i] else value)  # not a scalar tensor: to_floats reports it
    return _rebuild(result, iter(new_values))


def _rebuild(result: Mapping, values: Any) -> Dict[Any, Any]:
    """`result`'s nesting with its leaves taken from `values`, in `step_logs.flatten`'s order."""
    out: Dict[Any, Any] = {}
    for k, v in sorted(result.items(), key=lambda item: str(item[0])):
        out[k] = _rebuild(v, values) if isinstance(v, Mapping) else next(values)
    return {k: out[k] for k in result}  # the step's own key order
