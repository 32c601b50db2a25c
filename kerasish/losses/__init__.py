"""Losses with Keras 3's names, arguments and reductions.

Every loss computes unreduced values (`call`), then reduces them as Keras 3 does; see
`kerasish.losses.loss` for the reductions and `kerasish.losses.classes` for the logits
form `fit` uses with a softmax/sigmoid head. The lower-case functions
(`kerasish.losses.mean_squared_error`, ...) return the unreduced values, as Keras's do.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

import torch
from torch import nn

from kerasish.losses.classes import (
    CTC, BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy, CategoricalFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy, CategoricalHinge, Circle, CosineSimilarity, Dice, Hinge, Huber,
    KLDivergence, LogCosh, LossFunctionWrapper, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError,
    MeanSquaredLogarithmicError, Poisson, SparseCategoricalCrossentropy, SquaredHinge, Tversky)
from kerasish.losses.functions import (
    binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
    categorical_generalized_cross_entropy, categorical_hinge, circle, cosine_similarity, ctc, dice, hinge, huber,
    kl_divergence, kld, log_cosh, logcosh, mae, mape, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_error, mean_squared_logarithmic_error, mse, msle, poisson, sparse_categorical_crossentropy,
    squared_hinge, tversky)
from kerasish.losses.functions import squeeze_or_expand_to_same_rank
from kerasish.losses.loss import Loss, reduce_weighted_values, standardize_reduction
from kerasish.ops.dtypes import convert_to_tensor
from kerasish.registry import Registry

EPSILON = 1e-7

__all__ = [
    "Loss", "LossFunctionWrapper", "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy", "CategoricalGeneralizedCrossEntropy", "CategoricalHinge", "Circle",
    "CosineSimilarity", "CTC", "Dice", "Hinge", "Huber", "KLDivergence", "LogCosh", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
    "SparseCategoricalCrossentropy", "SquaredHinge", "Tversky", "get", "serialize", "deserialize", "names",
]


def reduce_weighted(values: torch.Tensor, sample_weight: Any) -> torch.Tensor:
    """Keras's default reduction, "sum_over_batch_size": sum(w * values) / values.numel()."""
    return reduce_weighted_values(values, sample_weight)


_registry: Registry[type] = Registry("loss")
#: Name -> (class, function): the function is what a loss name means as a metric.
_FUNCTIONS = {}
for _cls, _fn, _names in (
    (CategoricalCrossentropy, categorical_crossentropy, ("categorical_crossentropy",)),
    (SparseCategoricalCrossentropy, sparse_categorical_crossentropy, ("sparse_categorical_crossentropy",)),
    (BinaryCrossentropy, binary_crossentropy, ("binary_crossentropy", "bce")),
    (BinaryFocalCrossentropy, binary_focal_crossentropy, ("binary_focal_crossentropy",)),
    (CategoricalFocalCrossentropy, categorical_focal_crossentropy, ("categorical_focal_crossentropy",)),
    (MeanSquaredError, mean_squared_error, ("mean_squared_error", "mse")),
    (MeanAbsoluteError, mean_absolute_error, ("mean_absolute_error", "mae")),
    (MeanAbsolutePercentageError, mean_absolute_percentage_error, ("mean_absolute_percentage_error", "mape")),
    (MeanSquaredLogarithmicError, mean_squared_logarithmic_error, ("mean_squared_logarithmic_error", "msle")),
    (Huber, huber, ("huber", "huber_loss")),
    (LogCosh, log_cosh, ("log_cosh", "logcosh")),
    (Hinge, hinge, ("hinge",)),
    (SquaredHinge, squared_hinge, ("squared_hinge",)),
    (CategoricalHinge, categorical_hinge, ("categorical_hinge",)),
    (Poisson, poisson, ("poisson",)),
    (KLDivergence, kl_divergence, ("kl_divergence", "kld", "kullback_leibler_divergence")),
    (CosineSimilarity, cosine_similarity, ("cosine_similarity",)),
    (CTC, ctc, ("ctc",)),
    (Dice, dice, ("dice",)),
    (Tversky, tversky, ("tversky",)),
    (Circle, circle, ("circle",)),
):
    for _n in _names:
        _registry.add(_n, _cls)
        _FUNCTIONS[_n] = _fn
_BY_CLASS_NAME = {c.__name__: c for c in (
    CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy, BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy, MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, Huber, LogCosh, Hinge, SquaredHinge, CategoricalHinge, Poisson, KLDivergence,
    CosineSimilarity, CTC, Dice, Tversky, Circle, CategoricalGeneralizedCrossEntropy)}


def function(name: str) -> Callable[..., torch.Tensor]:
    """The unreduced loss function registered under `name` (`'mse'` -> `mean_squared_error`)."""
    key = name.lower()
    if key not in _FUNCTIONS:
        _registry.get(name)  # raises with the valid names
    return _FUNCTIONS[key]


