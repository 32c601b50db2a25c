"""Every metric class against Keras 3 (torch backend) on random inputs, the `metrics=[...]`
string rules of compile (History names and values), config round trips and errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, keras_module

# IoU warns about float weights in both libraries (its counts are integers, as in Keras).
pytestmark = pytest.mark.filterwarnings("ignore:You are passing weight as `float`")

RNG = np.random.default_rng(1)


def uniform(*s):
    return RNG.uniform(0.02, 0.98, size=s).astype("float32")


def normal(*s):
    return RNG.normal(size=s).astype("float32")


def positive(*s):
    return RNG.uniform(0.1, 2.0, size=s).astype("float32")


def binary(*s):
    return RNG.integers(0, 2, size=s).astype("float32")


def probs(*s):
    x = uniform(*s)
    return x / x.sum(-1, keepdims=True)


def onehot(*s):
    return np.eye(s[-1], dtype="float32")[RNG.integers(0, s[-1], size=s[:-1])]


def sparse(*s):
    return RNG.integers(0, s[-1], size=s[:-1]).astype("int64")


def ids(*s):
    return RNG.integers(0, 3, size=s[:-1]).astype("int64")


SHAPES = [(12, 4), (3, 5, 4)]
MATRIX = [(16, 4)]
VECTOR = [(16, 1), (16,)]
# name, kwargs, y_true maker, y_pred maker, shapes
CASES = [
    ("Accuracy", {}, ids, ids, [(12, 1)]),
    ("BinaryAccuracy", {"threshold": 0.4}, binary, uniform, SHAPES),
    ("CategoricalAccuracy", {}, onehot, probs, SHAPES),
    ("SparseCategoricalAccuracy", {}, sparse, probs, SHAPES),
    ("TopKCategoricalAccuracy", {"k": 2}, onehot, probs, SHAPES),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, sparse, probs, SHAPES),
    ("MeanSquaredError", {}, normal, normal, SHAPES),
    ("MeanAbsoluteError", {}, normal, normal, SHAPES),
    ("MeanAbsolutePercentageError", {}, positive, normal, SHAPES),
    ("MeanSquaredLogarithmicError", {}, positive, positive, SHAPES),
    ("RootMeanSquaredError", {}, normal, normal, SHAPES),
    ("CosineSimilarity", {}, normal, normal, SHAPES),
    ("LogCoshError", {}, normal, normal, SHAPES),
    ("Hinge", {}, binary, normal, SHAPES),
    ("SquaredHinge", {}, binary, normal, SHAPES),
    ("CategoricalHinge", {}, onehot, normal, SHAPES),
    ("KLDivergence", {}, probs, probs, SHAPES),
    ("Poisson", {}, positive, positive, SHAPES),
    ("BinaryCrossentropy", {}, binary, uniform, SHAPES),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, binary, normal, SHAPES),
    ("CategoricalCrossentropy", {}, onehot, probs, SHAPES),
    ("CategoricalCrossentropy", {"from_logits": True}, onehot, normal, SHAPES),
    ("SparseCategoricalCrossentropy", {}, sparse, probs, SHAPES),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 1}, sparse, normal, SHAPES),
    ("PearsonCorrelation", {}, normal, normal, MATRIX),
    ("ConcordanceCorrelation", {}, normal, normal, MATRIX),
    ("R2Score", {}, normal, normal, MATRIX),
    ("R2Score", {"class_aggregation": "variance_weighted_average"}, normal, normal, MATRIX),
    ("R2Score", {"class_aggregation": None}, normal, normal, MATRIX),
    ("TruePositives", {}, binary, uniform, SHAPES),
    ("FalsePositives", {"thresholds": [0.3, 0.7]}, binary, uniform, SHAPES),
    ("TrueNegatives", {}, binary, uniform, SHAPES),
    ("FalseNegatives", {"thresholds": [0.0, 0.5, 1.0]}, binary, uniform, SHAPES),
    ("Precision", {}, binary, uniform, SHAPES + VECTOR),
    ("Precision", {"thresholds": [0.2, 0.6]}, binary, uniform, SHAPES),
    ("Precision", {"top_k": 2}, onehot, probs, MATRIX),
    ("Precision", {"class_id": 2, "thresholds": 0.3}, onehot, probs, MATRIX),
    ("Recall", {}, binary, uniform, SHAPES + VECTOR),
    ("Recall", {"top_k": 1, "class_id": 1}, onehot, probs, MATRIX),
    ("PrecisionAtRecall", {"recall": 0.6}, binary, uniform, SHAPES),
    ("RecallAtPrecision", {"precision": 0.5, "num_thresholds": 50}, binary, uniform, SHAPES),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, binary, uniform, SHAPES),
    ("SpecificityAtSensitivity", {"sensitivity": 0.5, "class_id": 1}, onehot, probs, MATRIX),
    ("AUC", {}, binary, uniform, SHAPES + VECTOR),
    ("AUC", {"curve": "PR"}, binary, uniform, SHAPES),
    ("AUC", {"curve": "PR", "summation_method": "majoring", "num_thresholds": 20}, binary, uniform, SHAPES),
    ("AUC", {"curve": "PRGAIN", "summation_method": "minoring"}, binary, uniform, SHAPES),
    ("AUC", {"thresholds": [0.25, 0.5, 0.75], "from_logits": True}, binary, normal, SHAPES),
    ("AUC", {"multi_label": True, "label_weights": [1.0, 2.0, 0.5, 1.0]}, binary, uniform, MATRIX),
    ("AUC", {"multi_label": True, "num_labels": 4, "curve": "PR"}, binary, uniform, MATRIX),
    ("AUC", {"label_weights": [1.0, 2.0, 0.5, 1.0]}, binary, uniform, MATRIX),
    ("F1Score", {}, onehot, probs, MATRIX),
    ("F1Score", {"average": "macro", "threshold": 0.3}, binary, uniform, MATRIX),
    ("FBetaScore", {"average": "weighted", "beta": 2.0}, onehot, probs, MATRIX),
    ("FBetaScore", {"average": "micro", "beta": 0.5, "threshold": 0.4}, binary, uniform, MATRIX),
    ("MeanIoU", {"num_classes": 3}, ids, ids, [(16, 1), (4, 5, 1)]),
    ("IoU", {"num_classes": 3, "target_class_ids": [0, 2], "ignore_class": 1}, ids, ids, [(16, 1)]),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, binary, uniform, VECTOR),
    ("OneHotIoU", {"num_classes": 4, "target_class_ids": [1, 3]}, onehot, probs, MATRIX),
    ("OneHotMeanIoU", {"num_classes": 4}, onehot, probs, MATRIX),
]


def _sample_weight(shape, integer):
    # One weight per sample; per (sample, step) for sequences, which is what Keras broadcasts.
    shape = shape[:1] if len(shape) <= 2 else shape[:-1]
    if integer:  # IoU counts in integers, as Keras's
        return RNG.integers(0, 3, size=shape).astype("float32")
    return RNG.uniform(0, 2, size=shape).astype("float32")


@pytest.mark.parametrize("name, kwargs, make_true, make_pred, shapes", CASES,
                         ids=[f"{c[0]}-{'-'.join(map(str, c[1].values())) or 'default'}" for c in CASES])
def test_metric_matches_keras(name, kwargs, make_true, make_pred, shapes):
    k = keras_module()
    iou = "IoU" in name
    for shape in shapes:
        for weighted in (False, True):
            ours, theirs = getattr(kerasish.metrics, name)(**kwargs), getattr(k.metrics, name)(**kwargs)
            for _ in range(2):  # two batches: the state accumulates
                y_true, y_pred = make_true(*shape), make_pred(*shape)
                w = _sample_weight(shape, iou) if weighted else None
                ours.update_state(y_true, y_pred, sample_weight=w)
                theirs.update_state(y_true, y_pred, sample_weight=w)
            assert_close(ours.result(), theirs.result(), atol=2e-5, rtol=2e-4)
            ours.reset_state()
            theirs.reset_state()
            assert_close(ours.result(), theirs.result())
    assert ours.name == re.sub(r"_\d+$", "", theirs.name)  # Keras numbers repeated default names


@pytest.mark.parametrize("name, kwargs", sorted({(c[0], json.dumps(c[1])) for c in CASES}))
def test_config_round_trips_through_json(name, kwargs):
    k = keras_module()
    cls = getattr(kerasish.metrics, name)
    metric = cls(**json.loads(kwargs), name="custom")
    config = json.loads(json.dumps(metric.get_config()))
    assert cls.from_config(config).get_config() == metric.get_config()
    theirs = getattr(k.metrics, name)(**json.loads(kwargs), name="custom").get_config()
    assert set(theirs) <= set(config), name  # kerasish also keeps CosineSimilarity's axis


def test_standalone_metrics_take_lists_and_scalars():
    m = kerasish.metrics.Mean()
    m.update_state(3)
    m.update_state([1, 5])
    assert float(m.result()) == pytest.approx(3.0)
    acc = kerasish.metrics.SparseCategoricalAccuracy()
    acc.update_state([1, 2], [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    assert float(acc.result()) == 0.5
    p = kerasish.metrics.Precision()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[1, 1, 1, 0])
    assert float(p.result()) == pytest.approx(0.5)


def _fit_history(lib, loss, metrics, x, y, units, activation):
    if lib is kerasish:
        model = kerasish.Sequential([kerasish.layers.Dense(units, activation=activation, input_shape=x.shape[1:])])
    else:
        model = lib.Sequential([lib.Input(x.shape[1:]), lib.layers.Dense(units, activation=activation)])
    return model


@pytest.mark.parametrize("loss, units, activation, make_y, metrics", [
    ("binary_crossentropy", 3, "sigmoid", lambda n: binary(n, 3), ["accuracy", "binary_crossentropy"]),
    ("binary_crossentropy", 1, "sigmoid", lambda n: binary(n, 1), ["acc", "auc", "precision"]),
    ("sparse_categorical_crossentropy", 6, "softmax", lambda n: sparse(n, 6),
     ["accuracy", "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy"]),
    ("categorical_crossentropy", 4, "softmax", lambda n: onehot(n, 4),
     ["accuracy", "categorical_crossentropy", "kl_divergence", "recall"]),
    ("mse", 2, None, lambda n: normal(n, 2), ["mse", "mae", "mape", "msle", "root_mean_squared_error",
                                               "cosine_similarity", "log_cosh_error"]),
])
def test_compiled_metric_strings_match_keras_history(loss, units, activation, make_y, metrics):
    k = keras_module()
    x, y = normal(24, 5), make_y(24)
    ours = _fit_history(kerasish, loss, metrics, x, y, units, activation)
    theirs = _fit_history(k, loss, metrics, x, y, units, activation)
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizer="sgd", loss=loss, metrics=metrics)
    theirs.compile(optimizer="sgd", loss=loss, metrics=metrics)
    got = ours.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    want = theirs.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-5), key


def test_loss_names_that_keras_lacks_as_metrics_are_means_of_the_loss():
    m = kerasish.metrics.get("huber")
    m.update_state([[0.0, 2.0]], [[0.5, 0.0]])
    assert m.name == "huber"
    assert float(m.result()) == pytest.approx(float(kerasish.losses.Huber()([[0.0, 2.0]], [[0.5, 0.0]])))


def test_errors_name_the_bad_argument():
    with pytest.raises(ValueError, match="Threshold values must be in \\[0, 1\\]"):
        kerasish.metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="Invalid AUC curve value"):
        kerasish.metrics.AUC(curve="DET")
    with pytest.raises(ValueError, match="summation method"):
        kerasish.metrics.AUC(summation_method="trapezoid")
    with pytest.raises(ValueError, match="`num_labels` is needed only"):
        kerasish.metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match="`recall` must be in the range"):
        kerasish.metrics.PrecisionAtRecall(recall=2.0)
    with pytest.raises(ValueError, match="`beta` argument value. It should be a Python float"):
        kerasish.metrics.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="expects 2D inputs"):
        kerasish.metrics.F1Score()([1.0, 0.0], [0.2, 0.7])
    with pytest.raises(ValueError, match="Target class id 5 is out of range"):
        kerasish.metrics.IoU(num_classes=3, target_class_ids=[5])
    with pytest.raises(ValueError, match="class_aggregation"):
        kerasish.metrics.R2Score(class_aggregation="median")
    with pytest.raises(ValueError, match="Did you mean 'accuracy'"):
        kerasish.metrics.get("accurcy")


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_mean_of_scalar_losses_equals_keras(dtype):
    """A custom train_step's `loss_tracker.update_state(loss)` (one 0-d tensor per batch, the
    fast path) gives Keras's Mean; so does the general path it is mixed with (a list, a weight)."""
    import torch

    k = keras_module()
    values = [0.25, 1.5, 3.125, 1e-3, 7.0]
    ours, theirs = kerasish.metrics.Mean(), k.metrics.Mean()
    for v in values:
        ours.update_state(torch.tensor(v, dtype=getattr(torch, dtype)))
        theirs.update_state(k.ops.convert_to_tensor(v, dtype=dtype))
    ours.update_state([2.0, 4.0], sample_weight=[1.0, 3.0])
    theirs.update_state([2.0, 4.0], sample_weight=[1.0, 3.0])
    assert_close(ours.result(), theirs.result(), rtol=1e-6, atol=1e-7)
