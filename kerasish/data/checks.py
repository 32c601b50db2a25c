"""Up-front checks of user data, raised before any weight changes.

Each error says what was wrong (the received value, shape or dtype), what was
expected, and how to fix it.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional, Sequence

import numpy as np
import torch

from kerasish.data.adapters import check_sample_weight, num_samples, shape_matches  # noqa: F401 (re-exported)
from kerasish.utils.host_sync import labelled_sync
from kerasish.utils.tree import first_leaf, map_structure

# The first batch's labels are read on the host, once per fit (kerasish.utils.host_sync).
_LABEL_CHECK = "label check of the first batch: once per fit"


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive integer, received batch_size={batch_size!r}. "
            "Pass e.g. batch_size=32 (fit also takes batch_size='auto' on CUDA: the largest batch that fits)."
        )
    return int(batch_size)


def check_validation_split(validation_split: Any) -> float:
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) or not (
        0.0 <= validation_split < 1.0
    ):
        raise ValueError(
            f"validation_split must be a float in [0, 1), received validation_split={validation_split!r}. "
            "Pass e.g. validation_split=0.2 to hold out the last 20% of the samples."
        )
    return float(validation_split)


def check_lengths(x: Any, y: Any, sample_weight: Any = None) -> int:
    """Every array in x, y and sample_weight must have the same number of samples (> 0)."""
    sizes = {}
    for name, part in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        if part is None:
            continue
        leaves = []
        map_structure(lambda a: leaves.append(a), part)
        for i, leaf in enumerate(leaves):
            if getattr(leaf, "ndim", 1) == 0:
                raise ValueError(
                    f"{name} is a scalar (shape ()); expected an array with the samples on the first axis."
                )
            sizes[name if len(leaves) == 1 else f"{name}[{i}]"] = int(leaf.shape[0])
    n = sizes.get("x", next(iter(sizes.values()), 0))
    if n == 0:
        raise ValueError(
            "x is empty (0 samples). Pass at least one sample; check how the data was loaded or filtered."
        )
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{k} has {v}" for k, v in sizes.items())
        raise ValueError(
            f"Data cardinality is ambiguous: {detail} samples. Make sure all arrays contain the same "
            "number of samples (the first axis)."
        )
    return n


def check_finite(t: Any, what: str) -> None:
    """Rejects NaN/inf in float arrays (one pass over the data, once per call)."""
    leaves = []
    map_structure(lambda a: leaves.append(a), t)
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor) and leaf.is_floating_point():
            # min and max are finite iff every value is (NaN propagates through both):
            # one pass, no full-size mask or float64 copy (60000x784 floats: ~4 ms).
            if leaf.numel() == 0:
                continue
            lo, hi = torch.aminmax(leaf)
            if bool(torch.isfinite(lo) & torch.isfinite(hi)):  # host sync: once per call
                continue
            finite = torch.isfinite(leaf)
            if not bool(finite.all()):
                bad = (~finite).nonzero()[0].tolist()
                value = leaf[tuple(bad)].item()
                raise ValueError(
                    f"{what} contains a non-finite value ({value}) at index {tuple(bad)}. "
                    f"Training on NaN/inf gives NaN weights. Clean {what} first, e.g. with "
                    "np.nan_to_num or by dropping those samples."
                )


def check_class_weight(class_weight: dict, num_classes: Optional[int]) -> None:
    """class_weight values must be finite numbers >= 0 and its keys classes the model has."""
    for k, v in class_weight.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(float(v)) or v < 0:
            raise ValueError(
                f"class_weight[{k!r}] is {v!r}; class weights must be finite numbers >= 0 (a negative weight makes "
                "the optimizer maximise that class's loss, NaN/inf turns every model weight NaN). Received "
                f"class_weight={class_weight!r}. Pass e.g. {{0: 1.0, 1: 5.0}}."
            )
    if num_classes is None:
        return
    outside = sorted(int(k) for k in class_weight if int(k) >= num_classes)
    if outside:
        raise ValueError(
            f"class_weight has key(s) {outside} for class(es) the model does not have: its output has "
            f"{num_classes} classes (0 to {num_classes - 1}). Received class_weight={class_weight!r}. Drop those "
            "keys, or give the last layer as many units as there are classes."
        )


def check_shuffle(shuffle: Any) -> bool:
    """shuffle must be a bool: a string such as 'no' would be truthy and shuffle silently."""
    if isinstance(shuffle, (bool, np.bool_)):
        return bool(shuffle)
    hint = (" Keras's shuffle='batch' exists for TensorFlow datasets only; kerasish shuffles whole samples: "
            "pass shuffle=True.") if shuffle == "batch" else ""
    raise TypeError(
        f"shuffle must be True or False, received shuffle={shuffle!r} (type {type(shuffle).__name__}).{hint} "
        "Pass shuffle=False to keep the data's order."
    )


def warn_if_shuffle_ignored(x: Any, shuffle: bool) -> None:
    """Warns, as Keras does, when fit's `shuffle=True` (its default) cannot reorder `x`: a
    DataLoader, an IterableDataset, a generator or another iterable yields its batches in its own
    order; so does an endless PyDataset (`num_batches` None). Arrays, map-style Datasets and PyDatasets
    of known length are shuffled, so they pass silently."""
    from torch.utils.data import Dataset, IterableDataset

    from kerasish.utils.py_dataset import PyDataset

    if not shuffle:
        return
    if isinstance(x, PyDataset):
        if x.num_batches is not None:
            return
    elif isinstance(x, Dataset) and not isinstance(x, IterableDataset):
        return
    warnings.warn(
        f"fit(shuffle=True) is ignored for x of type {type(x).__name__}: it yields its batches in its own order. "
        "Shuffle in the data itself (DataLoader(..., shuffle=True)), or pass shuffle=False to silence this "
        "warning.", stacklevel=5)


def check_per_sample_values(values: Any, y_pred: torch.Tensor, what: str, fix: str) -> None:
    """A loss or metric function must return a scalar or per-sample values: y_pred's shape with trailing
    axes reduced away. Anything else (e.g. (n, n, 1) from targets broadcast against outputs) would be
    averaged into a wrong number. Shapes only: no host sync."""
    if not isinstance(values, torch.Tensor) or not isinstance(y_pred, torch.Tensor) or values.dim() == 0:
        return
    v, o = tuple(values.shape), tuple(y_pred.shape)
    if v == o[:len(v)] or (v[-1:] == (1,) and v[:-1] == o[:len(v) - 1]):
        return
    raise ValueError(
        f"{what} returned values of shape {v} for a batch of {o[0] if o else 1} samples with y_pred of shape {o}; "
        f"expected a scalar or one value per sample: shape {o[:1]}, or y_pred's shape {o} reduced over trailing "
        f"axes. Reducing {v} would average unrelated values (often y and y_pred broadcast against each other). "
        f"{fix}"
    )


def check_input_shape(x: Any, expected: Optional[Sequence[Optional[int]]], model_name: str,
                      adjusts_rank: bool = False) -> None:
    """x's per-sample shape must match the model's declared input shape. A model that `adjusts_rank`
    (Keras's functional models) also takes samples with a trailing axis of 1 more or less than it
    declares, and adds or drops that axis itself."""
    if expected is None or isinstance(x, (list, tuple, dict)):
        return
    got = tuple(first_leaf(x).shape[1:])
    exp = tuple(expected[1:])
    if adjusts_rank and ((exp[-1:] == (1,) and shape_matches(got, exp[:-1]))
                         or (got[-1:] == (1,) and shape_matches(got[:-1], exp))):
        return
    if not shape_matches(got, exp):
        hint = ""
        if all(e is not None for e in exp) and math.prod(got) == math.prod(exp):
            hint = f" The sizes agree, so reshape it: x.reshape(-1, {', '.join(str(e) for e in exp)})."
        raise ValueError(
            f"Input of model {model_name!r} is incompatible: expected samples of shape {exp} "
            f"(input_shape of the first layer), received x with samples of shape {got} "
            f"(x.shape={tuple(first_leaf(x).shape)}).{hint}"
        )


def check_labels(y: Any, loss_name: Optional[str], output_shape: Optional[Sequence[Optional[int]]]) -> None:
    """Label checks for the cross-entropies: range, and sparse vs one-hot encoding."""
    if loss_name is None or output_shape is None or not isinstance(y, torch.Tensor):
        return
    num_classes = output_shape[-1]
    if loss_name == "sparse_categorical_crossentropy":
        if y.dim() == len(output_shape) and y.shape[-1] == num_classes and num_classes and num_classes > 1:
            raise ValueError(
                f"sparse_categorical_crossentropy expects integer class labels of shape {(y.shape[0],)}, "
                f"but received y of shape {tuple(y.shape)}, which looks one-hot encoded. Use "
                "loss='categorical_crossentropy' for one-hot labels, or pass y.argmax(-1)."
            )
        mid = tuple(output_shape[1:-1])  # e.g. the time axis of per-step class scores

        def fits(shape: tuple) -> bool:
            return len(shape) == len(mid) and all(m is None or m == s for m, s in zip(mid, shape))

        if y.dim() > 1 and not (fits(tuple(y.shape[1:])) or (y.shape[-1] == 1 and fits(tuple(y.shape[1:-1])))):
            raise ValueError(
                f"sparse_categorical_crossentropy expects integer class labels of shape {(y.shape[0],) + mid} "
                f"(or {(y.shape[0],) + mid + (1,)}), received y of shape {tuple(y.shape)}. Pass one class index "
                "per sample (e.g. y.argmax(-1) for one-hot rows), or use loss='categorical_crossentropy' "
                "for one-hot labels."
            )
        if y.is_floating_point():
            with labelled_sync(_LABEL_CHECK, of=y):
                integral = bool((y == y.round()).all())
            if not integral:
                raise ValueError(
                    "sparse_categorical_crossentropy expects integer class labels, received float labels "
                    "with fractional parts. Pass integer labels, or use categorical_crossentropy for "
                    "probability targets."
                )
        if num_classes is not None and y.numel():
            with labelled_sync(_LABEL_CHECK, of=y):
                lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= num_classes:
                raise ValueError(
                    f"Received a label value of {hi if hi >= num_classes else lo}, which is outside the valid "
                    f"range [0, {num_classes - 1}] for a model with {num_classes} output units. "
                    f"Check the labels, or give the last layer as many units as there are classes."
                )
    elif loss_name == "categorical_crossentropy":
        if num_classes and num_classes > 1 and (y.dim() < len(output_shape) or y.shape[-1] != num_classes):
            fix = (
                "Use loss='sparse_categorical_crossentropy' for integer labels, or one-hot encode them "
                "with kerasish.utils.to_categorical(y, num_classes)."
            )
            raise ValueError(
                f"categorical_crossentropy expects one-hot labels of shape (n, {num_classes}), received y of "
                f"shape {tuple(y.shape)}. {fix}"
            )
    elif loss_name in _ELEMENTWISE_LOSSES:
        _check_target_shape(y, loss_name, output_shape)
    if loss_name == "binary_crossentropy" and y.numel():
        lo, hi = float(y.min()), float(y.max())  # host sync: once per fit
        if lo < 0 or hi > 1:
            raise ValueError(
                f"binary_crossentropy expects labels in [0, 1], received values from {lo} to {hi}. "
                "Map the labels to 0/1 first."
            )


# Losses computed value by value: y must hold one target per output value.
_ELEMENTWISE_LOSSES = frozenset((
    "binary_crossentropy", "mean_squared_error", "mse", "mean_absolute_error", "mae",
    "mean_absolute_percentage_error", "mape", "mean_squared_logarithmic_error", "msle", "huber", "huber_loss",
    "log_cosh", "logcosh", "hinge", "squared_hinge", "poisson",
))


def _check_target_shape(y: torch.Tensor, loss_name: str, output_shape: Sequence[Optional[int]]) -> None:
    """y's per-sample shape must match the output's, up to one trailing axis of size 1 (or hold as many
    values when both are known). Broadcasting is refused: Keras broadcasts (n, 3) targets against (n, 1)
    outputs and trains on a wrong loss without a word."""
    got = tuple(y.shape[1:])
    out = tuple(output_shape[1:])
    known = None not in out
    if known and math.prod(got) == math.prod(out):
        return  # the loss reshapes (n,) to (n, 1) and the like
    if shape_matches(got, out) or shape_matches(got + (1,), out) or (got[-1:] == (1,) and shape_matches(got[:-1], out)):
        return
    expected = ", ".join(str(d) for d in out)
    raise ValueError(
        f"{loss_name} compares y with the model's output value by value, but y has samples of shape {got} "
        f"(y.shape={tuple(y.shape)}) and the output has samples of shape {out}; they would broadcast into a "
        f"wrong loss. Give the last layer as many units as y has targets, or pass y of shape (n, {expected})."
    )


def check_token_ids(x: Any, layer: Any) -> Any:
    """For a model that starts with an Embedding: ids must be integers in [0, input_dim).

    Float arrays holding whole numbers (e.g. from pad_sequences(dtype='float32')) are
    cast to int64, as Keras casts them; anything else is a clear error instead of
    torch's "index out of range in self". Returns x (possibly cast).
    """
    if not isinstance(x, torch.Tensor) or layer is None or not hasattr(layer, "input_dim"):
        return x
    if x.is_floating_point():
        if x.numel() and not bool((x == x.round()).all()):  # host sync: once per call
            raise TypeError(
                f"The model starts with {type(layer).__name__} {layer.name!r}, which takes integer token ids, "
                f"but x holds non-integer values (dtype {x.dtype}). Pass integer ids, e.g. from "
                "TextVectorization or pad_sequences."
            )
        x = x.long()
    if x.numel():
        lo, hi = int(x.min()), int(x.max())  # host sync: once per call
        if lo < 0 or hi >= layer.input_dim:
            bad = hi if hi >= layer.input_dim else lo
            raise ValueError(
                f"x holds the token id {bad}, outside [0, {layer.input_dim - 1}] for "
                f"{type(layer).__name__} {layer.name!r} (input_dim={layer.input_dim}). Raise input_dim to the "
                "vocabulary size (+1 when 0 is padding), or map unknown words to an OOV id below it."
            )
    return x


def check_input_structure(model: Any, x: Any) -> None:
    """A dict or a list of several arrays given to a model that takes one input is refused by name
    (a Sequential, or a functional model with one input); other models decide for themselves."""
    from kerasish.models.sequential import Sequential

    inputs = getattr(model, "inputs", None) if not isinstance(model, Sequential) else [None]
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 1:
        return
    if isinstance(x, dict) and not isinstance(model, Sequential):
        return  # a functional model maps dict keys to its input names itself
    if isinstance(x, dict):
        raise ValueError(
            f"{model.name!r} takes one input, but x is a dict with keys {sorted(map(str, x))}. Pass the array "
            "itself (x=...), or build a functional model whose Input(name=...) matches the keys."
        )
    if isinstance(x, (list, tuple)) and len(x) > 1 and all(isinstance(v, (np.ndarray, torch.Tensor)) for v in x):
        raise ValueError(
            f"{model.name!r} takes one input, but x is a {type(x).__name__} of {len(x)} arrays. Pass one array; "
            "for several inputs build a functional model with one Input per array."
        )
