"""The fit / evaluate / predict loops.

The loops drive the callbacks and the data adapters; the arithmetic lives in
`step.py`. Host synchronisations happen once per epoch (reading the accumulators)
plus the up-front data checks, and when a callback reads batch-level logs.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from kerasish import distributed
from kerasish import mixed_precision
from kerasish.data import checks, pandas_inputs
from kerasish.data.adapters import (
    ArrayAdapter, IterableAdapter, is_array, is_array_structure, is_text, num_samples, to_tensor,
)
from kerasish.data.text_adapter import TextArrayAdapter
from kerasish.layers import call_context
from kerasish.training.predictions import Predictions, concat
from kerasish.training import debug_limits, epoch_data, kept_logits, nonfinite
from kerasish.training.logs import keras_order
from kerasish.training.snapshot import LoopPosition
from kerasish.training.stepper import Stepper, module_modes, overrides, restore_modes
from kerasish.utils.tree import first_leaf, map_structure, pack_x_y_sample_weight
from kerasish.training.step import MultiSteps, Steps, split_targets


def resolve_verbose(verbose: Any) -> int:
    if verbose == "auto":
        try:
            in_notebook = "ipykernel" in sys.modules and type(sys.modules["IPython"].get_ipython()).__name__ == "ZMQInteractiveShell"
        except Exception:  # noqa: BLE001 - IPython missing or not running
            in_notebook = False
        # A bar redrawn with carriage returns is noise in a log file: one line per epoch there.
        # The progress goes to stdout, as Keras's does, so stdout decides.
        return 1 if (in_notebook or sys.stdout.isatty()) else 2
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(
            f"verbose must be 'auto', 0, 1 or 2, received verbose={verbose!r} (type {type(verbose).__name__}). "
            "Pass 0 (silent), 1 (progress bar), 2 (one line per epoch) or 'auto'."
        )
    return int(verbose)


def _takes_x_whole(model: Any) -> bool:
    """Whether `model.layers[0]` is called on x itself: true of a Sequential only. A subclassed model's
    first layer may see part of x (`self.user_embedding(inputs[:, 0])`), so its ids are not checked."""
    from kerasish.models.sequential import Sequential  # lazy: models import training

    return isinstance(model, Sequential)


def _convert_arrays(model: Any, x: Any, y: Any, sample_weight: Any) -> Tuple[Any, Any, Any]:
    cast = model.casts_integer_inputs()
    x = map_structure(lambda a: to_tensor(a, cast_ints_to_float=cast, what="x"), x)
    if cast and isinstance(x, torch.Tensor) and x.dim() == 1:
        # Keras treats a 1-D x as one feature per sample: shape (n,) -> (n, 1).
        x = x.unsqueeze(-1)
    return (x,) + _convert_targets(y, sample_weight)


def _convert_targets(y: Any, sample_weight: Any) -> Tuple[Any, Any]:
    y = None if y is None else map_structure(lambda a: to_tensor(a, what="y"), y)
    if sample_weight is not None:
        sample_weight = to_tensor(sample_weight, what="sample_weight")
        if sample_weight.dim() == 2 and sample_weight.shape[1] == 1:
            sample_weight = sample_weight[:, 0]  # (n, 1), as Keras's guides write it: one weight per sample
        if sample_weight.dim() != 1:
            raise ValueError(
                f"sample_weight must be 1-D, one weight per sample: shape (n,) or (n, 1); received shape "
                f"{tuple(sample_weight.shape)}. Pass one weight per sample (e.g. sample_weight.reshape(-1) "
                "if each row's weights are the same)."
            )
        checks.check_sample_weight(sample_weight, "sample_weight")
    return y, sample_weight


def _slice(x: Any, s: slice) -> Any:
    return None if x is None else map_structure(lambda t: t[s], x)


def _class_weight_tensor(class_weight: Optional[Dict[int, float]], device: torch.device, y_sample: Any = None,
                         output_shape: Any = None) -> Optional[torch.Tensor]:
    if class_weight is None:
        return None
    if isinstance(y_sample, torch.Tensor):
        one_hot = (y_sample.dim() == 2 and output_shape is not None and len(output_shape) == 2
                   and y_sample.shape[-1] == output_shape[-1])
        if not (y_sample.dim() == 1 or (y_sample.dim() == 2 and y_sample.shape[-1] == 1) or one_hot):
            raise ValueError(
                f"class_weight needs one class label per sample (y of shape (n,), (n, 1) or one-hot (n, classes)), "
                f"received y of shape {tuple(y_sample.shape)}. For per-timestep labels pass sample_weight instead."
            )
    if not isinstance(class_weight, dict) or not class_weight:
        raise ValueError(
            f"class_weight must be a dict mapping class index to weight, e.g. {{0: 1.0, 1: 5.0}}, "
            f"received {class_weight!r}."
        )
    keys = list(class_weight)
    if any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0 for k in keys):
        raise ValueError(f"class_weight keys must be class indices >= 0, received keys {keys!r}.")
    checks.check_class_weight(class_weight, _num_classes(output_shape))
    table = torch.ones(max(keys) + 1)
    for k, v in class_weight.items():
        table[int(k)] = float(v)
    return table.to(device)


def _num_classes(output_shape: Any) -> Optional[int]:
    """How many classes a classifier's output has (2 for one sigmoid unit), None when unknown."""
    if output_shape is None or len(output_shape) < 2 or output_shape[-1] is None:
        return None
    return 2 if output_shape[-1] == 1 else int(output_shape[-1])


