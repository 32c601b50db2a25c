"""Data adapters: turn whatever fit/evaluate/predict received into device batches.

- `ArrayAdapter`: NumPy arrays / torch tensors (and lists or dicts of them), moved to the device
  once; each epoch draws one random permutation and gathers batches by index (no DataLoader).
- `IterableAdapter`: a `torch.utils.data.Dataset` (wrapped in a DataLoader), a `DataLoader`, or any
  iterable/generator of `(x, y)` / `(x, y, sample_weight)`, copied non-blocking (pinned on CUDA).

How many batches each epoch draws follows Keras (kerasish/training/epoch_data.py). Both
adapters have `state_dict()` / `load_state_dict()`: where the next epoch starts (the array
order and cursor, the iterable's carry-over and its sampler's generators), which
BackupAndRestore saves so that a resumed fit draws the batches the uninterrupted one would.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from kerasish import config, distributed
from kerasish.utils.py_dataset import PyDataset, ShuffledPasses
from kerasish.utils.tree import first_leaf, map_structure, move
from kerasish.data.rng_state import bad_state as _bad_state
from kerasish.data.rng_state import check_generator_states as _check_generator_states
from kerasish.data.rng_state import generator_states as _generator_states
from kerasish.data.rng_state import host_rng_state, set_host_rng_state
from kerasish.data.rng_state import set_generator_states as _set_generator_states

Batch = Tuple[Any, Any, Optional[torch.Tensor]]


def shape_matches(got: Sequence[Optional[int]], expected: Sequence[Optional[int]]) -> bool:
    """Per-sample shapes agree: same rank, and every known expected size equal."""
    return len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected, got))


def is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, torch.Tensor))


def is_array_structure(x: Any) -> bool:
    """An array, or a list/tuple/dict whose leaves are arrays."""
    if is_array(x):
        return True
    if isinstance(x, (list, tuple)) and x and all(is_array(v) for v in x):
        return True
    if isinstance(x, dict) and x and all(is_array(v) for v in x.values()):
        return True
    return False


def num_samples(x: Any) -> int:
    return int(first_leaf(x).shape[0])


def to_tensor(a: Any, *, cast_ints_to_float: bool = False, what: str = "x") -> torch.Tensor:
    """A host tensor with kerasish's dtype rules: float64 -> floatx; ints stay ints (or float)."""
    if isinstance(a, np.ndarray):
        if a.dtype == object or a.dtype.kind in ("U", "S", "O"):
            raise TypeError(
                f"{what} has dtype {a.dtype}, which cannot be turned into a tensor. Expected numbers "
                "(float or int). Convert strings to numbers first (e.g. with TextVectorization)."
            )
        if a.dtype.kind == "c":
            raise TypeError(f"{what} has complex dtype {a.dtype}; kerasish trains on real numbers only.")
        # A read-only array (pandas' `.values` under copy-on-write) is copied: torch.from_numpy would
        # share it and warn that writes through the tensor are undefined.
        t = torch.from_numpy(np.ascontiguousarray(a) if a.flags.writeable else np.array(a, order="C"))
    elif isinstance(a, torch.Tensor):
        t = a.detach()
        if t.is_meta:
            raise TypeError(f"{what} is a tensor on the 'meta' device: it has a shape but no values to train on. "
                            "Create it on 'cpu' or 'cuda' (or load its data) first.")
        if t.is_complex():
            raise TypeError(f"{what} has complex dtype {t.dtype}; kerasish trains on real numbers only.")
    else:
        t = torch.as_tensor(np.asarray(a))
    if t.dtype == torch.bool:
        t = t.to(config.floatx_dtype())
    elif t.is_floating_point():
        if t.dtype != config.floatx_dtype():
            t = t.to(config.floatx_dtype())
    elif cast_ints_to_float:
        t = t.to(config.floatx_dtype())
    return t


