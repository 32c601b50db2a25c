"""Resolve compile() arguments into one CompileConfig, checking names up front."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, List, Optional

import torch

from kerasish import losses as losses_mod
from kerasish import metrics as metrics_mod
from kerasish import optimizers as optimizers_mod
from kerasish.config import resolve_device


@dataclass
class CompileConfig:
    optimizer: optimizers_mod.Optimizer
    loss: Optional[losses_mod.Loss]
    loss_name: Optional[str]
    metric_ids: List[Any] = field(default_factory=list)
    loss_weight: float = 1.0
    jit_compile: bool = False
    device: torch.device = torch.device("cpu")
    steps_per_execution: int = 1
    raw: dict = field(default_factory=dict)


def build_compile_config(
    optimizer: Any, loss: Any, metrics: Any, loss_weights: Any, jit_compile: Any, device: Any,
    steps_per_execution: int = 1,
) -> CompileConfig:
    opt = optimizers_mod.get(optimizer)
    loss_obj = None
    loss_name = None
    if isinstance(loss, (list, tuple, dict)):
        if isinstance(loss, dict) or len(loss) != 1:
            raise ValueError(
                f"compile received {len(loss)} losses ({loss!r}), but per-output losses need a multi-output "
                "model (functional API), which kerasish does not support yet. Pass one loss."
            )
        loss = list(loss)[0]
    if loss is not None:
        loss_obj = losses_mod.get(loss)
        if isinstance(loss, str):
            loss_name = losses_mod.get(loss).__class__.__name__
            loss_name = {
                "CategoricalCrossentropy": "categorical_crossentropy",
                "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
                "BinaryCrossentropy": "binary_crossentropy",
            }.get(loss_name, loss.lower())
        elif isinstance(loss_obj, losses_mod.CategoricalCrossentropy):
            loss_name = "categorical_crossentropy"
        elif isinstance(loss_obj, losses_mod.SparseCategoricalCrossentropy):
            loss_name = "sparse_categorical_crossentropy"
        elif isinstance(loss_obj, losses_mod.BinaryCrossentropy):
            loss_name = "binary_crossentropy"
    if metrics is None:
        metric_ids: List[Any] = []
    elif isinstance(metrics, (list, tuple)):
        metric_ids = list(metrics)
    elif isinstance(metrics, dict):
        raise ValueError("Per-output metrics (a dict) need a multi-output model, which is not supported yet.")
    else:
        metric_ids = [metrics]
    for m in metric_ids:
        metrics_mod.check_name(m)
    weight = 1.0
    if loss_weights is not None:
        if isinstance(loss_weights, (list, tuple)) and len(loss_weights) == 1:
            loss_weights = loss_weights[0]
        if isinstance(loss_weights, bool) or not isinstance(loss_weights, (int, float)):
            raise ValueError(
                f"loss_weights for a single-output model must be a number or a one-element list, "
                f"received {loss_weights!r}."
            )
        weight = float(loss_weights)
    if jit_compile not in (True, False, "auto"):
        raise ValueError(f"jit_compile must be True, False or 'auto', received {jit_compile!r}.")
    if isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int) or steps_per_execution < 1:
        raise ValueError(f"steps_per_execution must be a positive integer, received {steps_per_execution!r}.")
    if steps_per_execution != 1:
        warnings.warn(
            "steps_per_execution has no effect in kerasish: the training step already runs without host "
            "synchronisation, so there is nothing to amortise.",
            stacklevel=3,
        )
    dev = resolve_device(device)
    return CompileConfig(
        optimizer=opt, loss=loss_obj, loss_name=loss_name, metric_ids=metric_ids, loss_weight=weight,
        jit_compile=jit_compile is True, device=dev, steps_per_execution=steps_per_execution,
        raw={"loss": loss if isinstance(loss, str) else None,
             "metrics": [m for m in metric_ids if isinstance(m, str)]},
    )
