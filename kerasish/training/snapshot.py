"""A host copy of everything a few training steps change, restored bit for bit.

The finders (`find_learning_rate`, `find_batch_size`) train a model for a while to learn
something about it, then must leave it exactly as they found it. `TrainingSnapshot`
holds, on the host (so it costs no accelerator memory while the finders run):

- every parameter, buffer and gradient of the model (restored in place: the tensors
  keep their identity, so the optimizer and any user reference stay valid);
- the optimizer's state (`optimizer.state_dict()`: moments, `iterations`, param groups
  with their rates and momenta) and its learning rate;
- the state of every metric the model lists (the loss tracker, the compiled metrics,
  metrics held by layers);
- the random-number states of torch (CPU and initialised CUDA devices), NumPy and
  Python, so that what follows a finder draws the same numbers as without it.

`LoopPosition` is the other half of a training state: where a running `fit` stands
(the epoch it starts at and its training data's position). `fit` hands it to the
callbacks that save and restore training (BackupAndRestore) before `on_train_begin`.
"""

from __future__ import annotations

import copy
import random
from typing import Any, Dict, List, Tuple

import numpy as np
import torch


class LoopPosition:
    """Where a `fit` loop starts: the explicit hand-over between `fit` and BackupAndRestore.

    `fit` makes one per call, gives it to every callback that has a
    `set_loop_position(position)` method, then runs `on_train_begin` and starts at
    `position.epoch`. A callback restoring a backup sets the epoch and the data position
    in its `on_train_begin` (`restore`); one writing a backup reads them (`data_state`).

    Args:
        epoch: the first epoch to run (fit's `initial_epoch`).
        data: the training data adapter (`state_dict()` / `load_state_dict()`), or None.

    Example:
        >>> position = LoopPosition(0, None)
        >>> position.restore(3, {})
        >>> position.epoch
        3
    """

    def __init__(self, epoch: int, data: Any) -> None:
        self.epoch = epoch
        self.data = data

    def data_state(self) -> Dict[str, Any]:
        """The data adapter's position (empty when the data has none, e.g. a fresh pass each epoch)."""
        state_dict = getattr(self.data, "state_dict", None)
        return state_dict() if callable(state_dict) else {}

    def restore(self, epoch: int, data_state: Dict[str, Any]) -> None:
        """Makes fit start at `epoch`, with the data where `data_state` says.

        Raises:
            ValueError: from the adapter, for a data state of other data.
        """
        self.epoch = epoch
        load = getattr(self.data, "load_state_dict", None)
        if callable(load):
            load(data_state)


