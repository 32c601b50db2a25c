"""CompileMetrics: the metrics given to `compile`, as one entry of `model.metrics`.

Keras lists the compiled metrics as a single metric named 'compile_metrics' whose
`result()` is a dict. It is built from the first batch it sees (the targets' shape and
the loss decide what 'accuracy' means), then reused for training and validation, reset
at the start of each epoch and evaluation.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

import torch

from kerasish import metrics as metrics_mod
from kerasish.metrics import Metric


class CompileMetrics(Metric):
    """The compiled metrics of one model (single or several outputs).

    Args:
        model: the compiled model.
    """

    def __init__(self, model: Any) -> None:
        super().__init__(name="compile_metrics")
        self._model = model
        self.metrics: Optional[List[Metric]] = None
        # For several outputs: the output index each metric reads.
        self.heads: List[Optional[int]] = []

    @property
    def built(self) -> bool:
        return self.metrics is not None

    def build(self, y_sample: Any) -> List[Metric]:
        """Resolves the metric identifiers from the first targets (once per compile)."""
        if self.metrics is not None:
            return self.metrics
        model = self._model
        cfg = model._compile_config
        device = model.device
        if cfg.heads is not None:
            from kerasish.training.step import split_targets

            ys = split_targets(y_sample, [h.name for h in cfg.heads],
                               []) if y_sample is not None else [None] * len(cfg.heads)
            shapes = [t.shape for t in model.outputs] if hasattr(model, "outputs") else [None] * len(cfg.heads)
            metrics, heads = [], []
            for i, (head, y_head, shape) in enumerate(zip(cfg.heads, ys, shapes)):
                y_shape = tuple(y_head.shape) if isinstance(y_head, torch.Tensor) else None
                for ident in head.metric_ids:
                    m = copy.deepcopy(metrics_mod.get(ident, head.loss_name, shape, y_shape))
                    m.name = f"{head.name}_{m.name}"
                    metrics.append(m)
                    heads.append(i)
        else:
            out_shape = model.output_shape_or_none()
            y_shape = tuple(y_sample.shape) if isinstance(y_sample, torch.Tensor) else None
            metrics = [metrics_mod.get(m, cfg.loss_name, out_shape, y_shape) for m in cfg.metric_ids]
            names = {m.name for m in metrics}
            for ident in cfg.weighted_metric_ids:
                m = copy.deepcopy(metrics_mod.get(ident, cfg.loss_name, out_shape, y_shape))
                if m.name in names:
                    m.name = "weighted_" + m.name
                m.weighted = True  # Keras 3: only weighted_metrics see sample/class weights
                metrics.append(m)
            heads = [None] * len(metrics)
        for m in metrics:
            m.to(device)
        self.metrics, self.heads = metrics, heads
        return metrics

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Updates every compiled metric (built from this batch the first time)."""
        metrics = self.build(y_true)
        if any(h is not None for h in self.heads):
            from kerasish.training.step import split_targets

            cfg = self._model._compile_config
            names = [h.name for h in cfg.heads]
            ys = split_targets(y_true, names, [])
            outs = self._model.flatten_outputs(y_pred)
            for m, h in zip(metrics, self.heads):
                m.update_state(ys[h], _detach(outs[h]), sample_weight if m.weighted else None)
            return
        y_pred = _detach(y_pred)
        for m in metrics:
            m.update_state(y_true, y_pred, sample_weight if m.weighted else None)

    def result(self) -> Dict[str, torch.Tensor]:  # type: ignore[override]
        return {m.name: m.result() for m in (self.metrics or [])}

    def reset_state(self) -> None:
        for m in self.metrics or []:
            m.reset_state()

    def to(self, device: torch.device) -> "CompileMetrics":
        for m in self.metrics or []:
            m.to(device)
        return self


def _detach(t: Any) -> Any:
    return t.detach() if isinstance(t, torch.Tensor) else t
