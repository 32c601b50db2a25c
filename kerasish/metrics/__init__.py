"""Metrics with Keras 3's names, arguments and semantics, accumulated on the device.

Modules: `metric` (the base class, `Mean`, `Sum`, `MeanMetricWrapper`), `accuracy`,
`regression` (regression, probabilistic, hinge and correlation means, `R2Score`),
`confusion` (counts, `Precision`, `Recall` and the *At* metrics), `auc`, `fscore`, `iou`.

String identifiers resolve as in Keras 3: a metric's class name or its snake_case form,
the short names ("mse", "mae", "mape", "msle", "bce"), and "accuracy"/"acc", which
becomes binary, sparse categorical or categorical accuracy from the shapes of the targets
and the model's output (see `resolve_accuracy`). kerasish also accepts every loss name
("huber", "log_cosh", ...) as the mean of that loss function, and "rmse" / "f1".
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Union

from kerasish.metrics.accuracy import (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy, accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from kerasish.metrics.auc import AUC
from kerasish.metrics.confusion import (
    FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall, RecallAtPrecision,
    SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives, TruePositives)
from kerasish.metrics.fscore import F1Score, FBetaScore
from kerasish.metrics.iou import IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from kerasish.metrics.metric import Mean, MeanMetricWrapper, Metric, Sum
from kerasish.metrics.regression import (
    BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, ConcordanceCorrelation, CosineSimilarity, Hinge,
    KLDivergence, LogCoshError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError,
    MeanSquaredLogarithmicError, PearsonCorrelation, Poisson, R2Score, RootMeanSquaredError,
    SparseCategoricalCrossentropy, SquaredHinge, concordance_correlation, pearson_correlation)
from kerasish.losses.functions import (  # noqa: F401 - Keras exports these under keras.metrics too
    binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
    categorical_hinge, hinge, huber, kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_error, mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy, squared_hinge)

_CLASSES = (
    Mean, Sum, MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError, R2Score, AUC,
    FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall, RecallAtPrecision,
    SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives, TruePositives, ConcordanceCorrelation,
    PearsonCorrelation, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, Accuracy, BinaryAccuracy, CategoricalAccuracy,
    SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, F1Score, FBetaScore, IoU,
    BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU,
)


def _snake(name: str) -> str:
    from kerasish.layers.layer import to_snake_case

    return to_snake_case(name)


#: Keras's table: class names, their snake_case forms and the short aliases.
_BY_NAME: Dict[str, type] = {}
for _c in _CLASSES:
    _BY_NAME[_c.__name__] = _c
    _BY_NAME[_snake(_c.__name__)] = _c
for _alias, _c in {"bce": BinaryCrossentropy, "mse": MeanSquaredError, "mae": MeanAbsoluteError,
                   "mape": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError}.items():
    _BY_NAME[_alias] = _BY_NAME[_alias.upper()] = _c
# kerasish's extra short names.
_BY_NAME.update({"rmse": RootMeanSquaredError, "f1": F1Score})

_ACCURACY_NAMES = ("accuracy", "acc")


def _loss_function(name: str) -> Optional[Callable[..., Any]]:
    from kerasish import losses

    return losses._FUNCTIONS.get(name.lower())


def resolve_accuracy(loss_name: Optional[str], output_shape: Optional[Sequence[Optional[int]]],
                     y_shape: Optional[Sequence[Optional[int]]]) -> type:
    """Keras 3's rule for the bare 'accuracy' string, from the shapes alone.

    Binary when the output's last axis is 1; sparse categorical when the targets have
    fewer axes than the output, or a last axis of 1 against several output units;
    categorical otherwise. The loss plays no part (a multi-unit sigmoid head trained with
    binary_crossentropy gets categorical accuracy, as in Keras). Only when a shape is
    unknown does the loss name decide.
    """
    if output_shape is not None and len(output_shape) and output_shape[-1] is not None and y_shape is not None:
        p_last, t_last = output_shape[-1], (y_shape[-1] if len(y_shape) else None)
        if p_last == 1:
            return BinaryAccuracy
        if len(y_shape) < len(output_shape) or (t_last == 1 and p_last > 1):
            return SparseCategoricalAccuracy
        return CategoricalAccuracy
    if output_shape is not None and len(output_shape) and output_shape[-1] == 1:
        return BinaryAccuracy
    return {"binary_crossentropy": BinaryAccuracy,
            "sparse_categorical_crossentropy": SparseCategoricalAccuracy}.get(loss_name or "", CategoricalAccuracy)


def get(identifier: Union[str, Metric, Callable, Dict[str, Any]], loss_name: Optional[str] = None,
        output_shape: Any = None, y_shape: Any = None) -> Metric:
    """Returns a fresh Metric for a name, a config dict, a Metric class or instance, or a function.

    A string's metric is named by the string (its key in `logs`, as in Keras: 'acc' stays
    'acc', 'mse' stays 'mse'); a function becomes a `MeanMetricWrapper` named after it.

    A dict is read by `deserialize` (Keras's envelope, the short form, a registered metric's).

    Raises:
        ValueError: unknown name (valid names listed with the closest match).
        TypeError: anything else.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in _ACCURACY_NAMES:
            return resolve_accuracy(loss_name, output_shape, y_shape)(name=identifier)
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
        if cls is not None:
            metric = cls()
            metric.name = identifier
            return metric
        fn = _loss_function(identifier)
        if fn is not None:
            return MeanMetricWrapper(fn, name=identifier)
        _check_known(identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise TypeError(
        f"A metric must be a name such as 'accuracy', a kerasish.metrics.Metric or a callable, "
        f"received {identifier!r} of type {type(identifier).__name__}."
    )


#: Keras's table for `deserialize`: class names, their snake_case forms, the short aliases, the base class.
_MODULE_OBJECTS: Dict[str, Any] = {**_BY_NAME, "Metric": Metric, "metric": Metric}
#: The functions `keras.metrics` exports: a function's envelope names one of them.
_FUNCTION_OBJECTS: Dict[str, Any] = {fn.__name__: fn for fn in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy,
    categorical_hinge, hinge, squared_hinge, kl_divergence, log_cosh, mean_absolute_error,
    mean_absolute_percentage_error, mean_squared_error, mean_squared_logarithmic_error, poisson,
    concordance_correlation, pearson_correlation)}