def check_sample_weight(w: Any, what: str = "sample_weight") -> None:
    """Sample weights must be finite and >= 0 (a negative weight makes the optimizer maximise that
    sample's loss, a NaN one turns every weight NaN). One reduction, once per call."""
    if not isinstance(w, torch.Tensor) or w.numel() == 0 or not (w.is_floating_point() or w.is_signed()):
        return
    lo, hi = torch.aminmax(w.detach().float())
    lo_v, hi_v = float(lo), float(hi)  # host sync: once per call
    if math.isfinite(lo_v) and math.isfinite(hi_v) and lo_v >= 0:
        return
    flat = w.detach().reshape(-1).float()
    bad = ~torch.isfinite(flat) | (flat < 0)
    index = int(bad.nonzero()[0, 0])
    value = float(flat[index])
    kind = "negative" if value < 0 else "non-finite"
    raise ValueError(
        f"{what} holds {int(bad.sum())} invalid weight(s) out of {flat.numel()}; the first, at index {index}, is "
        f"{kind} ({value}). Weights must be finite and >= 0: a negative weight makes the optimizer maximise that "
        f"sample's loss, NaN/inf turns every model weight NaN. Clip or drop those samples, e.g. "
        f"np.clip(np.nan_to_num({what}), 0, None)."
    )


def _shares_memory(given: Any, placed: Any) -> bool:
    """Whether `move` left some array or tensor of `given` in its memory (a view) rather than copying it."""
    seen: set = set()
    map_structure(lambda t: seen.add(t.data_ptr() if isinstance(t, torch.Tensor) else t.ctypes.data)
                  if isinstance(t, (torch.Tensor, np.ndarray)) else None, given)
    found: List[bool] = []
    map_structure(lambda t: found.append(isinstance(t, torch.Tensor) and t.data_ptr() in seen), placed)
    return any(found)


