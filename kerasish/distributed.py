"""Data-parallel training across processes: the same `fit` under `torchrun`.

Launch any kerasish script with PyTorch's launcher and nothing in it changes::

    torchrun --nproc_per_node=2 train.py                      # one machine, 2 processes
    torchrun --nnodes=2 --node_rank=0 --master_addr=10.0.0.1 --master_port=29500 \\
             --nproc_per_node=8 train.py                       # the same on each of 2 machines

`compile` sees the `RANK`/`WORLD_SIZE`/`LOCAL_RANK` variables torchrun sets, initialises the
process group (NCCL for CUDA tensors, gloo for CPU tensors) unless the script already did,
and places each process on `cuda:LOCAL_RANK` (or the CPU). `fit` then:

- runs the forward of the training step through `DistributedDataParallel`, so gradients are
  averaged across processes (the module itself is never replaced: the DDP wrapper lives for
  one `fit` call, inside the trainer);
- gives each process its shard of every epoch's shuffled order. `batch_size` is the batch of
  ONE process, as in PyTorch; the global batch is `batch_size * world_size()`. Global batch
  `i` holds the same samples as batch `i` of a one-process run with the global batch size
  and the same permutation (the permutation is drawn on rank 0 and broadcast), so the
  losses match. When the sample count is not a multiple of the process count, the order is
  padded with its first samples (as `DistributedSampler` does), so up to `world_size() - 1`
  samples are seen twice per epoch;
- reduces the epoch logs across processes (sums of weighted totals and of weights, not means
  of means), so every process sees the same numbers and callbacks such as EarlyStopping
  decide identically; a stop requested on any process stops all of them.

`evaluate` and `predict` split the data into contiguous shards, reduce (evaluate) or gather
(predict) the results, and return on every process what one process would return.

Supported: array/tensor data and map-style `Dataset`s are sharded; a `DataLoader`, a
generator or an `IterableDataset` is used as given on each process (shard it yourself, e.g.
with `DistributedSampler`). Metrics: every `Mean`-based metric (loss, accuracies, mae, mse,
rmse, callables) is reduced exactly; metrics kept in `add_variable` state (precision, recall,
auc, f1_score, IoU ...) have their variables summed (aggregation 'sum') or averaged ('mean')
across processes before `result()`. Batch-level logs (what a
progress bar shows mid-epoch) are the local process's running values.

Nothing here runs at import: the process group is created on first use.
"""

from __future__ import annotations

import atexit
import datetime
import math
import os
from typing import Any, Dict, List, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from torch import nn

_STRATEGIES = ("auto", "ddp", "none")
_strategy = "auto"
_announced = False


# --------------------------------------------------------------------- process group
def set_strategy(strategy: str) -> None:
    """Chooses how kerasish uses several processes.

    Args:
        strategy: `'auto'`: data-parallel (DDP) when launched by torchrun or when the script
            initialised `torch.distributed` itself; `'ddp'`: the same, but raise if there is
            neither a torchrun environment nor a process group; `'none'`: every process trains
            on its own (for example a hyper-parameter sweep launched with torchrun).
            Defaults to `'auto'` when never called.

    Raises:
        ValueError: for an unknown strategy (the valid names are listed).
    """
    global _strategy
    if strategy not in _STRATEGIES:
        raise ValueError(f"Unknown distribution strategy {strategy!r}. Expected one of {list(_STRATEGIES)}.")
    _strategy = strategy


def strategy() -> str:
    """The current strategy: 'auto', 'ddp' or 'none'."""
    return _strategy