def _to_host(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_host(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_host(v) for v in value)
    return copy.deepcopy(value)


def _leaf_metrics(model: Any) -> List[Any]:
    """The model's metrics, with containers (the compiled metrics) opened up."""
    out: List[Any] = []
    pending = list(getattr(model, "metrics", []) or [])
    while pending:
        m = pending.pop(0)
        out.append(m)
        inner = getattr(m, "metrics", None)
        if isinstance(inner, list):
            pending.extend(inner)
    return out


def _metric_state(metric: Any) -> Dict[str, Any]:
    state: Dict[str, Any] = {}
    for key, value in vars(metric).items():
        if isinstance(value, torch.Tensor):
            state[key] = value.detach().clone()
        elif isinstance(value, list) and value and all(isinstance(v, torch.Tensor) for v in value):
            state[key] = [v.detach().clone() for v in value]
        elif isinstance(value, torch.nn.Module):  # state a metric keeps in a module
            state[key] = copy.deepcopy(value)
        elif value is None:
            state[key] = None
    return state


def _set_metric_state(metric: Any, state: Dict[str, Any]) -> None:
    with torch.no_grad():
        for key, saved in state.items():
            current = getattr(metric, key, None)
            if isinstance(saved, torch.Tensor):
                if (isinstance(current, torch.Tensor) and current.shape == saved.shape
                        and current.dtype == saved.dtype and current.device == saved.device):
                    current.copy_(saved)
                else:
                    setattr(metric, key, saved.clone())
            elif isinstance(saved, list):
                if isinstance(current, list) and len(current) == len(saved):
                    for c, s in zip(current, saved):
                        c.copy_(s)
                else:
                    setattr(metric, key, [s.clone() for s in saved])
            elif isinstance(saved, torch.nn.Module):
                setattr(metric, key, copy.deepcopy(saved))
            else:
                setattr(metric, key, saved)


class TrainingSnapshot:
    """A host copy of a compiled model's training state (see the module docstring).

    Args:
        model: a compiled, built kerasish model whose optimizer is built.

    Example:
        >>> snapshot = TrainingSnapshot(model)   # doctest: +SKIP
        >>> model.fit(x, y, epochs=1)             # doctest: +SKIP
        >>> snapshot.restore()   # the model and optimizer as they were   # doctest: +SKIP
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        # host sync: once, copying the model and optimizer state to the host.
        self._tensors: List[Tuple[torch.Tensor, torch.Tensor, Any]] = []
        seen = set()
        for t in list(model.parameters()) + list(model.buffers()):
            if id(t) in seen:
                continue
            seen.add(id(t))
            grad = getattr(t, "grad", None)
            self._tensors.append((t, _to_host(t), None if grad is None else _to_host(grad)))
        optimizer = model.optimizer
        self._optimizer_state = _to_host(optimizer.state_dict())
        self._schedule = getattr(optimizer, "learning_rate_schedule", None)
        # A number (the variable itself follows the rate); a MultiOptimizer has none: its sub-optimizers'
        # rates come back with its state dict.
        self._learning_rate = None if hasattr(optimizer, "optimizers") else float(optimizer.learning_rate)
        self._metrics = [(m, _metric_state(m)) for m in _leaf_metrics(model)]
        self._stop_training = getattr(model, "stop_training", False)
        self._rng = self._rng_state()

    @staticmethod
    def _rng_state() -> Dict[str, Any]:
        state: Dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                                 "python": random.getstate()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def restore(self) -> None:
        """Puts the model, optimizer, metrics and random-number states back as they were."""
        model = self.model
        with torch.no_grad():
            for tensor, value, grad in self._tensors:
                tensor.copy_(value)  # same device and dtype as before: an exact copy
                if isinstance(tensor, torch.nn.Parameter) or tensor.requires_grad:
                    tensor.grad = None if grad is None else grad.to(tensor.device)
        optimizer = model.optimizer
        if self._schedule is None and self._learning_rate is not None:
            # Before load_state_dict, which then sets every param group's rate exactly.
            optimizer.learning_rate = self._learning_rate
        if self._optimizer_state:
            optimizer.load_state_dict(copy.deepcopy(self._optimizer_state))
        for metric, state in self._metrics:
            _set_metric_state(metric, state)
        model.stop_training = self._stop_training
        torch.set_rng_state(self._rng["torch"])
        np.random.set_state(self._rng["numpy"])
        random.setstate(self._rng["python"])
        if "cuda" in self._rng:
            torch.cuda.set_rng_state_all(self._rng["cuda"])


def prepare_for_training(model: Any, x: Any, y: Any, what: str) -> None:
    """Builds a compiled model and its optimizer from a few samples, so a snapshot sees all state.

    Args:
        model: the compiled model.
        x: array data (or a structure of arrays), at least one sample.
        y: the targets, or None.
        what: the calling function's name, for the error message.

    Raises:
        RuntimeError: if the model is not compiled.
    """
    from kerasish.training import trainer
    from kerasish.utils.tree import map_structure

    model.require_compiled(what)
    first = map_structure(lambda a: a[:2], x)
    first_y = None if y is None else map_structure(lambda a: a[:2], y)
    trainer.prepare(model, first, first_y, None, 2, False, None, need_y=False, check=False)
    model.ensure_optimizer()