class _Prepared:
    """Data for one call: an adapter plus what the checks learned."""

    def __init__(self, adapter: Any, y_sample: Any) -> None:
        self.adapter = adapter
        self.y_sample = y_sample


def prepare(model: Any, x: Any, y: Any, sample_weight: Any, batch_size: Optional[int], shuffle: bool,
            steps: Optional[int], *, need_y: bool, check: bool = True, shard: Optional[str] = None) -> _Prepared:
    """Checks user data up front and returns an adapter yielding device batches.

    `shard` ('train' or 'eval') splits the data across processes in a data-parallel run.
    `batch_size=None` is Keras's default: for arrays with `steps`, enough per batch for the
    steps to cover them once (`ceil(n / steps)`), otherwise 32.
    """
    device = model.device
    if x is None:
        raise ValueError("x is None. Pass the input data as x (arrays, a Dataset, a DataLoader or an iterable).")
    checks.check_input_structure(model, x)
    if model.accepts_strings() and is_text(x):
        texts = np.asarray(x, dtype=object)
        if need_y and y is None:
            raise ValueError("y is None but the model needs targets to compute the loss. Pass y=...")
        y = None if y is None else np.asarray(y) if not is_array(y) else y
        checks.check_lengths(texts, y, sample_weight)
        y, sample_weight = _convert_targets(y, sample_weight)
        model.ensure_built(texts)
        batch_size = epoch_data.default_batch_size(batch_size, len(texts), steps)
        adapter = TextArrayAdapter(texts, y, sample_weight, batch_size, shuffle, device, steps)
        return _Prepared(adapter, y)
    if is_array_structure(x) or isinstance(x, (list,)) and x and not isinstance(x[0], (tuple, list)):
        if not is_array_structure(x):
            x = np.asarray(x)
        if y is not None and not is_array_structure(y):
            y = np.asarray(y)
        if need_y and y is None:
            raise ValueError(
                "y is None but the model needs targets to compute the loss. Pass y=..., or pass a "
                "Dataset/iterable that yields (x, y) pairs."
            )
        checks.check_lengths(x, y, sample_weight)
        x, y, sample_weight = _convert_arrays(model, x, y, sample_weight)
        batch_size = epoch_data.default_batch_size(batch_size, len(first_leaf(x)), steps)
        if check:
            checks.check_finite(x, "x")
            if y is not None:
                checks.check_finite(y, "y")
        model.ensure_built(_slice(x, slice(0, batch_size)))  # the first batch, as Keras builds from it
        checks.check_input_shape(x, model.expected_input_shape(), model.name,
                                 adjusts_rank=getattr(model, "adjusts_input_rank", False))
        layers = getattr(model, "layers", None)
        if layers and getattr(layers[0], "integer_input", False) and _takes_x_whole(model):
            x = checks.check_token_ids(x, layers[0])
        adapter = ArrayAdapter(x, y, sample_weight, batch_size, shuffle, device, steps, shard=shard)
        return _Prepared(adapter, y)
    if y is not None:
        raise ValueError(
            f"y must be None when x is a {type(x).__name__} (a Dataset, DataLoader or iterable yields "
            "(x, y) itself). Drop the y argument."
        )
    if sample_weight is not None:
        raise ValueError(
            "sample_weight must be None when x is a Dataset/DataLoader/iterable; yield "
            "(x, y, sample_weight) from it instead."
        )
    if not hasattr(x, "__iter__") and not hasattr(x, "__getitem__"):
        raise TypeError(
            f"Unrecognized data type x={type(x).__name__}. Expected NumPy arrays or torch tensors (or a list/dict "
            "of them), a torch Dataset, a DataLoader, or an iterable of (x, y) batches."
        )
    check_labels = None
    if need_y and model.compiled and model._compile_config.loss is not None:
        check_labels = lambda batch_y: _check_first_batch_labels(model, batch_y)  # noqa: E731
    checks.warn_if_shuffle_ignored(x, shuffle)
    adapter = IterableAdapter(x, batch_size or 32, shuffle, device, steps, model.casts_integer_inputs(),
                              expected_shape=model.expected_input_shape(), check_labels=check_labels, shard=shard)
    # The first batch (replayed later) builds a lazy model before its optimizer exists and
    # tells 'accuracy' which kind it is, as Keras does with its first batch.
    first_x, first_y, _ = adapter.peek()
    model.ensure_built(first_x)
    if adapter.expected_shape is None:
        adapter.expected_shape = model.expected_input_shape()
    return _Prepared(adapter, first_y)