def launched_by_torchrun() -> bool:
    """Whether this process has the environment torchrun gives it (RANK, WORLD_SIZE, LOCAL_RANK)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def is_distributed() -> bool:
    """Whether kerasish is training data-parallel right now: a process group of 2 or more."""
    return (_strategy != "none" and dist.is_available() and dist.is_initialized()
            and dist.get_world_size() > 1)


def world_size() -> int:
    """The number of processes training together (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def local_rank() -> int:
    """This process's rank on its machine (torchrun's LOCAL_RANK; 0 when not set)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    """True on rank 0 (and when not distributed): the process that writes files and prints."""
    return rank() == 0


def barrier() -> None:
    """Waits until every process reaches this point (does nothing when not distributed)."""
    if is_distributed():
        dist.barrier()


def _backend() -> str:
    if torch.cuda.is_available() and dist.is_nccl_available():
        # One group, two transports: CUDA tensors go through NCCL, CPU tensors through gloo.
        return "cpu:gloo,cuda:nccl"
    return "gloo"


def setup(device: Union[str, torch.device, None] = None) -> Union[str, torch.device, None]:
    """Joins the process group (when launched by torchrun) and picks this process's device.

    Called by `compile`. Under torchrun it initialises `torch.distributed` from the
    environment unless the script already did, and maps an unindexed CUDA device
    (`None` on a CUDA machine, or `'cuda'`) to `cuda:LOCAL_RANK`. Otherwise it returns
    `device` unchanged.

    Args:
        device: the `device` the user passed to `compile`. Defaults to `None`.

    Returns:
        The device to use (`device` itself when there is nothing to change).

    Raises:
        ValueError: with strategy 'ddp' when there is neither a torchrun environment nor
            an initialised process group.
    """
    if _strategy == "none":
        return device
    if not (dist.is_available() and dist.is_initialized()):
        if not launched_by_torchrun():
            if _strategy == "ddp":
                raise ValueError(
                    "kerasish.distributed strategy 'ddp' needs several processes, but this one was not launched by "
                    "torchrun (RANK/WORLD_SIZE/LOCAL_RANK are unset) and torch.distributed is not initialised. "
                    "Launch with `torchrun --nproc_per_node=N script.py`, call "
                    "torch.distributed.init_process_group(...) first, or use set_strategy('auto').")
            return device
        if int(os.environ["WORLD_SIZE"]) < 2 and _strategy == "auto" and not torch.cuda.is_available():
            return device  # a one-process torchrun on the CPU: nothing to coordinate
        dist.init_process_group(backend=_backend())
        # The group kerasish opened, kerasish closes: a gloo group left open at interpreter
        # exit can abort a process ("terminate called without an active exception").
        atexit.register(_destroy_process_group)
    from kerasish import config

    try:
        chosen = config.default_device() if device is None else torch.device(device)
    except (RuntimeError, TypeError):
        return device  # compile reports the bad device with its own message
    if chosen.type == "cuda" and chosen.index is None and torch.cuda.is_available():
        chosen = torch.device("cuda", local_rank())
        torch.cuda.set_device(chosen)
        return chosen
    return device


def announce_global_batch(batch_size: int, verbose: int) -> None:
    """Prints, once per process lifetime and on rank 0 only, the per-process and global batch."""
    global _announced
    if _announced or not verbose or not is_distributed():
        return
    _announced = True
    if is_main_process():
        w = world_size()
        print(f"Data-parallel training on {w} processes ({dist.get_backend()}): batch_size={batch_size} per "
              f"process, global batch {batch_size * w}.", flush=True)


# --------------------------------------------------------------------- DDP
class _Forward(nn.Module):
    """What DDP wraps: the model's forward, or its pre-activation forward for fused losses."""

    def __init__(self, model: nn.Module, logits: Any) -> None:
        super().__init__()
        self.model = model
        self.logits = logits

    def forward(self, *args: Any) -> Any:
        if isinstance(self.logits, tuple):  # a multi-output model: these outputs as logits
            return self.model.forward_logits(*args, logits_outputs=self.logits)
        if self.logits:
            return self.model.forward_logits(*args)
        return self.model(*args)


def wrap(model: nn.Module, logits: Any = False) -> nn.Module:
    """Returns a `DistributedDataParallel` module whose forward runs `model` (or its logits).

    The model is not modified and not replaced: its parameters are shared with the
    wrapper. Wrapping broadcasts rank 0's parameters and buffers, so every process
    starts from the same weights. Use `unwrap` to get the model back.

    Args:
        model: the kerasish Model (already built and on its device).
        logits: call `model.forward_logits` instead of `model`; a tuple of output indices for a
            multi-output model (those outputs as logits). Defaults to `False`.
    """
    from torch.nn.parallel import DistributedDataParallel

    device = next(model.parameters()).device
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(_Forward(model, logits), device_ids=device_ids)


def unwrap(module: nn.Module) -> nn.Module:
    """The model inside a module made by `wrap` (or any DDP module); other modules as given."""
    if isinstance(module, nn.parallel.DistributedDataParallel):
        module = module.module
    if isinstance(module, _Forward):
        module = module.model
    return module


# --------------------------------------------------------------------- reductions
def _mean_trackers(trackers: Sequence[Any]) -> List[Any]:
    return [t for t in trackers if isinstance(getattr(t, "total", None), torch.Tensor)
            and isinstance(getattr(t, "count", None), torch.Tensor)]


def reduced_results(trackers: Sequence[Any]) -> List[torch.Tensor]:
    """Every tracker's `result()` over all processes' data (a collective: call it on every rank).

    `Mean`-based trackers: their `(total, count)` pairs are summed across processes in ONE
    all_reduce, and `result()` is computed from the sums, so the value is the sample-weighted
    mean over all data (not a mean of per-process means). Metrics kept in `add_variable` state
    have those variables combined by their `aggregation` first. Others report the local value.
    The trackers' own state is left as it was.
    """
    means = _mean_trackers(trackers)
    reduced = {}
    if means and is_distributed():
        device = means[0].total.device
        packed = torch.stack([torch.stack([t.total.to(torch.float64), t.count.to(torch.float64)])
                              for t in means]).to(device)
        dist.all_reduce(packed)
        reduced = {id(t): packed[i] for i, t in enumerate(means)}
    out = []
    for t in trackers:
        pair = reduced.get(id(t))
        if pair is None:
            out.append(_reduced_variable_result(t) if is_distributed() else t.result())
            continue
        saved = (t.total, t.count)
        t.total, t.count = pair[0].to(saved[0].dtype), pair[1].to(saved[1].dtype)
        try:
            out.append(t.result())
        finally:
            t.total, t.count = saved
    return out


def _reduced_variable_result(metric: Any) -> torch.Tensor:
    """`result()` of a metric kept in `add_variable` state, its variables combined across processes by their
    `aggregation` ('sum': summed, 'mean': averaged; others stay local), then restored."""
    variables = [v for v in getattr(metric, "variables", []) if getattr(v, "aggregation", None) in ("sum", "mean")]
    if not variables:
        return metric.result()
    saved = [v.detach().clone() for v in variables]
    try:
        with torch.no_grad():
            for v in variables:  # one small collective per variable, once per epoch
                dist.all_reduce(v.data)
                if v.aggregation == "mean":
                    v.data /= dist.get_world_size()
        return metric.result().clone()
    finally:
        with torch.no_grad():
            for v, old in zip(variables, saved):
                v.data.copy_(old)


def local_results(trackers: Sequence[Any]) -> List[torch.Tensor]:
    """Every tracker's `result()` on this process's data only, with no collective.

    Batch-level logs use this: a progress bar on rank 0 reads them at times the other
    ranks do not, so a collective there would deadlock.
    """
    return [t.result() for t in trackers]


def _destroy_process_group() -> None:
    """At exit: every rank reaches a barrier, tears the group down, then waits (on the launcher's
    key-value store, not on gloo) until every rank has torn its group down before going on to exit.

    A rank destroying its gloo group while a peer's connections are still live made that peer's
    gloo thread abort the process ('terminate called without an active exception', exit code -6)
    in about 1 run of 4 under load; the barrier made it rare but a rank could still exit (closing
    its sockets) while a slower peer was inside its own teardown (seen once in CI, 1 launch of 4
    on a loaded machine). No rank now leaves before all have finished tearing down."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    store, world = _exit_store(), dist.get_world_size()
    wait = True
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
        else:
            dist.barrier()
    except Exception:  # noqa: BLE001 - a peer already gone: tear down anyway, wait for no one
        wait = False
    dist.destroy_process_group()
    if store is not None:
        _wait_for_all(store, world, timeout_s=30.0, wait=wait)


def _exit_store() -> Any:
    """The default group's key-value store (torchrun's agent store), or None if torch hides it."""
    try:
        from torch.distributed.distributed_c10d import _get_default_store  # private: guarded

        return _get_default_store()
    except Exception:  # noqa: BLE001 - an older/newer torch without it: skip the final wait
        return None


def _wait_for_all(store: Any, world: int, timeout_s: float, wait: bool = True) -> None:
    """Counts this rank in on `store` and, if `wait`, waits at most `timeout_s` until `world` ranks have
    (a rank that will not wait still counts itself, so its peers need not wait for it)."""
    import time
    import warnings

    key = f"kerasish/exit/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
    try:
        count = store.add(key, 1)
        deadline = time.monotonic() + timeout_s
        while wait and count < world and time.monotonic() < deadline:
            time.sleep(0.01)
            count = store.add(key, 0)
    except Exception:  # noqa: BLE001 - the store is gone (the launcher is exiting): nothing to wait for
        return
    if wait and count < world:
        warnings.warn(f"kerasish.distributed: at exit, {world - count} of {world} processes had not finished "
                      f"tearing down the process group after {timeout_s:.0f} s; exiting without them.",
                      RuntimeWarning, stacklevel=2)


def any_rank(flag: bool) -> bool:
    """True on every process when `flag` is True on at least one (a collective when distributed)."""
    if not is_distributed():
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())  # host sync: once per epoch


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_from_main(t: torch.Tensor) -> torch.Tensor:
    """Rank 0's copy of `t` on every process (`t` returned as is when not distributed)."""
    if not is_distributed():
        return t
    out = t.to(_collective_device()).contiguous()
    dist.broadcast(out, src=0)
    return out.to(t.device)