class _CallableLoss(Loss):
    """Wraps a user callable `fn(y_true, y_pred)` (Keras order) or a torch loss module.

    A torch loss module (an `nn.Module`) is called in torch's order, `module(y_pred, y_true)`.
    Non-scalar results are reduced as Keras reduces unreduced losses.
    """

    def __init__(self, fn: Callable[..., torch.Tensor]):
        super().__init__(name=getattr(fn, "__name__", type(fn).__name__))
        self.fn = fn
        self.is_module = isinstance(fn, nn.Module)

    def call(self, y_true, y_pred):
        if self.is_module:
            ce = isinstance(self.fn, (nn.CrossEntropyLoss, nn.NLLLoss))
            if ce and y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
                y_true = y_true.squeeze(-1)
            if not ce:
                if y_true.shape != y_pred.shape and y_true.numel() == y_pred.numel():
                    y_true = y_true.reshape(y_pred.shape)
                if not y_true.is_floating_point():
                    y_true = y_true.to(y_pred.dtype)
            return self.fn(y_pred, y_true)
        # As Keras's LossFunctionWrapper: tensors, y_true in y_pred's float dtype, and the ranks aligned
        # (labels of shape (n,) meet predictions of shape (n, 1) as (n, 1), not broadcast to (n, n)).
        if type(y_pred) is not torch.Tensor:
            y_pred = convert_to_tensor(y_pred)
        if type(y_true) is not torch.Tensor:
            y_true = convert_to_tensor(y_true, device=y_pred.device)
        if y_pred.is_floating_point() and y_true.dtype != y_pred.dtype:
            y_true = y_true.to(y_pred.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self.call(y_true, y_pred)
        if not isinstance(values, torch.Tensor):
            raise TypeError(
                f"The loss {self.name!r} returned a {type(values).__name__} ({values!r}); expected a tensor computed "
                "from y_true and y_pred (one value per sample, or a scalar), so that it has a gradient. Use torch or "
                "kerasish.ops operations on the two arguments, e.g. ops.mean(ops.square(y_true - y_pred), axis=-1)."
            )
        if values.dim() == 0:
            if sample_weight is not None:
                raise ValueError(
                    f"The loss {self.name!r} returned a scalar, so sample_weight/class_weight cannot be "
                    "applied. Return per-sample values (e.g. a torch loss with reduction='none')."
                )
            return values
        return reduce_weighted_values(values, sample_weight)


#: Keras's table for `deserialize`: the classes by name, the functions by name and alias ('mse').
_MODULE_OBJECTS: Dict[str, Any] = {**_BY_CLASS_NAME, "Loss": Loss, "LossFunctionWrapper": LossFunctionWrapper,
                                   **_FUNCTIONS, **{a.upper(): _FUNCTIONS[a] for a in ("bce", "kld", "mae", "mape",
                                                                                       "mse", "msle")}}


def get(identifier: Union[str, Loss, Callable, Dict[str, Any], None]) -> Loss:
    """Returns a Loss for a name, a Loss instance or class, a config dict, a callable or a torch loss module.

    A dict is Keras's envelope or the short form (read by `deserialize`; a function's envelope
    gives that function wrapped as a Loss), or kerasish's older file form
    `{'class_name': 'mean_squared_error', 'config': {...}}`.

    Raises:
        ValueError: unknown name (valid names and the closest one listed).
        TypeError: anything else.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier in _BY_CLASS_NAME:
            return _BY_CLASS_NAME[identifier]()
        return _registry.get(identifier, fix="Pass one of these names, a kerasish.losses class or a callable.")()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:
        name = identifier["class_name"]
        if isinstance(name, str) and name in _registry and identifier.get("registered_name") is None:
            return _registry.get(name).from_config(identifier.get("config") or {})  # kerasish's older file form
        return get(deserialize(identifier))
    if callable(identifier):
        return _CallableLoss(identifier)
    raise TypeError(
        f"loss must be a name such as 'mse', a kerasish.losses.Loss, a callable or a torch loss module, "
        f"received {identifier!r} of type {type(identifier).__name__}."
    )


def serialize(loss: Any) -> Any:
    """`loss` in Keras 3's format, as `keras.losses.serialize` writes it.

    A built-in loss gives `{'module': 'keras.losses', 'class_name': 'MeanSquaredError', 'config':
    {...}, 'registered_name': None}`; a subclass the same envelope with its own module and
    registered name; a function (or a callable `get` wrapped) `{'module': 'builtins',
    'class_name': 'function', 'config': <its registered name>, 'registered_name': 'function'}`;
    a name comes back as it is.

    Raises:
        TypeError: for a torch loss module or another object without `get_config()`.

    Example:
        >>> serialize(MeanAbsoluteError())["class_name"]
        'MeanAbsoluteError'
    """
    from kerasish.saving.keras_objects import serialize_keras_object

    if isinstance(loss, _CallableLoss):
        loss = loss.fn  # what the user passed
    return serialize_keras_object(loss)


def deserialize(name: Any, custom_objects: Optional[Dict[str, Any]] = None) -> Any:
    """The loss `name` describes, as `keras.losses.deserialize`.

    Args:
        name: a class name (`'MeanSquaredError'`: the class with its defaults), a function's
            name or alias (`'mse'`: the function), Keras's envelope, the short form
            `{'class_name': 'Huber', 'config': {'delta': 2.0}}`, a function's envelope, or None.
        custom_objects: `{name: class_or_function}` for your own losses that are not
            registered. Defaults to `None`.

    Returns:
        A Loss, a loss function, or None.

    Raises:
        ValueError: for a name found nowhere (valid names listed) or a dict without `class_name`.
        TypeError: for a config whose `module` is None, as Keras.
    """
    from kerasish.saving.keras_objects import deserialize_module_object

    return deserialize_module_object(name, _MODULE_OBJECTS, custom_objects, kind="loss")


def _file_form(loss: Loss) -> Any:
    """`{'class_name': <kerasish's registered name>, 'config': ...}` for a built-in loss, else None:
    the form `.kerasish` files hold (read back by `get`)."""
    for name, cls in _registry.items():
        if type(loss) is cls:
            return {"class_name": name, "config": loss.get_config()}
    if type(loss) in _BY_CLASS_NAME.values():
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    return None


def names() -> list:
    return _registry.names()


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