def _make_steps(model: Any, y_sample: Any, class_weight: Any = None, train: bool = False) -> Steps:
    """The built-in step's state for one fit/evaluate call, sharing the model's trackers."""
    cfg = model._compile_config
    container = model._compile_metrics_obj()
    metric_objs = container.build(y_sample)
    tracker = model._loss_tracker_obj()
    if tracker.device != model.device:
        tracker.to(model.device)
    if cfg.heads is not None:
        if class_weight is not None:
            raise ValueError(
                "class_weight is not supported for models with several outputs (as in Keras). "
                "Pass sample_weight instead."
            )
        heads = []
        for i, head in enumerate(cfg.heads):
            heads.append((head.name, head.loss, head.weight,
                          [m for m, h in zip(metric_objs, container.heads) if h == i]))
        return MultiSteps(model, heads, cfg.optimizer if train else None,
                          jit_compile=cfg.jit_compile, loss_tracker=tracker).to(model.device)
    fuse = None
    if cfg.loss is not None and cfg.loss.fuses and not getattr(cfg.loss, "from_logits", True):
        if model.logits_activation() == cfg.loss.fuses:
            fuse = cfg.loss.fuses
    steps = Steps(model, cfg.loss, metric_objs, cfg.optimizer if train else None, cfg.loss_weight, fuse,
                  _class_weight_tensor(class_weight, model.device, y_sample, model.output_shape_or_none()),
                  jit_compile=cfg.jit_compile, loss_tracker=tracker)
    return steps.to(model.device)


