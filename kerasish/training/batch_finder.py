"""The largest batch that trains: `model.find_batch_size(x, y)`.

A trial trains `steps` batches of one size through `train_on_batch` (so the compiled
loss, optimizer and any custom `train_step` run for real). Sizes double from `start`
until a trial fails, then a binary search narrows the gap to about 3 %; the answer is
`floor(margin * largest size that passed)`. After every trial the model, optimizer,
metrics and random-number states are put back bit for bit (`TrainingSnapshot`, kept on
the host so it takes no accelerator memory).

A trial fails when:
- on CUDA, it runs out of memory (`torch.cuda.OutOfMemoryError`; the memory is freed
  with `torch.cuda.empty_cache()` before the next trial), or, with `memory_budget`, its
  peak allocation (`torch.cuda.max_memory_allocated`) exceeds the budget;
- on the CPU, which has no reliable out-of-memory signal (the operating system swaps or
  kills the process), its estimated peak exceeds `memory_budget`, which is then required.
  The estimate adds the bytes of the parameters, their gradients and the optimizer's
  state to the activations the step keeps for the backward pass (every tensor autograd
  saves, counted once per storage, measured with `torch.autograd.graph.saved_tensors_hooks`
  during the trial itself) plus the largest of them once more (the gradient being
  formed for it during the backward pass).

The learning rate is never scaled: a different batch size may want a different rate
(the linear scaling rule multiplies it by new/old batch size, the square-root rule by
the root of that ratio), which the printed line says; `find_learning_rate` at the new
size measures it instead of guessing.

Cost: one host sync per trial step (to read the loss), and one per trial to read the
memory counters; nothing in `fit` itself.
"""

from __future__ import annotations

import gc
import math
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from kerasish.training.snapshot import TrainingSnapshot, prepare_for_training

# The binary search stops when the gap is below this fraction of the size that passed.
_PRECISION = 1 / 32
_OOM_MESSAGES = ("out of memory", "CUBLAS_STATUS_ALLOC_FAILED", "can't allocate memory")


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and any(m in str(error) for m in _OOM_MESSAGES)