def broadcast_into_from_main(tensors: Sequence[torch.Tensor]) -> None:
    """Rank 0's values copied into `tensors` on every other process, in place: one collective per dtype,
    through the collective's device (a CPU tensor under NCCL too). A collective: every rank calls it."""
    groups: Dict[torch.dtype, List[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    main = dist.get_rank() == 0
    device = _collective_device()
    with torch.no_grad():
        for group in groups.values():
            flat = torch.cat([t.detach().reshape(-1).to(device) for t in group])
            dist.broadcast(flat, src=0)
            if main:
                continue  # the source: nothing to copy back
            offset = 0
            for t in group:
                n = t.numel()
                t.copy_(flat[offset:offset + n].view_as(t))
                offset += n


def shared_seed() -> int:
    """A random seed drawn from rank 0's torch generator, the same on every process."""
    seed = torch.randint(0, 2 ** 31 - 1, (1,), dtype=torch.int64)
    return int(broadcast_from_main(seed).item())


# --------------------------------------------------------------------- sharding
def train_steps(n: int, batch_size: int) -> int:
    """Batches per epoch on each process for `n` training samples."""
    return math.ceil(math.ceil(n / world_size()) / batch_size)


def train_batches(order: torch.Tensor, batch_size: int) -> List[torch.Tensor]:
    """This process's batches (index tensors) from an epoch's order of all samples.

    The order is padded with its first samples to a multiple of the process count, then
    cut into global batches of `batch_size * world_size()`; process r takes the r-th
    equal part of each. Global batch i is thus batch i of a one-process run over the same
    order with the global batch size.
    """
    w, r, n = world_size(), rank(), order.shape[0]
    padded = math.ceil(n / w) * w
    if padded > n:
        order = torch.cat([order, order[: padded - n]])
    out = []
    for start in range(0, padded, batch_size * w):
        part = min(batch_size * w, padded - start) // w
        out.append(order[start + r * part: start + (r + 1) * part])
    return out


def shard_sizes(n: int) -> List[int]:
    """How many of `n` samples each process evaluates/predicts (contiguous, balanced)."""
    w = world_size()
    return [n // w + (1 if r < n % w else 0) for r in range(w)]


def shard_range(n: int) -> Tuple[int, int]:
    """This process's contiguous slice `[start, stop)` of `n` samples for evaluate/predict.

    Raises:
        ValueError: when there are fewer samples than processes.
    """
    w = world_size()
    if n < w:
        raise ValueError(
            f"evaluate/predict received {n} samples for {w} processes; every process needs at least one. "
            "Pass at least as many samples as processes.")
    sizes = shard_sizes(n)
    start = sum(sizes[: rank()])
    return start, start + sizes[rank()]


def gather_predictions(outputs: List[Any], n: int) -> Any:
    """`gather_shards` of this process's per-batch predictions (concatenated first)."""
    first = outputs[0]
    if isinstance(first, (list, tuple)):
        return type(first)(gather_predictions([o[i] for o in outputs], n) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: gather_predictions([o[k] for o in outputs], n) for k in first}
    return gather_shards(torch.cat(outputs), n)


def gather_shards(local: Any, n: int) -> Any:
    """Concatenates every process's contiguous shard of predictions, in the original order.

    Args:
        local: this process's predictions (a tensor, or a list/tuple/dict of tensors), with
            the samples on the first axis, in shard order.
        n: the total number of samples (the shard sizes follow from it).

    Returns:
        The same structure holding all `n` samples, on every process.
    """
    if isinstance(local, (list, tuple)):
        return type(local)(gather_shards(v, n) for v in local)
    if isinstance(local, dict):
        return {k: gather_shards(v, n) for k, v in local.items()}
    sizes = shard_sizes(n)
    biggest = max(sizes)
    padded = local.new_zeros((biggest,) + tuple(local.shape[1:]))
    padded[: local.shape[0]] = local
    device = _collective_device() if local.device.type != "cuda" else local.device
    padded = padded.to(device)
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)]).to(local.device)