def compiled_loss(model: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
    """The compiled loss (weighted sum over outputs) of one batch: `compute_loss`'s default."""
    cfg = model._compile_config
    if cfg.heads is None:
        logits = kept_logits.logits_of(y_pred, cfg.loss)  # the model's own output in a custom step
        loss = cfg.loss(y, y_pred, sample_weight) if logits is None else cfg.loss.reduced_logits(y, logits, sample_weight)
        return loss * cfg.loss_weight if cfg.loss_weight != 1.0 else loss
    names = [h.name for h in cfg.heads]
    ys = split_targets(y, names, [h.name for h in cfg.heads if h.loss is not None])
    total = None
    for head, target, out in zip(cfg.heads, ys, model.flatten_outputs(y_pred)):
        if head.loss is not None:
            value = head.loss(target, out, sample_weight) * head.weight
            total = value if total is None else total + value
    return total


def has_compiled_loss(model: Any) -> bool:
    cfg = model._compile_config
    return cfg is not None and (cfg.loss is not None or cfg.heads is not None)


def _head_targets(model: Any, y: Any) -> List[Any]:
    heads = model._compile_config.heads
    return split_targets(y, [h.name for h in heads], [h.name for h in heads if h.loss is not None])


def _check_first_batch_labels(model: Any, y: Any) -> None:
    cfg = model._compile_config
    if cfg.heads is not None:
        if y is None:
            return
        for head, y_head, out in zip(cfg.heads, _head_targets(model, y), model.outputs):
            if head.loss is not None:
                checks.check_labels(y_head, head.loss_name, out.shape)
        return
    checks.check_labels(y, cfg.loss_name, model.output_shape_or_none())


def run_epoch_eval(model: Any, steps: Steps, adapter: Any, cbs: Any) -> Dict[str, float]:
    """One pass of evaluation: on_test_* hooks, inference mode, floats at the end.

    Each batch goes through the model's `test_step` (see `Stepper`).
    """
    stepper = Stepper(model, steps, "test")
    stepper.reset()
    adapter.restart()  # every evaluation from the start, as Keras (fit's validation with validation_steps)
    was_training = module_modes(model)
    model.eval()
    cbs.on_test_begin({})
    want_begin = cbs.needs("on_test_batch_begin")
    want_end = cbs.needs("on_test_batch_end")
    seen = 0
    try:
        with stepper, torch.inference_mode():
            for i, (x, y, w) in enumerate(adapter):
                if want_begin:
                    cbs.on_test_batch_begin(i, {})
                stepper(x, y, w)
                seen += 1
                if want_end:
                    cbs.on_test_batch_end(i, stepper.batch_logs())
    finally:
        # A callback may call evaluate mid-epoch: leave the model as it was found.
        restore_modes(was_training)
    epoch_data.warn_if_ran_out(adapter, stacklevel=4)
    if seen == 0:
        raise ValueError(
            "The evaluation data yielded no batches, so there is no loss to report. A generator passed as "
            "validation_data is used up after one epoch: pass arrays, a Dataset or a DataLoader (re-iterable), "
            "or set validation_steps with a generator that never ends."
        )
    logs = stepper.epoch_logs()  # host sync: once per evaluation
    cbs.on_test_end(keras_order(logs))
    return logs  # in the trackers' order: evaluate's list follows it


def fit(model: Any, x: Any = None, y: Any = None, batch_size: Optional[int] = None, epochs: int = 1,
        verbose: Any = "auto", callbacks: Any = None, validation_split: float = 0.0, validation_data: Any = None,
        shuffle: bool = True, class_weight: Any = None, sample_weight: Any = None, initial_epoch: int = 0,
        steps_per_epoch: Optional[int] = None, validation_steps: Optional[int] = None,
        validation_batch_size: Optional[int] = None, validation_freq: Any = 1, *, skip_nonfinite: bool = False,
        max_nonfinite_steps: Optional[int] = 10) -> Any:
    from kerasish.callbacks.callback_list import CallbackList  # the one upward edge (lazy)

    model.require_compiled("fit")
    x, y, sample_weight = pandas_inputs.convert(x), pandas_inputs.convert(y), pandas_inputs.convert(sample_weight,
                                                                                                     weights=True)
    if isinstance(validation_data, (tuple, list)):
        validation_data = type(validation_data)(pandas_inputs.convert(v, weights=i == 2)
                                                for i, v in enumerate(validation_data))
    shuffle = checks.check_shuffle(shuffle)
    nonfinite.check_arguments(skip_nonfinite, max_nonfinite_steps)
    if class_weight is not None and sample_weight is not None:
        raise ValueError(
            "fit() received both class_weight and sample_weight; Keras refuses the pair because it is ambiguous. "
            "Fold the class weights into the sample weights (sample_weight * class_weight[label]) and pass only "
            "sample_weight."
        )
    custom = overrides(model, "train_step")  # under torchrun: see ddp_custom_step
    need_y = has_compiled_loss(model) and not custom
    if isinstance(batch_size, str) and batch_size == "auto":
        if distributed.is_distributed():
            raise ValueError("fit(batch_size='auto') is not supported under torchrun: each process would find its "
                             "own size. Call model.find_batch_size(...) once and pass the number.")
        from kerasish.training.batch_finder import find_batch_size

        batch_size = find_batch_size(model, x, y, sample_weight=sample_weight, verbose=0 if verbose == 0 else 1)
    batch_size = None if batch_size is None else checks.check_batch_size(batch_size)  # None: see prepare
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, received epochs={epochs!r}.")
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, int) or initial_epoch < 0:
        raise ValueError(f"initial_epoch must be a non-negative integer, received {initial_epoch!r}.")
    validation_split = checks.check_validation_split(validation_split)
    if steps_per_epoch is not None and (not isinstance(steps_per_epoch, int) or steps_per_epoch < 1):
        raise ValueError(f"steps_per_epoch must be a positive integer or None, received {steps_per_epoch!r}.")
    if not (isinstance(validation_freq, int) and validation_freq >= 1) and not isinstance(validation_freq, (list, tuple, set)):
        raise ValueError(f"validation_freq must be a positive int or a list of epochs, received {validation_freq!r}.")
    verbose = resolve_verbose(verbose)
    epochs, steps_per_epoch = debug_limits.epochs(epochs), debug_limits.steps(steps_per_epoch)

    val_x = val_y = val_w = None
    if validation_split and validation_data is None:
        if not is_array_structure(x):
            raise ValueError(
                f"validation_split is only supported for arrays/tensors, received x of type {type(x).__name__}. "
                "Pass validation_data=... instead."
            )
        n = checks.check_lengths(x, y, sample_weight)
        # Keras takes the LAST fraction of the samples, before any shuffling.
        split = int(n * (1.0 - validation_split))
        if split == 0 or split == n:
            raise ValueError(
                f"validation_split={validation_split} leaves {'no training' if split == 0 else 'no validation'} "
                f"samples out of {n}. Use a fraction that keeps samples on both sides."
            )
        val_x, val_y, val_w = _slice(x, slice(split, None)), _slice(y, slice(split, None)), (
            None if sample_weight is None else sample_weight[split:])
        x, y = _slice(x, slice(0, split)), _slice(y, slice(0, split))
        sample_weight = None if sample_weight is None else sample_weight[:split]
    elif validation_data is not None:
        if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3) and not is_array(validation_data):
            val_x, val_y = validation_data[0], validation_data[1]
            val_w = validation_data[2] if len(validation_data) == 3 else None
        elif isinstance(validation_data, (tuple, list)):
            raise ValueError(
                f"validation_data must be (x_val, y_val) or (x_val, y_val, val_sample_weight), received a "
                f"{type(validation_data).__name__} of {len(validation_data)} items."
            )
        else:
            val_x = validation_data

    train = prepare(model, x, y, sample_weight, batch_size, shuffle, steps_per_epoch, need_y=need_y, shard="train")
    distributed.announce_global_batch(getattr(train.adapter, "batch_size", batch_size or 32), verbose)
    model.ensure_optimizer()
    val = None
    if val_x is not None:
        val = prepare(model, val_x, val_y, val_w, validation_batch_size or batch_size, False,
                      debug_limits.steps(validation_steps),
                      need_y=need_y and not overrides(model, "test_step"), shard="eval")
    if train.y_sample is not None and has_compiled_loss(model):
        _check_first_batch_labels(model, train.y_sample)
    if val is not None and val.y_sample is not None and has_compiled_loss(model):
        _check_first_batch_labels(model, val.y_sample)

    steps = _make_steps(model, train.y_sample, class_weight, train=True)
    guard = nonfinite.make_guard(model, steps, skip_nonfinite, max_nonfinite_steps)
    check_batches = guard is not None and isinstance(train.adapter, IterableAdapter)
    if distributed.is_distributed():
        # The step's forward runs through DDP so gradients are averaged across processes; the
        # model itself stays unwrapped (the wrapper lives for this fit call only).
        steps.forward = distributed.wrap(model, logits=steps.ddp_logits)
        if model._compile_config.jit_compile:
            from kerasish.training.step import compiled_forward

            steps.forward = compiled_forward(steps.forward, model._compile_config.jit_compile_options)
    val_steps = _make_steps(model, val.y_sample if val else None) if val else None

    cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                       verbose=verbose, epochs=epochs, steps=steps_per_epoch or train.adapter.steps)
    model.stop_training = False
    stepper = Stepper(model, steps, "train")
    want_begin = cbs.needs("on_train_batch_begin")
    want_end = cbs.needs("on_train_batch_end")
    # The explicit hand-over to callbacks that resume a run (BackupAndRestore): in on_train_begin
    # they may move the first epoch and the training data's position.
    position = LoopPosition(initial_epoch, train.adapter)
    for c in cbs.callbacks:
        if callable(getattr(c, "set_loop_position", None)):
            c.set_loop_position(position)
    cbs.on_train_begin({})
    epoch_logs: Dict[str, float] = {}
    warned_nonfinite = False
    if stepper.custom:
        # The layers' metrics, found once per fit: `model.metrics` is read several times per batch.
        from kerasish.training.model_trainer import model_metrics

        model.__dict__["_layer_metrics_cache"] = model_metrics(model)
    try:
        with stepper:
            for epoch in range(position.epoch, epochs):
                stepper.reset()  # every metric the model lists, as Keras resets them per epoch
                if guard is not None:
                    guard.reset_epoch()
                stepper.train_modes()
                cbs.on_epoch_begin(epoch, {})
                seen = 0
                for i, (bx, by, bw) in enumerate(train.adapter):
                    if want_begin:
                        cbs.on_train_batch_begin(i, {})
                    if guard is not None:
                        guard.batch = i
                        if check_batches:
                            guard.check_inputs(bx, by, bw)  # on the device, no host sync
                    stepper(bx, by, bw)
                    seen += 1
                    if want_end:
                        cbs.on_train_batch_end(i, stepper.batch_logs())
                    if model.stop_training:
                        break
                epoch_data.warn_if_ran_out(train.adapter, stacklevel=3)  # training goes on, as in Keras
                # host sync: once per epoch. An epoch that got no batch logs nothing, as in Keras.
                epoch_logs = stepper.epoch_logs() if seen else {}
                if guard is None and not warned_nonfinite:
                    warned_nonfinite = nonfinite.warn_if_nonfinite_loss(epoch, epoch_logs)  # host floats: free
                if guard is not None:
                    skipped = guard.end_epoch(epoch)  # host sync: once per epoch; raises past the limit
                    if guard.total_skipped:
                        epoch_logs["skipped_steps"] = skipped
                if val is not None and _should_validate(epoch, validation_freq):
                    val_logs = run_epoch_eval(model, val_steps, val.adapter, cbs)
                    epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
                epoch_logs = keras_order(epoch_logs)  # History's and every hook's key order, as Keras
                cbs.on_epoch_end(epoch, epoch_logs)
                if distributed.is_distributed():
                    model.stop_training = distributed.any_rank(model.stop_training)  # one collective per epoch
                if model.stop_training:
                    break
    except KeyboardInterrupt as interrupt:
        # Ctrl-C ends training cleanly: callbacks see on_train_end (BackupAndRestore
        # keeps its last backup), and the History so far rides on the exception.
        model.eval()
        cbs.on_train_end(epoch_logs)
        model.history = cbs.history
        interrupt.history = cbs.history  # type: ignore[attr-defined]
        raise
    finally:
        model.__dict__.pop("_layer_metrics_cache", None)
        model.eval()
    if epochs > initial_epoch and model.optimizer is not None:
        model.optimizer.finalize_variable_values(model.trainable_weights)  # EMA weights swapped in, as Keras
    cbs.on_train_end(epoch_logs)
    model.history = cbs.history
    return cbs.history