class ArrayAdapter:
    """In-memory arrays on the device, batched by shuffled index.

    Args:
        x, y, sample_weight: host tensors (already converted), structures allowed for x.
        batch_size: samples per batch.
        shuffle: reshuffle every epoch. Defaults to `False`.
        device: where the arrays live.
        steps: cap on batches per epoch (steps_per_epoch). Defaults to `None`.
        shard: in a data-parallel run, 'train' (this process's part of every global batch,
            same number of batches on every process) or 'eval' (a contiguous slice, for
            evaluate/predict); ignored in a single process. Defaults to `None` (all data).
    """

    def __init__(self, x, y, sample_weight, batch_size: int, shuffle: bool, device: torch.device,
                 steps: Optional[int] = None, *, shard: Optional[str] = None) -> None:
        self.n = self.total = num_samples(x)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.device = device
        # Data-parallel runs (kerasish.distributed): 'train' gives this process its part of
        # each global batch; 'eval' keeps only its contiguous slice (gathered back by predict).
        self.shard = shard if shard and distributed.is_distributed() else None
        self.sharded = self.shard is not None
        if self.shard == "eval":
            start, stop = distributed.shard_range(self.n)
            x = map_structure(lambda t: t[start:stop], x)
            y = None if y is None else map_structure(lambda t: t[start:stop], y)
            sample_weight = None if sample_weight is None else sample_weight[start:stop]
            self.n = stop - start
        # One copy to the device for the whole fit (pinned + async on CUDA).
        self.x = move(x, device)
        self.y = move(y, device) if y is not None else None
        self.w = move(sample_weight, device) if sample_weight is not None else None
        # Data already on the device (the CPU, or tensors given on the GPU) is the caller's memory: in-order
        # batches are then copied, as Keras's are, so that an in-place op in a layer (`inputs -= mean`)
        # never changes the caller's arrays. Shuffled batches are gathered copies already.
        self._copy_slices = _shares_memory(x, self.x)
        full = (self.n + batch_size - 1) // batch_size
        if self.shard == "train":
            full = distributed.train_steps(self.n, batch_size)
        self.steps = min(full, steps) if steps else full
        self.full = full
        self.requested, self.ran_out = steps, False  # steps_per_epoch as given; the last epoch ran out
        self._order: Any = None  # the current pass's order as `_placed` gives it (None: no pass under way)
        self._order_rng: Optional[torch.Tensor] = None  # torch's CPU state the order was drawn from
        self._cursor = 0

    def state_dict(self) -> Dict[str, Any]:
        """Where the next epoch starts: empty unless `steps_per_epoch` cut a pass short.

        Then it holds the next batch's index in the current pass (`cursor`) and the torch
        CPU random state that pass's order was drawn from (`order_rng`, None when not
        shuffled), about 5 KB whatever the data size.
        """
        if self._order is None:
            return {}
        return {"cursor": self._cursor, "order_rng": self._order_rng}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Puts the adapter where `state_dict` was taken; the global random state is left as it was.

        Raises:
            ValueError: for a state of another shape of data.
        """
        if not state:
            self._order, self._order_rng, self._cursor = None, None, 0
            return
        cursor, order_rng = state.get("cursor"), state.get("order_rng")
        if isinstance(cursor, bool) or not isinstance(cursor, int) or not 0 <= cursor <= self.full:
            raise _bad_state("array data", "cursor", cursor, f"an int from 0 to {self.full} (batches per pass)")
        if order_rng is None:
            if self.shuffle:
                raise _bad_state("array data", "order_rng", order_rng, "torch's random state (fit uses shuffle=True)")
            order = torch.arange(self.n)
        else:
            if not isinstance(order_rng, torch.Tensor) or order_rng.dtype != torch.uint8 or order_rng.dim() != 1:
                raise _bad_state("array data", "order_rng", order_rng, "a 1-D uint8 tensor (torch.get_rng_state())")
            with torch.random.fork_rng(devices=[]):
                try:
                    torch.set_rng_state(order_rng)
                except RuntimeError:
                    raise _bad_state("array data", "order_rng", order_rng,
                                     "torch.get_rng_state()'s 5056 bytes") from None
                order = torch.randperm(self.n)
        self._order, self._order_rng, self._cursor = self._placed(order), order_rng, cursor

    def _take_targets(self, idx: torch.Tensor) -> Tuple[Any, Optional[torch.Tensor]]:
        """y and sample_weight of the samples at `idx` (a gather on the device)."""
        return (None if self.y is None else map_structure(lambda t: t.index_select(0, idx), self.y),
                None if self.w is None else self.w.index_select(0, idx))

    def _take(self, idx: torch.Tensor) -> Batch:
        """The batch of the samples at `idx`."""
        return (map_structure(lambda t: t.index_select(0, idx), self.x),) + self._take_targets(idx)

    def _placed(self, order: torch.Tensor) -> Any:
        """A pass's order (a host permutation of the samples) as `_batch_at` reads it: on the device."""
        return order.to(self.device, non_blocking=True)

    def _batch_at(self, order: Any, step: int) -> Batch:
        """The batch at position `step` of a pass in `order` (from `_placed`)."""
        bs = self.batch_size
        return self._take(order[step * bs:(step + 1) * bs])

    def restart(self) -> None:
        """The next iteration starts a new pass from the beginning, as Keras resets its evaluation
        iterator before every evaluation (fit's validation with `validation_steps`)."""
        self._order, self._cursor = None, 0

    def _carried_over(self) -> Iterator[Batch]:
        # steps_per_epoch given: Keras's rules (kerasish/training/epoch_data.py).
        self.ran_out = False
        for step in range(self.requested):
            if self._order is None or self._cursor >= self.full:
                if step:
                    self.ran_out = True
                    return
                self._order_rng = torch.get_rng_state() if self.shuffle else None
                order = torch.randperm(self.n) if self.shuffle else torch.arange(self.n)
                self._order, self._cursor = self._placed(order), 0
            batch = self._batch_at(self._order, self._cursor)
            self._cursor += 1
            yield batch

    def __iter__(self) -> Iterator[Batch]:
        n, bs = self.n, self.batch_size
        if self.requested and self.shard is None:
            yield from self._carried_over()
            return
        if self.shuffle or self.shard == "train":
            # torch's global CPU generator, so set_random_seed fixes the order on every device.
            order = torch.randperm(n) if self.shuffle else torch.arange(n)
            if self.shard == "train":
                # Rank 0's order on every process (one broadcast per epoch), cut into this
                # process's part of each global batch.
                perm = distributed.broadcast_from_main(order).to(self.device, non_blocking=True)
                batches = distributed.train_batches(perm, bs)
            else:
                perm = order.to(self.device, non_blocking=True)
                batches = [perm[i * bs:(i + 1) * bs] for i in range(self.steps)]
            for i in range(self.steps):
                yield self._take(batches[i])
        else:
            copy = self._copy_slices
            for i in range(self.steps):
                s = slice(i * bs, (i + 1) * bs)
                take = (lambda t, s=s: t[s].clone()) if copy else (lambda t, s=s: t[s])
                yield (
                    map_structure(take, self.x),
                    None if self.y is None else map_structure(take, self.y),
                    None if self.w is None else take(self.w),
                )


def is_text(x: Any) -> bool:
    """A 1-D array or list of Python strings (for models that start with TextVectorization)."""
    if isinstance(x, np.ndarray):
        return x.dtype.kind in ("U", "S") or (x.dtype == object and x.size > 0 and isinstance(x.flat[0], (str, bytes)))
    return isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], (str, bytes))


