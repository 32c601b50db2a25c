"""Resolve compile() arguments into one CompileConfig, checking names up front."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

import torch

from kerasish import losses as losses_mod
from kerasish import metrics as metrics_mod
from kerasish.config import resolve_device


@dataclass
class Head:
    """One output of a multi-output model: its loss, weight and metrics."""

    name: str
    loss: Optional[losses_mod.Loss]
    loss_name: Optional[str]
    weight: float = 1.0
    metric_ids: List[Any] = field(default_factory=list)


@dataclass
class CompileConfig:
    optimizer: optimizers_mod.Optimizer
    loss: Optional[losses_mod.Loss]
    loss_name: Optional[str]
    metric_ids: List[Any] = field(default_factory=list)
    loss_weight: float = 1.0
    jit_compile: bool = False
    jit_compile_options: Optional[dict] = None  # torch.compile's keyword arguments (see compiled_step)
    #: compile(run_eagerly=True) or `model.run_eagerly = True`: nothing runs under torch.compile (jit_compile False).
    run_eagerly: bool = False
    device: torch.device = torch.device("cpu")
    steps_per_execution: int = 1
    raw: dict = field(default_factory=dict)
    heads: Optional[List[Head]] = None  # set for models with several outputs
    weighted_metric_ids: List[Any] = field(default_factory=list)
    #: Whether compile() received `metrics` or `weighted_metrics` (an empty list counts): only then does
    #: Keras list its 'compile_metrics' in `model.metrics`.
    has_metrics: bool = False


_CE_NAMES = {
    losses_mod.CategoricalCrossentropy: "categorical_crossentropy",
    losses_mod.SparseCategoricalCrossentropy: "sparse_categorical_crossentropy",
    losses_mod.BinaryCrossentropy: "binary_crossentropy",
}


def _resolve_loss(loss: Any):
    if loss is None:
        return None, None
    obj = losses_mod.get(loss)
    name = _CE_NAMES.get(type(obj))
    if name is None and isinstance(loss, str):
        name = loss.lower()
    return obj, name


def _metric_list(metrics: Any) -> List[Any]:
    if metrics is None:
        return []
    if isinstance(metrics, (list, tuple)):
        out = list(metrics)
    else:
        out = [metrics]
    for m in out:
        metrics_mod.check_name(m)
    return out


def _per_output(value: Any, names: Sequence[str], what: str, default: Any) -> List[Any]:
    """Spreads a compile argument over the outputs: dict by name, list by position, else the same for all."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(
                f"compile received {what} for unknown output(s) {unknown}; the model's outputs are {list(names)}."
            )
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)) and what != "metrics":
        if len(value) != len(names):
            raise ValueError(
                f"compile received {len(value)} {what} for a model with {len(names)} outputs {list(names)}. "
                f"Pass one per output, or a dict keyed by output name."
            )
        return list(value)
    return [value if value is not None else default for _ in names]