def serialize(metric: Any) -> Any:
    """`metric` in Keras 3's format, as `keras.metrics.serialize` writes it.

    A built-in metric gives `{'module': 'keras.metrics', 'class_name': 'AUC', 'config': {...},
    'registered_name': None}`; a subclass the same envelope with its own module and registered
    name; a function `{'module': 'builtins', 'class_name': 'function', 'config': <its name>,
    'registered_name': 'function'}`; a name comes back as it is.

    Raises:
        TypeError: for an object without `get_config()` that is not a function.

    Example:
        >>> serialize(Mean(name="m"))["config"]
        {'name': 'm', 'dtype': 'float32'}
    """
    from kerasish.saving.keras_objects import serialize_keras_object

    return serialize_keras_object(metric)


def deserialize(config: Any, custom_objects: Optional[Dict[str, Any]] = None) -> Any:
    """The metric `config` describes, as `keras.metrics.deserialize`.

    Args:
        config: a name (`'AUC'`, `'auc'`, `'mse'`: the class with its defaults), Keras's
            envelope, the short form `{'class_name': 'AUC', 'config': {...}}`, a function's
            envelope (`metrics.serialize(binary_accuracy)` gives `binary_accuracy` back, where
            Keras 3.15 fails on its own envelope), or None.
        custom_objects: `{name: class_or_function}` for your own metrics that are not
            registered. Defaults to `None`.

    Returns:
        A new metric, a user's function, or None. Unlike `get`, `'accuracy'` is the
        `Accuracy` class here, as in Keras.

    Raises:
        ValueError: for a name found nowhere (valid names listed) or a dict without `class_name`.
        TypeError: for a config whose `module` is None, as Keras.
    """
    from kerasish.saving.keras_objects import deserialize_module_object

    return deserialize_module_object(config, _MODULE_OBJECTS, custom_objects, kind="metric",
                                     function_objects=_FUNCTION_OBJECTS)


def check_name(identifier: Any) -> None:
    """Validates a metric identifier at compile time (before any data is seen)."""
    if isinstance(identifier, str):
        _check_known(identifier)
    elif not isinstance(identifier, (str, Metric, type)) and not callable(identifier):
        get(identifier)


def _known(name: str) -> bool:
    return (name.lower() in _ACCURACY_NAMES or name in _BY_NAME or name.lower() in _BY_NAME
            or _loss_function(name) is not None)


def _check_known(name: str) -> None:
    from kerasish.utils.text import unknown_name_message

    if not _known(name):
        raise ValueError(unknown_name_message(
            "metric", name, names(), "Or pass a kerasish.metrics.Metric or a callable fn(y_true, y_pred)."))


def names() -> list:
    from kerasish import losses

    snake = {n for n in _BY_NAME if not n[0].isupper()}
    return sorted(snake | set(_ACCURACY_NAMES) | set(losses._FUNCTIONS))


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, globals())