def num_samples_or(x: Any) -> int:
    """The sample count of array data (used as the batch size by *_on_batch)."""
    from kerasish.data.adapters import is_array_structure as _isa

    if _isa(x):
        return max(1, num_samples(x))
    if isinstance(x, list):
        return max(1, len(x))
    return 32


def _should_validate(epoch: int, freq: Any) -> bool:
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq


def evaluate(model: Any, x: Any = None, y: Any = None, batch_size: Optional[int] = None, verbose: Any = "auto",
             sample_weight: Any = None, steps: Optional[int] = None, callbacks: Any = None,
             return_dict: bool = False) -> Any:
    from kerasish.callbacks.callback_list import CallbackList

    model.require_compiled("evaluate")
    x, y, sample_weight = pandas_inputs.convert(x), pandas_inputs.convert(y), pandas_inputs.convert(sample_weight,
                                                                                                     weights=True)
    batch_size = None if batch_size is None else checks.check_batch_size(batch_size)  # None: see prepare
    verbose = resolve_verbose(verbose)
    need_y = has_compiled_loss(model) and not overrides(model, "test_step")
    steps = debug_limits.steps(steps)
    data = prepare(model, x, y, sample_weight, batch_size, False, steps, need_y=need_y, shard="eval")
    if data.y_sample is not None and has_compiled_loss(model):
        _check_first_batch_labels(model, data.y_sample)
    st = _make_steps(model, data.y_sample)
    cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=model, verbose=verbose, epochs=1,
                       steps=steps or data.adapter.steps)
    return st.results(run_epoch_eval(model, st, data.adapter, cbs), return_dict)