def build_compile_config(
    optimizer: Any, loss: Any, metrics: Any, loss_weights: Any, jit_compile: Any, device: Any,
    steps_per_execution: int = 1, output_names: Optional[Sequence[str]] = None, weighted_metrics: Any = None,
    run_eagerly: bool = False,
) -> CompileConfig:
    from kerasish import optimizers as optimizers_mod  # loaded at compile: importing models stays cheap

    opt = optimizers_mod.get(optimizer)
    heads = None
    loss_obj = loss_name = None
    metric_ids: List[Any] = []
    weight = 1.0
    multi = output_names is not None and len(output_names) > 1
    if multi:
        losses = _per_output(loss, output_names, "losses", None)
        weights = _per_output(loss_weights, output_names, "loss_weights", 1.0)
        if isinstance(metrics, (list, tuple)) and metrics and all(isinstance(m, (list, tuple)) for m in metrics):
            per_metrics = _per_output(list(metrics), output_names, "metric lists", [])
            if len(per_metrics) != len(output_names):
                raise ValueError(f"compile received {len(metrics)} metric lists for {len(output_names)} outputs.")
        else:
            per_metrics = _per_output(metrics, output_names, "metrics", [])
        heads = []
        for name, l, w, m in zip(output_names, losses, weights, per_metrics):
            obj, lname = _resolve_loss(l)
            if isinstance(w, bool) or not isinstance(w, (int, float)):
                raise ValueError(f"loss_weights must be numbers, received {w!r} for output {name!r}.")
            heads.append(Head(name, obj, lname, float(w), _metric_list(m)))
        if all(h.loss is None for h in heads) and loss is not None:
            raise ValueError("compile received no loss for any output.")
    else:
        if isinstance(loss, (list, tuple, dict)):
            if len(loss) != 1:
                raise ValueError(
                    f"compile received {len(loss)} losses ({loss!r}) for a model with one output. Pass one loss."
                )
            loss = list(loss.values())[0] if isinstance(loss, dict) else list(loss)[0]
        loss_obj, loss_name = _resolve_loss(loss)
        if isinstance(metrics, dict):
            if len(metrics) != 1:
                raise ValueError(f"compile received metrics for {len(metrics)} outputs; the model has one output.")
            metrics = list(metrics.values())[0]
        metric_ids = _metric_list(metrics)
        if loss_weights is not None:
            if isinstance(loss_weights, (list, tuple)) and len(loss_weights) == 1:
                loss_weights = loss_weights[0]
            if isinstance(loss_weights, dict) and len(loss_weights) == 1:
                loss_weights = list(loss_weights.values())[0]
            if isinstance(loss_weights, bool) or not isinstance(loss_weights, (int, float)):
                raise ValueError(
                    f"loss_weights for a single-output model must be a number or a one-element list, "
                    f"received {loss_weights!r}."
                )
            weight = float(loss_weights)
    from kerasish.training.compiled_step import resolve_jit_compile

    jit_options = resolve_jit_compile(jit_compile)
    if isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int) or steps_per_execution < 1:
        raise ValueError(f"steps_per_execution must be a positive integer, received {steps_per_execution!r}.")
    if steps_per_execution != 1:
        warnings.warn(
            "steps_per_execution has no effect in kerasish: the training step already runs without host "
            "synchronisation, so there is nothing to amortise.",
            stacklevel=3,
        )
    dev = resolve_device(device)
    raw_loss = loss if isinstance(loss, str) else None
    if multi and isinstance(loss, (dict, list, tuple)):
        values = loss.values() if isinstance(loss, dict) else loss
        raw_loss = loss if all(isinstance(v, str) or v is None for v in values) else None
    return CompileConfig(
        optimizer=opt, loss=loss_obj, loss_name=loss_name, metric_ids=metric_ids, loss_weight=weight,
        jit_compile=jit_options is not None, jit_compile_options=jit_options, device=dev,
        steps_per_execution=steps_per_execution, run_eagerly=bool(run_eagerly),
        raw={"loss": raw_loss, "metrics": [m for m in metric_ids if isinstance(m, str)],
             "loss_weights": loss_weights if multi else None,
             "multi_metrics": metrics if multi and _jsonable(metrics) else None},
        heads=heads,
        weighted_metric_ids=[] if multi else _metric_list(weighted_metrics),
        has_metrics=metrics is not None or weighted_metrics is not None,
    )


def keep_previous(cfg: CompileConfig, previous: CompileConfig, keep_loss: bool, keep_metrics: bool) -> None:
    """Carries the loss and/or the metrics of an earlier compile() into `cfg`, as Keras 3 does.

    Keras's compile() replaces its compiled loss only when `loss` is given, and its compiled metrics only
    when `metrics` or `weighted_metrics` is: `compile(optimizer="adam")` on a model compiled before
    with `loss="mse"` keeps training on the mean squared error.
    """
    if keep_loss:
        cfg.loss, cfg.loss_name, cfg.loss_weight = previous.loss, previous.loss_name, previous.loss_weight
        cfg.raw["loss"], cfg.raw["loss_weights"] = previous.raw.get("loss"), previous.raw.get("loss_weights")
    if keep_metrics:
        cfg.metric_ids, cfg.weighted_metric_ids = list(previous.metric_ids), list(previous.weighted_metric_ids)
        cfg.raw["metrics"], cfg.raw["multi_metrics"] = previous.raw.get("metrics"), previous.raw.get("multi_metrics")
        cfg.has_metrics = previous.has_metrics
    if cfg.heads is not None and previous.heads is not None and len(cfg.heads) == len(previous.heads):
        for head, old in zip(cfg.heads, previous.heads):
            if keep_loss:
                head.loss, head.loss_name, head.weight = old.loss, old.loss_name, old.weight
            if keep_metrics:
                head.metric_ids = list(old.metric_ids)


def _jsonable(value: Any) -> bool:
    if isinstance(value, str) or value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False