def _fail(name: str, value: Any, expected: str, example: str) -> None:
    raise ValueError(f"find_batch_size: {name} must be {expected}, received {name}={value!r}. {example}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _readable(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class _SavedTensorMeter:
    """Counts the bytes autograd saves for the backward pass during one step, once per storage."""

    def __init__(self, exclude: set) -> None:
        self.exclude = exclude  # storages of the parameters and buffers (counted as static memory)
        self.storages: Dict[int, int] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        try:
            storage = t.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
        except (RuntimeError, NotImplementedError):  # tensor subclasses without a storage
            key, size = id(t), _tensor_bytes(t)
        if key not in self.exclude:
            self.storages[key] = size
        return t

    @staticmethod
    def unpack(t: torch.Tensor) -> torch.Tensor:
        return t

    def total(self) -> Tuple[int, int]:
        """(bytes of all saved storages, bytes of the largest one)."""
        sizes = list(self.storages.values())
        return sum(sizes), max(sizes, default=0)


def _static_bytes(model: Any) -> int:
    params = [p for p in model.parameters()]
    trainable = sum(_tensor_bytes(p) for p in params if p.requires_grad)
    weights = sum(_tensor_bytes(p) for p in params) + sum(_tensor_bytes(b) for b in model.buffers())
    optimizer = model.optimizer.torch_optimizer
    state = sum(_tensor_bytes(v) for st in optimizer.state.values() for v in st.values()
                if isinstance(v, torch.Tensor))
    return weights + trainable + state  # weights, one gradient per trainable weight, optimizer moments


def _estimate_cpu_peak(model: Any, run_step: Callable[[], None], steps: int) -> int:
    exclude = set()
    for t in list(model.parameters()) + list(model.buffers()):
        exclude.add(t.untyped_storage().data_ptr())
    peak = 0
    for _ in range(steps):
        meter = _SavedTensorMeter(exclude)
        with torch.autograd.graph.saved_tensors_hooks(meter.pack, meter.unpack):
            run_step()
        saved, largest = meter.total()
        # The optimizer's state exists after the first step: measured after each one.
        peak = max(peak, _static_bytes(model) + saved + largest)
    return peak


def find_batch_size(model: Any, x: Any, y: Any = None, start: int = 2, max_batch_size: Optional[int] = None,
                    margin: float = 0.9, memory_budget: Optional[int] = None, steps: int = 2, *,
                    sample_weight: Any = None, verbose: int = 1) -> int:
    """Finds the largest batch size that trains without running out of memory.

    Args:
        model: a compiled kerasish model (its loss, optimizer and device are used).
        x: input arrays or tensors (or a list/dict of them).
        y: the targets. Defaults to `None`.
        start: the first size tried; sizes double from it. Defaults to `2`.
        max_batch_size: the largest size worth trying. Defaults to `None` (the number of
            samples).
        margin: the answer is `floor(margin * largest size that trained)`, leaving room for
            memory that varies between batches (padding, fragmentation). Defaults to `0.9`.
        memory_budget: bytes the training step may use: the cap on CUDA (peak allocation),
            required on the CPU (estimated peak, see the module docstring). Defaults to `None`.
        steps: training steps per trial (the optimizer's state appears at the first).
            Defaults to `2`.
        sample_weight: per-sample weights. Defaults to `None`.
        verbose: 1 prints the result and the learning-rate note; 0 prints nothing.
            Defaults to `1`.

    Returns:
        The batch size to use (an int >= 1).

    Raises:
        RuntimeError: if the model is not compiled, or even `start` does not fit.
        TypeError: if `x` is not arrays or tensors.
        ValueError: for arguments out of range, or a CPU model without `memory_budget`.

    Example:
        >>> batch_size = model.find_batch_size(x_train, y_train)                      # doctest: +SKIP
        >>> model.fit(x_train, y_train, batch_size=batch_size)                         # doctest: +SKIP
        >>> model.find_batch_size(x_train, y_train, memory_budget=2 * 1024**3)  # on the CPU  # doctest: +SKIP
    """
    from kerasish.data.adapters import is_array_structure, num_samples
    from kerasish.utils.tree import map_structure

    model.require_compiled("find_batch_size")
    if not _is_int(start) or start < 1:
        _fail("start", start, "an integer >= 1", "Pass e.g. start=2.")
    if max_batch_size is not None and (not _is_int(max_batch_size) or max_batch_size < start):
        _fail("max_batch_size", max_batch_size, f"None or an integer >= start={start}",
              "Pass e.g. max_batch_size=4096.")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin <= 1:
        _fail("margin", margin, "a number in (0, 1]", "Pass e.g. margin=0.9 to keep 10% of memory spare.")
    if memory_budget is not None and (not _is_int(memory_budget) or memory_budget < 1):
        _fail("memory_budget", memory_budget, "None or a positive number of bytes",
              "Pass e.g. memory_budget=2 * 1024**3.")
    if not _is_int(steps) or steps < 1:
        _fail("steps", steps, "an integer >= 1", "Pass e.g. steps=2.")
    if not is_array_structure(x):
        raise TypeError(
            f"find_batch_size needs x as arrays or tensors (or a list/dict of them) to cut batches of any size, "
            f"received x of type {type(x).__name__}. A DataLoader fixes its own batch size: pass the arrays, or "
            "find the size on a sample of them.")
    device = torch.device(model.device)
    cuda = device.type == "cuda"
    if not cuda and memory_budget is None:
        raise ValueError(
            f"find_batch_size on the {device.type} needs memory_budget (bytes): there a step that does not fit "
            "swaps or gets the process killed instead of raising an error to catch. Pass e.g. "
            "memory_budget=4 * 1024**3, then fit(batch_size=<the result>), or train on CUDA for "
            "fit(batch_size='auto').")
    n = num_samples(x)
    limit = n if max_batch_size is None else min(max_batch_size, n)
    if start > limit:
        raise ValueError(
            f"find_batch_size: start={start} is larger than the {limit} samples it can use "
            f"({n} samples{'' if max_batch_size is None else f', max_batch_size={max_batch_size}'}). Pass a "
            "smaller start.")

    prepare_for_training(model, x, y, "find_batch_size")
    snapshot = TrainingSnapshot(model)
    take = lambda a, size: None if a is None else map_structure(lambda t: t[:size], a)  # noqa: E731
    peaks: Dict[int, int] = {}

    def trial(size: int) -> bool:
        bx, by, bw = take(x, size), take(y, size), take(sample_weight, size)
        run_step = lambda: model.train_on_batch(bx, by, sample_weight=bw)  # noqa: E731
        out_of_memory = False
        try:
            if cuda:
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
                for _ in range(steps):
                    run_step()
                peaks[size] = torch.cuda.max_memory_allocated(device)  # host sync: once per trial
            else:
                peaks[size] = _estimate_cpu_peak(model, run_step, steps)
        except RuntimeError as error:  # torch.cuda.OutOfMemoryError is a RuntimeError
            if not _is_out_of_memory(error):
                snapshot.restore()
                raise
            out_of_memory = True
        except BaseException:
            snapshot.restore()
            raise
        if out_of_memory:
            # The error's traceback held the step's tensors; it is gone now. Free them and the
            # gradients before restoring (which allocates the optimizer's state again).
            for p in model.parameters():
                p.grad = None
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
        snapshot.restore()
        if out_of_memory:
            return False
        return memory_budget is None or peaks[size] <= memory_budget

    good, bad = 0, None
    size = start
    while True:
        if not trial(size):
            bad = size
            break
        good = size
        if size >= limit:
            break
        size = min(size * 2, limit)
    while bad is not None and bad - good > max(1, int(good * _PRECISION)):
        middle = (good + bad) // 2
        if trial(middle):
            good = middle
        else:
            bad = middle
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    if good == 0:
        budget = "" if memory_budget is None else f" within memory_budget={memory_budget} bytes"
        used = f" (estimated peak {peaks[start]} bytes)" if start in peaks else ""
        raise RuntimeError(
            f"find_batch_size: even batch_size={start} does not train{budget}{used}. Pass a smaller start, a larger "
            "memory_budget, or make the model smaller (or use mixed precision).")
    result = max(1, math.floor(margin * good))
    if verbose:
        why = ("all the samples fit in one batch" if bad is None and good == limit and max_batch_size is None
               else "max_batch_size reached" if bad is None
               else f"{bad} did not fit{'' if memory_budget is None else f' in memory_budget={memory_budget}'}")
        print(f"find_batch_size: batch size {good} trains ({why}, peak {_readable(peaks.get(good, 0))}); "
              f"using {result} (margin {margin}). The learning rate was not scaled: with a different batch size, "
              "consider find_learning_rate, or the linear scaling rule (rate x new/old batch size).")
    return result
