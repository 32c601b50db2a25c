"""Keras 3's state tree of a model: every variable by its Keras path, read and written.

`model.get_state_tree()` gives `{'trainable_variables', 'non_trainable_variables',
'optimizer_variables', 'metrics_variables'}`, each a nested dict made by splitting the
variables' paths at '/' (`{'seq': {'dense': {'kernel': ...}}}`); `set_state_tree(tree)` assigns
such a tree (Keras's own included) back. Keras's names and layouts are used throughout, so
a tree moves between Keras and kerasish:

- the model's weights by `variable.path`, in Keras's layout (a Conv kernel is
  `(kh, kw, in, out)`);
- the optimizer's variables as Keras names them (`adam/iteration`, `adam/learning_rate`,
  `adam/seq_dense_kernel_momentum`, ...), from the same mapping the `.keras` writer uses
  (`saving/keras_optimizer.py`); a MultiOptimizer's and its sub-optimizers' together;
- the metrics' state by `<metric name at creation>/<variable name>`: `loss/total`,
  `mean_absolute_error/count` (a metric compiled as 'mae' is created by Keras under the name of
  its function), `prec/true_positives`.

Nadam's running momentum product is a Keras variable made without a name: its path is
`variable`, which Keras numbers (`variable_1`, ...) when a session has made others before, so a
Keras tree may name it differently; `set_state_tree` then refuses that path, naming it.

Each entry is a `(path, read, write)` triple; nothing here runs in a training step.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

#: (Keras path, read -> tensor in Keras's layout, write(value) with value in Keras's layout)
Entry = Tuple[str, Callable[[], torch.Tensor], Callable[[Any], None]]

GROUPS = ("trainable_variables", "non_trainable_variables", "optimizer_variables", "metrics_variables")
#: kerasish metrics built on Mean whose Keras counterparts keep other variables.
_NOT_MEAN_IN_KERAS = ("PearsonCorrelation", "ConcordanceCorrelation")


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    return torch.as_tensor(np.asarray(value))


def _holder_entry(path: str, holder: torch.Tensor, layout: Any = None, read_dtype: Optional[torch.dtype] = None
                  ) -> Entry:
    """The entry of a tensor kerasish holds (a weight, a metric accumulator)."""

    def read() -> torch.Tensor:
        value = holder.detach()
        if layout is not None:
            value = layout.to_keras(value)
        return value if read_dtype is None or value.dtype == read_dtype else value.to(read_dtype)

    def write(value: Any) -> None:
        value = _as_tensor(value)
        if layout is not None:
            value = layout.from_keras(value, tuple(holder.shape))
        if tuple(value.shape) != tuple(holder.shape):
            expected = tuple(holder.shape) if layout is None else tuple(layout.to_keras(holder.detach()).shape)
            raise ValueError(
                f"set_state_tree: the value for {path!r} has shape {tuple(_as_tensor(value).shape)}, the variable "
                f"has shape {expected}. Pass a tree from the same model (get_state_tree() gives its shapes)."
            )
        with torch.no_grad():
            holder.copy_(value.to(device=holder.device, dtype=holder.dtype))

    return path, read, write


def model_entries(model: Any, variables: List[Any]) -> List[Entry]:
    """The entries of the model's own variables, by path, in Keras's layout."""
    from kerasish.layers.weight_layout import layouts_under

    layouts = layouts_under(model)
    out = []
    for v in variables:
        path = getattr(v, "path", None)
        if not isinstance(path, str):
            raise ValueError(
                f"get_state_tree keys the variables by path, but a variable of shape {tuple(v.shape)} of model "
                f"{model.name!r} has none (a torch parameter kerasish did not create). Create weights with "
                "layer.add_weight(...) or kerasish layers, or read the torch module's state_dict() instead."
            )
        out.append(_holder_entry(path, v, layouts.get(id(v))))
    return out


def optimizer_entries(model: Any, *, created_only: bool) -> List[Entry]:
    """The entries of the compiled model's optimizer variables, named as Keras names them.

    `created_only`: before the first update (no step counted, no state made) only what Keras's
    optimizer holds before it is built: `iteration` and `learning_rate`.
    """
    from kerasish.saving import keras_optimizer

    optimizer = model.optimizer
    built = not created_only or bool(optimizer._iterations) or bool(
        optimizer.torch_optimizer is not None and len(optimizer.torch_optimizer.state))
    if not built:
        variables = keras_optimizer.keras_state_variables(model, built=False)
    else:
        model.ensure_optimizer()
        variables = keras_optimizer.keras_state_variables(model)
    return [(var.name, var.tensor, _scalar_safe(var.set)) for var in variables]


def _scalar_safe(put: Callable[[Any], None]) -> Callable[[Any], None]:
    def write(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()  # host sync: once per variable, when a tree is assigned
        put(value)

    return write


def _creation_name(metric: Any, ident: Any, prefix: str) -> str:
    """The name Keras's metric has when its variables are made (their path's first part): a name
    given to compile is its logs key, but Keras creates `'mae'` as `mean_absolute_error`."""
    name = metric.name[len(prefix):] if prefix and metric.name.startswith(prefix) else metric.name
    if not isinstance(ident, str) or ident.lower() in ("accuracy", "acc"):
        return name
    from kerasish.metrics.metric import MeanMetricWrapper

    if type(metric) is MeanMetricWrapper:
        return getattr(metric._fn, "__name__", name)
    try:
        return type(metric)().name
    except TypeError:  # a class with required arguments was not made from a name
        return name


def _compiled(model: Any) -> List[Tuple[Any, str]]:
    """The compiled metrics with the name their Keras variables are made under."""
    cfg = model._compile_config
    tracker = model._compile_metrics_obj() if cfg is not None and cfg.has_metrics else None
    metrics = getattr(tracker, "metrics", None)
    if not metrics:
        return []  # compile_metrics is built by the first batch, as Keras's
    if cfg.heads is not None:
        idents = [(ident, f"{h.name}_") for h in cfg.heads for ident in h.metric_ids]
    else:
        idents = [(ident, "") for ident in cfg.metric_ids] + [(ident, "") for ident in cfg.weighted_metric_ids]
    if len(idents) != len(metrics):
        idents = [(None, "")] * len(metrics)
    return [(m, _creation_name(m, ident, prefix)) for m, (ident, prefix) in zip(metrics, idents)]


def metrics_entries(model: Any) -> List[Entry]:
    """The entries of the metrics' state (the loss tracker, the compiled metrics, the layers' metrics).

    Raises:
        NotImplementedError: for a metric whose state kerasish keeps in a form Keras's variables
            do not have (named, with the way out).
    """
    from kerasish.metrics.metric import Mean
    from kerasish.training.compile_metrics import CompileMetrics

    named: List[Tuple[Any, str]] = []
    for metric in model.metrics:
        if isinstance(metric, CompileMetrics):
            named += _compiled(model)
        else:
            named.append((metric, metric.name))
    out: List[Entry] = []
    for metric, name in named:
        variables = metric.variables
        if variables:
            out += [_holder_entry(f"{name}/{v.name}", v) for v in variables]
        elif isinstance(metric, Mean) and type(metric).__name__ not in _NOT_MEAN_IN_KERAS:
            dtype = metric._torch_dtype
            out += [_holder_entry(f"{name}/total", metric.total, read_dtype=dtype),
                    _holder_entry(f"{name}/count", metric.count, read_dtype=dtype)]
        else:
            raise NotImplementedError(
                f"get_state_tree cannot give the state of metric {metric.name!r} ({type(metric).__name__}): kerasish "
                "keeps it in a form that has no Keras variable paths. Make its state with self.add_variable(...) "
                "(a custom metric), or leave 'metrics_variables' out: read model.get_state_tree() parts you need "
                "from model.trainable_variables / model.optimizer instead."
            )
    return out


def nest(entries: List[Entry], value_format: str) -> Dict[str, Any]:
    """Keras's nested dict of the entries' values (the path split at '/').

    Raises:
        ValueError: for a path found twice (Keras's message).
    """
    flat: Dict[str, Any] = {}
    for path, read, _ in entries:
        if path in flat:
            raise ValueError(
                f"The following variable path is found twice in the model: '{path}'. `get_state_tree()` can only be "
                "called when all variable paths are unique. Make sure to give unique names to your layers (and "
                "other objects)."
            )
        value = read()
        # A copy, as Keras's `numpy()`: a CPU tensor's numpy() would alias the live value.
        flat[path] = np.array(value.cpu().numpy()) if value_format == "numpy_array" else value
    tree: Dict[str, Any] = {}
    for path, value in flat.items():
        parts = path.split("/")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def flatten(tree: Any, prefix: str = "") -> Dict[str, Any]:
    """`{path: value}` of a nested dict (the inverse of `nest`)."""
    flat: Dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def metrics_pending(model: Any) -> bool:
    """Whether the compiled metrics are still to be made (by the first batch, as Keras's)."""
    cfg = model._compile_config
    return bool(cfg is not None and cfg.has_metrics and not getattr(model._compile_metrics_obj(), "metrics", None))


def plan(group: str, entries: List[Entry], tree: Any, hint: str = "") -> List[Tuple[Callable[[Any], None], Any]]:
    """The writes that assign a state tree's group: (write, value) pairs, every path checked first.

    Raises:
        ValueError: for a group that is not a dict, or a path that matches none of the model's
            variables of that group (Keras skips it silently; kerasish refuses, listing the paths
            it has).
    """
    if not isinstance(tree, dict):
        raise ValueError(
            f"set_state_tree: {group!r} must be a nested dict of values keyed by the parts of each variable's path, "
            f"received {type(tree).__name__}. Pass what get_state_tree() returns."
        )
    by_path: Dict[str, List[Entry]] = {}
    for entry in entries:
        by_path.setdefault(entry[0], []).append(entry)
    flat = flatten(tree)
    unknown = [p for p in flat if p not in by_path]
    if unknown:
        known = sorted(by_path)
        raise ValueError(
            f"set_state_tree: {len(unknown)} path(s) of {group!r} match no variable of the model: {unknown[:5]}. "
            f"The model's {group} are {known[:8]}{' ...' if len(known) > 8 else ''}. Pass a tree from "
            f"get_state_tree() of the same model (same layer, optimizer and metric names); nothing was assigned.{hint}"
        )
    writes = []
    for path, value in flat.items():
        for _, read, write in by_path[path]:
            shape, expected = tuple(np.shape(value)), tuple(read().shape)
            if shape != expected:
                raise ValueError(
                    f"set_state_tree: the value for {path!r} has shape {shape}, the variable has shape {expected}. "
                    "Pass a tree from the same model (get_state_tree() gives its shapes); nothing was assigned."
                )
            writes.append((write, value))
    return writes