def predict(model: Any, x: Any, batch_size: Optional[int] = None, verbose: Any = "auto",
            steps: Optional[int] = None, callbacks: Any = None) -> Any:
    from kerasish.callbacks.callback_list import CallbackList

    x = pandas_inputs.convert(x)
    batch_size = None if batch_size is None else checks.check_batch_size(batch_size)  # None: see prepare
    verbose = resolve_verbose(verbose)
    model.ensure_device()
    data = prepare(model, x, None, None, batch_size, False, debug_limits.steps(steps), need_y=False, shard="eval")
    cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=model, verbose=verbose, epochs=1,
                       steps=data.adapter.steps)
    want_end = cbs.needs("on_predict_batch_end")
    custom = overrides(model, "predict_step")
    sharded = getattr(data.adapter, "sharded", False)
    known = isinstance(data.adapter, ArrayAdapter) and not custom and not sharded
    # One host array per output, filled batch by batch (see predictions.py); on CUDA each batch
    # starts copying to pinned host memory right away, so a long predict holds nothing on the GPU.
    outputs = Predictions(min(data.adapter.n, data.adapter.steps * data.adapter.batch_size) if known else None,
                          model.device if not sharded else torch.device("cpu"))
    was_training = module_modes(model)
    model.eval()
    cbs.on_predict_begin({})
    try:
        with torch.inference_mode():
            for i, (bx, _, _) in enumerate(data.adapter):
                if cbs.needs("on_predict_batch_begin"):
                    cbs.on_predict_batch_begin(i, {})
                with mixed_precision.autocast(model.device), call_context.training_scope(False, model):
                    if custom:
                        out = model.predict_step(pack_x_y_sample_weight(bx))
                    else:
                        out = model(*bx) if isinstance(bx, (list, tuple)) else model(bx)
                outputs.add(out)
                if want_end:
                    cbs.on_predict_batch_end(i, {"outputs": out})
    finally:
        restore_modes(was_training)  # a callback may predict mid-epoch
    epoch_data.warn_if_ran_out(data.adapter, stacklevel=3)
    cbs.on_predict_end({})
    if sharded and outputs.template is not None:
        # every sample, in order
        return concat([distributed.gather_predictions(outputs.as_batches(), data.adapter.total)])
    return outputs.result()  # host sync: once


