"""Every loss class against Keras 3 (torch backend) on random inputs: values, reductions,
sample weights, config round trips, and the errors kerasish adds."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kerasish
from tests.keras_parity import assert_close, keras_module

RNG = np.random.default_rng(0)


def probs(*shape):
    x = RNG.uniform(0.05, 1.0, size=shape).astype("float32")
    return x / x.sum(-1, keepdims=True)


def onehot(*shape):
    return np.eye(shape[-1], dtype="float32")[RNG.integers(0, shape[-1], size=shape[:-1])]


def binary(*shape):
    return RNG.integers(0, 2, size=shape).astype("float32")


def normal(*shape):
    return RNG.normal(size=shape).astype("float32")


def positive(*shape):
    return RNG.uniform(0.1, 2.0, size=shape).astype("float32")


def unit(*shape):
    x = normal(*shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def sparse_labels(n_classes):
    return lambda *shape: RNG.integers(0, n_classes, size=shape[:-1]).astype("int64")


SHAPES = [(8, 4), (3, 5, 4)]
# name, constructor kwargs, y_true maker, y_pred maker, shapes
CASES = [
    ("MeanSquaredError", {}, normal, normal, SHAPES + [(6, 1)]),
    ("MeanAbsoluteError", {}, normal, normal, SHAPES),
    ("MeanAbsolutePercentageError", {}, positive, normal, SHAPES),
    ("MeanSquaredLogarithmicError", {}, positive, positive, SHAPES),
    ("CosineSimilarity", {"axis": -1}, normal, normal, SHAPES),
    ("Huber", {"delta": 0.7}, normal, normal, SHAPES),
    ("LogCosh", {}, normal, normal, SHAPES),
    ("Hinge", {}, binary, normal, SHAPES),
    ("SquaredHinge", {}, binary, normal, SHAPES),
    ("CategoricalHinge", {}, onehot, normal, SHAPES),
    ("KLDivergence", {}, probs, probs, SHAPES),
    ("Poisson", {}, positive, positive, SHAPES),
    ("BinaryCrossentropy", {}, binary, lambda *s: RNG.uniform(0.02, 0.98, size=s).astype("float32"), SHAPES),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, binary, normal, SHAPES),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 1.5}, binary,
     lambda *s: RNG.uniform(0.02, 0.98, size=s).astype("float32"), SHAPES),
    ("BinaryFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, binary, normal, SHAPES),
    ("CategoricalCrossentropy", {}, onehot, probs, SHAPES),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, onehot, normal, SHAPES),
    ("CategoricalFocalCrossentropy", {}, onehot, probs, SHAPES),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "alpha": 0.5}, onehot, normal, SHAPES),
    ("SparseCategoricalCrossentropy", {}, sparse_labels(4), probs, SHAPES),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, sparse_labels(4), normal, SHAPES),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": 1}, sparse_labels(4), normal, SHAPES),
    ("Dice", {}, binary, lambda *s: RNG.uniform(size=s).astype("float32"), SHAPES),
    ("Dice", {"axis": (1,)}, binary, lambda *s: RNG.uniform(size=s).astype("float32"), [(8, 4)]),
    ("Tversky", {"alpha": 0.3, "beta": 0.7}, binary, lambda *s: RNG.uniform(size=s).astype("float32"), SHAPES),
    ("Circle", {}, lambda *s: RNG.integers(0, 3, size=s[:1]).astype("int64"), unit, [(8, 4)]),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.3}, sparse_labels(4), probs, [(8, 4)]),
    ("CTC", {}, lambda *s: np.concatenate([RNG.integers(1, 4, size=(s[0], 2)), np.zeros((s[0], 1), "int64")], 1),
     normal, [(4, 6, 5)]),
]
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"]


def _weights(kind, values_shape):
    if kind is None:
        return None
    if kind == "per_sample":
        return RNG.uniform(0, 2, size=values_shape[:1]).astype("float32")
    if kind == "per_sample_col":
        return RNG.uniform(0, 2, size=values_shape[:1] + (1,)).astype("float32")
    return RNG.uniform(0, 2, size=values_shape).astype("float32")  # per value


@pytest.mark.parametrize("name, kwargs, make_true, make_pred, shapes", CASES,
                         ids=[f"{c[0]}-{'-'.join(map(str, c[1].values())) or 'default'}" for c in CASES])
def test_loss_matches_keras(name, kwargs, make_true, make_pred, shapes):
    k = keras_module()
    for i, shape in enumerate(shapes):
        y_true, y_pred = make_true(*shape), make_pred(*shape)
        values_shape = tuple(np.asarray(getattr(k.losses, name)(**kwargs, reduction="none")(y_true, y_pred)).shape)
        for reduction in REDUCTIONS if i == 0 else REDUCTIONS[:1]:
            for weight_kind in (None, "per_sample", "per_value"):
                if weight_kind == "per_value" and len(values_shape) < 2:
                    weight_kind = "per_sample_col" if values_shape else None
                if not values_shape and weight_kind is not None:
                    continue  # a scalar loss (Dice over every axis) takes no per-sample weight
                w = _weights(weight_kind, values_shape)
                # (N,) weights of (N, T) values: Keras needs them as (N, 1); kerasish takes both.
                w_keras = w[:, None] if weight_kind == "per_sample" and len(values_shape) == 2 else w
                if weight_kind == "per_sample" and (len(values_shape) > 2 or "ignore_class" in kwargs):
                    continue  # Keras fails to broadcast these (kerasish weights each sample's entries)
                ours = getattr(kerasish.losses, name)(**kwargs, reduction=reduction)(y_true, y_pred, w)
                theirs = getattr(k.losses, name)(**kwargs, reduction=reduction)(y_true, y_pred, w_keras)
                assert_close(ours, theirs, atol=2e-5, rtol=2e-4)


def test_sparse_ignore_class_divides_by_the_kept_entries():
    k = keras_module()
    y_true = np.array([0, 1, 2, 0])
    y_pred = probs(4, 3)
    for reduction in REDUCTIONS:
        ours = kerasish.losses.SparseCategoricalCrossentropy(ignore_class=0, reduction=reduction)(y_true, y_pred)
        theirs = k.losses.SparseCategoricalCrossentropy(ignore_class=0, reduction=reduction)(y_true, y_pred)
        assert_close(ours, theirs)
    kept = -np.log(y_pred[[1, 2], [1, 2]]).mean()
    assert float(kerasish.losses.SparseCategoricalCrossentropy(ignore_class=0)(y_true, y_pred)) == \
        pytest.approx(kept, rel=1e-5)


def test_mean_reduction_divides_by_the_number_of_values_not_the_weights():
    y, p, w = [[1.0], [2.0], [3.0]], [[2.0], [2.0], [2.0]], [1.0, 0.0, 0.0]
    assert float(kerasish.losses.MeanSquaredError(reduction="mean")(y, p, w)) == pytest.approx(1 / 3)
    assert float(kerasish.losses.MeanSquaredError(reduction="mean_with_sample_weight")(y, p, w)) == 1.0


def test_fit_with_ignore_class_trains_on_the_kept_entries_like_keras():
    k = keras_module()
    x = normal(16, 5)
    y = RNG.integers(0, 3, size=(16,))
    model = kerasish.Sequential([kerasish.layers.Dense(3, activation="softmax", input_shape=(5,))])
    theirs = k.Sequential([k.Input((5,)), k.layers.Dense(3, activation="softmax")])
    theirs.set_weights(model.get_weights())
    for m, lib in ((model, kerasish), (theirs, k)):
        m.compile(optimizer="sgd", loss=lib.losses.SparseCategoricalCrossentropy(ignore_class=0))
    ours_loss = model.evaluate(x, y, batch_size=16, verbose=0)
    theirs_loss = theirs.evaluate(x, y, batch_size=16, verbose=0)
    assert ours_loss == pytest.approx(theirs_loss, rel=1e-4)


@pytest.mark.parametrize("name, kwargs", sorted({(c[0], json.dumps(c[1])) for c in CASES}))
def test_config_round_trips_through_json(name, kwargs):
    cls = getattr(kerasish.losses, name)
    loss = cls(**json.loads(kwargs), reduction="sum", name="custom")
    config = json.loads(json.dumps(loss.get_config()))
    again = cls.from_config(config)
    assert again.get_config() == loss.get_config()
    assert again.name == "custom" and again.reduction == "sum"


def test_numpy_lists_and_scalars_are_accepted():
    loss = kerasish.losses.MeanAbsoluteError()
    assert float(loss([1.0, 2.0], [2.0, 2.0])) == pytest.approx(0.5)
    assert float(loss(np.array([[1.0]]), [[3.0]], 2.0)) == pytest.approx(4.0)


def test_errors_name_the_bad_argument():
    with pytest.raises(ValueError, match="reduction=.*'average'"):
        kerasish.losses.MeanSquaredError(reduction="average")
    with pytest.raises(ValueError, match="q must be in the interval"):
        kerasish.losses.CategoricalGeneralizedCrossEntropy(q=1.5)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        kerasish.losses.BinaryFocalCrossentropy(label_smoothing=2.0)
    with pytest.raises(ValueError, match="y_true.shape=\\(2, 3\\)"):
        kerasish.losses.SparseCategoricalCrossentropy()(np.zeros((2, 3)), probs(4, 3))
    with pytest.raises(ValueError, match="Targets `y_true`"):
        kerasish.losses.CTC()(np.zeros((2,)), normal(2, 3, 4))


@pytest.mark.parametrize("shape", [(128, 10), (4, 7, 5)])
def test_sparse_crossentropy_on_probabilities_equals_keras_formula_bitwise(shape):
    """The probability path computes Keras's -log(clip(p / sum(p))) at the label only: the same
    values and gradients, to the last bit, as the formula over every class."""
    import torch
    from kerasish.losses import functions as F

    torch.manual_seed(0)
    for p in (torch.softmax(torch.randn(*shape) * 40, -1), torch.rand(*shape, dtype=torch.float64) * 3):
        y = torch.randint(0, shape[-1], shape[:-1])
        a, b = p.clone().requires_grad_(), p.clone().requires_grad_()
        values, _ = F.sparse_categorical_crossentropy_with_mask(y, a)
        full = -torch.gather(F._log_probs(b, False, p.dim() - 1), -1, y.unsqueeze(-1)).squeeze(-1)
        assert torch.equal(values, full)
        assert torch.equal(torch.autograd.grad(values.sum(), a)[0], torch.autograd.grad(full.sum(), b)[0])