def unpack(element: Any, *, with_targets: bool = True) -> Batch:
    """Splits a batch from a loader into (x, y, sample_weight), Keras's convention."""
    if isinstance(element, (list, tuple)):
        if len(element) == 1:
            return element[0], None, None
        if len(element) == 2:
            return element[0], element[1], None
        if len(element) == 3:
            return element[0], element[1], element[2]
        raise ValueError(
            f"Each batch must be x, (x, y) or (x, y, sample_weight); received a {type(element).__name__} "
            f"of {len(element)} elements. Return a tuple of 1 to 3 items from your Dataset/generator."
        )
    return element, None, None


class IterableAdapter:
    """Batches from a DataLoader, a Dataset or any iterable.

    Args:
        data: the Dataset, DataLoader, list or generator.
        batch_size: used only to wrap a Dataset in a DataLoader.
        shuffle: used only for a Dataset (DataLoader's shuffle). Defaults to `False`.
        device: target device.
        steps: batches per epoch (Keras's steps_per_epoch); see kerasish/training/epoch_data.py
            for what happens across epochs and when the data runs out. Defaults to `None` (a pass).
        cast_ints_to_float: cast integer x to float (models whose first layer is not an embedding).
        expected_shape: the model's input shape `(None, ...)` (None: unknown, then only x's rank
            is compared with the first batch's). Defaults to `None`.
        check_labels: called with each batch's y while it is still on the host (a label
            range check, so a bad label mid-epoch is named rather than failing inside the
            loss); skipped for y already on an accelerator. Defaults to `None`.
        shard: in a data-parallel run, 'train' (a `DistributedSampler`, reshuffled each epoch)
            or 'eval' (a contiguous slice) for a map-style Dataset; DataLoaders, generators and
            IterableDatasets are used as given. Defaults to `None` (all data).
    """

    def __init__(self, data: Any, batch_size: int, shuffle: bool, device: torch.device,
                 steps: Optional[int] = None, cast_ints_to_float: bool = False,
                 expected_shape: Optional[Tuple[Optional[int], ...]] = None,
                 check_labels: Optional[Callable[[torch.Tensor], None]] = None, *,
                 shard: Optional[str] = None) -> None:
        self.device = device
        self.cast = cast_ints_to_float
        self.expected_shape = expected_shape
        self.check_labels = check_labels
        self._first_ndim: Optional[int] = None
        self._sampler: Any = None
        self._epoch = 0
        self._peeked: Any = None
        self._live: Optional[Iterator[Any]] = None
        self._drawn = 0  # elements drawn from the current pass (a one-shot iterator: since the start)
        self._pass_rng: Optional[Dict[str, Any]] = None  # the random states the current pass started from
        map_style = isinstance(data, Dataset) and not isinstance(data, IterableDataset)
        # Data-parallel runs shard map-style Datasets only (see ArrayAdapter's `shard`).
        self.sharded = bool(shard) and map_style and distributed.is_distributed()
        self.total = len(data) if map_style else None
        if self.sharded and shard == "train":
            from torch.utils.data.distributed import DistributedSampler

            self._sampler = DistributedSampler(data, num_replicas=distributed.world_size(), rank=distributed.rank(),
                                               shuffle=shuffle, seed=distributed.shared_seed())
            data = DataLoader(data, batch_size=batch_size, sampler=self._sampler, pin_memory=device.type == "cuda")
        elif self.sharded:
            start, stop = distributed.shard_range(len(data))
            data = DataLoader(torch.utils.data.Subset(data, range(start, stop)), batch_size=batch_size,
                              pin_memory=device.type == "cuda")
        elif map_style:
            data = DataLoader(data, batch_size=batch_size, shuffle=shuffle, pin_memory=device.type == "cuda")
        elif isinstance(data, IterableDataset):
            data = DataLoader(data, batch_size=batch_size, pin_memory=device.type == "cuda")
        elif isinstance(data, PyDataset) and shuffle:
            data = ShuffledPasses(data)  # Keras visits a PyDataset's batches in a new order each epoch
        self.data = data
        try:
            self._length = length = len(data)  # type: ignore[arg-type]
        except TypeError:
            self._length = length = None
        self._cut = steps  # steps_per_epoch given: an epoch may end mid-pass (and may outrun the data)
        self.ran_out = self._spent = False  # the last epoch ran out of data; the generator is used up
        self._head: List[Any] = []  # a generator's first two elements: Keras restarts a spent one from them
        self.steps = min(length, steps) if (steps and length) else (steps or length)

    def _convert(self, element: Any) -> Batch:
        x, y, w = unpack(element)
        text = is_text(x)  # a batch of strings (text_dataset_from_directory) stays on the host
        x = np.asarray(x, dtype=object) if text else map_structure(lambda a: to_tensor(a, cast_ints_to_float=self.cast), x)
        y = None if y is None else map_structure(lambda a: to_tensor(a, what="y"), y)
        w = None if w is None else to_tensor(w, what="sample_weight")
        self._check_shapes(x, y, w)
        if isinstance(w, torch.Tensor) and w.device.type == "cpu":
            check_sample_weight(w)  # a reduction over the host batch, not a device sync
        if self.check_labels is not None and isinstance(y, torch.Tensor) and y.device.type == "cpu":
            self.check_labels(y)  # a reduction over the host batch, not a device sync
        return x if text else move(x, self.device), move(y, self.device), move(w, self.device)

    def _check_shapes(self, x: Any, y: Any, w: Any) -> None:
        """Shape checks per batch (metadata only, no host sync), so that a generator changing
        shapes mid-epoch gets a message naming the batch instead of an error from inside torch."""
        sizes = []
        for name, part in (("x", x), ("y", y), ("sample_weight", w)):
            if part is not None:
                leaf = first_leaf(part)
                if leaf.ndim == 0:
                    raise ValueError(
                        f"{name} is a scalar; expected a batch with the samples on the first axis. "
                        "Yield arrays of shape (batch_size, ...) (use a DataLoader to batch single samples)."
                    )
                sizes.append((name, int(leaf.shape[0])))
        if len({n for _, n in sizes}) > 1:
            detail = ", ".join(f"{name} has {n} samples" for name, n in sizes)
            raise ValueError(
                f"{detail}; expected the same number in each. Yield x, y (and sample_weight) with the same "
                "first dimension."
            )
        if not isinstance(x, torch.Tensor):
            return
        got = tuple(x.shape[1:])
        exp = None if self.expected_shape is None else tuple(self.expected_shape[1:])
        if exp is not None and not shape_matches(got, exp):
            raise ValueError(
                f"x has samples of shape {got} (x.shape={tuple(x.shape)}), but the model expects samples of "
                f"shape {exp} (the input_shape of its first layer). Make the generator/Dataset yield samples "
                f"of shape {exp} in every batch."
            )
        if self._first_ndim is None:
            self._first_ndim = x.dim()
        elif x.dim() != self._first_ndim:
            raise ValueError(
                f"x has {x.dim()} dimensions (x.shape={tuple(x.shape)}), but the first batch had "
                f"{self._first_ndim}. Make the generator/Dataset yield x with the same number of dimensions "
                "in every batch."
            )

    def peek(self) -> Batch:
        """The first batch (converted, on the device), kept to be yielded again.

        fit uses it to build lazy models and to learn label/output shapes before
        training starts. A one-shot generator loses nothing: the element is replayed.
        """
        if self._peeked is None:
            self._live = self._source()
            try:
                element = self._draw(self._live)
            except StopIteration:
                raise ValueError(
                    "The data iterable yielded no batches. Pass a non-empty Dataset/DataLoader/generator."
                ) from None
            self._peeked = element
        try:
            return self._convert(self._peeked)
        except (TypeError, ValueError) as e:
            raise type(e)(f"Batch 0 from the data iterable is invalid: {e}") from None

    def _one_shot(self) -> bool:
        return hasattr(self.data, "__next__")

    def restart(self) -> None:
        """The next iteration starts again, as Keras resets its evaluation iterator before every
        evaluation: a re-iterable starts a new pass; a generator (which cannot) gives the first
        two batches kept when it was first read, then goes on where it stands, as Keras's does."""
        if self._peeked is not None:
            return  # nothing handed out yet
        if not self._one_shot():
            self._live = None
        elif self._drawn:
            self._live, self._spent = itertools.chain(list(self._head), self.data), False

    def _draw(self, source: Iterator[Any]) -> Any:
        element = next(source)
        self._drawn += 1
        if source is self.data and len(self._head) < 2 and self._one_shot():
            self._head.append(element)
        return element

    def _source(self) -> Iterator[Any]:
        if self._one_shot():  # drawn from across epochs; `_drawn` counts from the start
            return iter(list(self._head)) if self._spent else self.data
        # What this pass's order depends on, so that a resumed fit can start it again; only a
        # pass cut by steps_per_epoch can be unfinished between epochs (~0.2 ms per pass).
        self._pass_rng = None if not self._cut else {"host": host_rng_state(),
                                                     "generators": _generator_states(self.data)}
        self._drawn = 0
        if self._sampler is not None:
            self._sampler.set_epoch(self._epoch)  # a new shuffled order each epoch, the same on every process
            self._epoch += 1
        return iter(self.data)

    def state_dict(self) -> Dict[str, Any]:
        """Where the next epoch starts in the data (see the module docstring).

        Holds the batches handed out from the current pass (`consumed`; for a generator,
        since the start), the random states that pass started from (`pass_rng`: torch's,
        NumPy's and Python's global states and those of the DataLoader's own generators;
        only while a pass shortened by `steps_per_epoch` is unfinished), the current states
        of the DataLoader's generators and the DistributedSampler's epoch.
        """
        consumed = self._drawn - (self._peeked is not None)
        state: Dict[str, Any] = {"consumed": consumed, "epoch": self._epoch,
                                 "generators": _generator_states(self.data)}
        finished = self._length is not None and consumed >= self._length
        if not self._one_shot() and self._live is not None and self._pass_rng is not None and not finished:
            state["pass_rng"] = self._pass_rng
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Moves to where `state_dict` was taken, by replaying the batches already used.

        A re-iterable (DataLoader, Dataset, PyDataset) starts its unfinished pass again from
        the saved random states and skips `consumed` batches; a generator skips what it has
        not yet yielded. The global random states are left as they were.

        Raises:
            ValueError: for a state of other data, or data that ends before the saved position.
        """
        consumed, epoch, generators = state.get("consumed"), state.get("epoch"), state.get("generators")
        if isinstance(consumed, bool) or not isinstance(consumed, int) or consumed < 0:
            raise _bad_state("iterable data", "consumed", consumed, "an int >= 0 (batches drawn)")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise _bad_state("iterable data", "epoch", epoch, "an int >= 0")
        _check_generator_states(self.data, generators)
        outside = host_rng_state()
        try:
            if self._one_shot():
                self._skip(consumed - (self._drawn - (self._peeked is not None)), consumed)
            else:
                self._peeked = self._live = None
                pass_rng = state.get("pass_rng")
                if pass_rng is not None:
                    try:
                        set_host_rng_state(pass_rng["host"])
                    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError):
                        raise _bad_state("iterable data", "pass_rng", pass_rng, "the random states of host_rng_state()"
                                         ) from None
                    _set_generator_states(self.data, pass_rng["generators"])
                    self._epoch = epoch - 1 if self._sampler is not None else epoch
                    self._live = self._source()
                    self._skip(consumed, consumed)
            _set_generator_states(self.data, generators)
            self._epoch = epoch
        finally:
            set_host_rng_state(outside)

    def _skip(self, count: int, target: int) -> None:
        if count < 0:
            raise ValueError(
                f"The data iterator has already yielded more batches than the saved position ({target}); a generator "
                "cannot be rewound. Pass a new generator, made the same way as the interrupted run's.")
        if count and self._peeked is not None:
            self._peeked, count = None, count - 1
        for done in range(count):
            try:
                self._draw(self._live if self._live is not None else self.data)
            except StopIteration:
                raise ValueError(
                    f"The data ran out after {self._drawn} batches while moving to the saved position ({target} "
                    "batches): it is not the data the interrupted run trained on. Pass the same data (a generator "
                    "made the same way, the same DataLoader and sampler seed).") from None

    def __iter__(self) -> Iterator[Batch]:
        # Keras's rules, written down in kerasish/training/epoch_data.py.
        self.ran_out = False
        if self._live is None:
            self._live = self._source()
        source = self._live
        pending = self._peeked
        self._peeked = None
        count = 0
        limit = self._cut or self._length
        while limit is None or count < limit:
            if pending is not None:
                element, pending = pending, None
            else:
                try:
                    element = self._draw(source)
                except StopIteration:
                    self._live = None
                    if count == 0 and self._cut and not self._one_shot() and self._drawn and self._length is not None:
                        source = self._live = self._source()  # the pass ended with the last epoch
                        continue
                    self._spent = self._one_shot()
                    self.ran_out = True
                    return
            try:
                batch = self._convert(element)
            except (TypeError, ValueError) as e:
                raise type(e)(f"Batch {count} from the data iterable is invalid: {e}") from None
            yield batch
            count += 1
        if not self._cut and not self._one_shot():
            self._live = None  # without steps_per_epoch every epoch is a fresh pass