def on_batch(model: Any, kind: str, x: Any, y: Any, sample_weight: Any, class_weight: Any,
             return_dict: bool) -> Any:
    """`train_on_batch` / `test_on_batch`: one step on one batch, through the model's step."""
    model.require_compiled(f"{kind}_on_batch")
    if class_weight is not None and sample_weight is not None:
        raise ValueError(
            f"{kind}_on_batch() received both class_weight and sample_weight; Keras refuses the pair. Fold the class "
            "weights into the sample weights and pass only sample_weight."
        )
    train = kind == "train"
    need_y = has_compiled_loss(model) and not overrides(model, f"{kind}_step")
    data = prepare(model, x, y, sample_weight, num_samples_or(x), False, None, need_y=need_y)
    if train:
        model.ensure_optimizer()
    if data.y_sample is not None and has_compiled_loss(model):
        _check_first_batch_labels(model, data.y_sample)
    stepper = Stepper(model, _make_steps(model, data.y_sample, class_weight, train=train), kind)
    stepper.reset()
    was_training = module_modes(model)
    if train:
        stepper.train_modes()
    else:
        model.eval()
    try:
        with stepper, (contextlib.nullcontext() if train else torch.inference_mode()):
            for bx, by, bw in data.adapter:
                stepper(bx, by, bw)
    finally:
        restore_modes(was_training)
    return stepper.steps.results(stepper.epoch_logs(), return_dict)  # host sync: once
