"""Model.get_state_tree / set_state_tree against Keras 3's (kerasish/training/state_tree.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from kerasish.training.state_tree import flatten
from tests.keras_parity import assert_close, keras_module

RNG = np.random.default_rng(0)
X = RNG.random((16, 4, 4, 2)).astype("float32")
Y = (RNG.random((16, 1)) > 0.5).astype("float32")


@pytest.fixture
def keras():
    return keras_module()


def _model(lib, optimizer="adam"):
    """Conv (a kernel in another layout in kerasish), BatchNormalization (non-trainable
    variables), Dense; Adam or a MultiOptimizer; a Mean-based and a variable-based metric."""
    model = lib.Sequential([lib.Input((4, 4, 2)), lib.layers.BatchNormalization(name="bn"),
                            lib.layers.Conv2D(3, 2, name="conv"), lib.layers.Flatten(name="flat"),
                            lib.layers.Dense(1, activation="sigmoid", name="out")], name="net")
    if optimizer == "adam":
        opt = lib.optimizers.Adam(0.01, name="adam")
    else:
        opt = lib.optimizers.MultiOptimizer(lib.optimizers.OptimizerMap(
            lib.optimizers.SGD(0.1, momentum=0.9, name="sgd"), {".*conv/.*": lib.optimizers.Adamax(0.01, name="adamax")}),
            name="multi")
    model.compile(optimizer=opt, loss="binary_crossentropy",
                  metrics=["mae", "accuracy", lib.metrics.Precision(name="prec")])
    return model


def _pair(keras, optimizer="adam"):
    theirs, ours = _model(keras, optimizer), _model(kerasish, optimizer)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def _fit(model, epochs=2):
    return model.fit(X, Y, batch_size=4, epochs=epochs, shuffle=False, verbose=0)


def _assert_same_trees(ours, theirs):
    a, b = flatten(ours), flatten(theirs)
    assert sorted(a) == sorted(b)
    for path in b:
        mine, keras_value = np.asarray(a[path]), np.asarray(b[path])
        assert mine.shape == keras_value.shape and mine.dtype == keras_value.dtype, path
        assert_close(mine, keras_value, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "multi"])
def test_state_tree_equals_keras_after_fit(keras, optimizer):
    theirs, ours = _pair(keras, optimizer)
    _fit(theirs)
    _fit(ours)
    _assert_same_trees(ours.get_state_tree("numpy_array"), theirs.get_state_tree("numpy_array"))


def test_state_tree_before_fit_equals_keras(keras):
    theirs, ours = _pair(keras, "multi")
    mine, keras_tree = ours.get_state_tree("numpy_array"), theirs.get_state_tree("numpy_array")
    assert list(mine) == ["trainable_variables", "non_trainable_variables", "optimizer_variables",
                          "metrics_variables"] == list(keras_tree)
    # Keras's optimizers are built by fit: before it, only their iteration and learning_rate.
    assert mine["optimizer_variables"] == {
        name: {"iteration": np.asarray(0, "int32"), "learning_rate": np.asarray(rate, "float32")}
        for name, rate in (("multi", 0.0), ("adamax", 0.01), ("sgd", 0.1))}
    _assert_same_trees(mine, keras_tree)


def test_backend_tensor_values(keras):
    ours = _model(kerasish)
    _fit(ours)
    tree = ours.get_state_tree()
    kernel = tree["trainable_variables"]["net"]["out"]["kernel"]
    assert isinstance(kernel, torch.Tensor) and not kernel.requires_grad
    assert kernel.data_ptr() == ours.layers[-1].kernel.data_ptr()  # the live value, as Keras's tree holds
    assert tuple(tree["trainable_variables"]["net"]["conv"]["kernel"].shape) == (2, 2, 2, 3)  # Keras's layout
    assert tree["optimizer_variables"]["adam"]["iteration"].dtype == torch.int32
    assert tree["metrics_variables"]["loss"]["total"].dtype == torch.float32
    arrays = ours.get_state_tree("numpy_array")
    momentum = arrays["optimizer_variables"]["adam"]["net_out_kernel_momentum"]
    _fit(ours, 1)
    assert not np.array_equal(momentum, ours.get_state_tree("numpy_array")["optimizer_variables"]["adam"][
        "net_out_kernel_momentum"])  # numpy_array values are copies, as Keras's numpy()


@pytest.mark.parametrize("optimizer", ["adam", "multi"])
def test_keras_tree_continues_training_identically(keras, optimizer):
    theirs, ours = _pair(keras, optimizer)
    _fit(theirs)
    ours.evaluate(X[:4], Y[:4], verbose=0)  # makes the compiled metrics (the first batch does, as in Keras)
    ours.set_state_tree(theirs.get_state_tree())
    _assert_same_trees(ours.get_state_tree("numpy_array"), theirs.get_state_tree("numpy_array"))
    k_hist, s_hist = _fit(theirs, 1).history, _fit(ours, 1).history
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-5, atol=1e-5, err_msg=key)
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-5)


def test_kerasish_tree_into_keras(keras):
    theirs, ours = _pair(keras)
    _fit(ours)
    _fit(theirs, 1)  # Keras's optimizer and metrics exist, with other values
    theirs.set_state_tree(ours.get_state_tree("numpy_array"))
    _assert_same_trees(ours.get_state_tree("numpy_array"), theirs.get_state_tree("numpy_array"))


def test_get_state_tree_errors():
    model = _model(kerasish)
    with pytest.raises(ValueError, match=r"Invalid `value_format` argument.*Received: value_format='torch'"):
        model.get_state_tree("torch")
    bare = kerasish.Sequential([kerasish.Input((2,)), kerasish.layers.Dense(1)])
    with pytest.raises(ValueError, match="get_state_tree\\(\\) on model .* which is not compiled.*compile"):
        bare.get_state_tree()
    bare.compile(optimizer="adafactor", loss="mse")
    with pytest.raises(ValueError, match=r"optimizer 'adafactor' \(Adafactor\) has no Keras variable paths"):
        bare.get_state_tree()
    pearson = kerasish.Sequential([kerasish.Input((2,)), kerasish.layers.Dense(1)])
    pearson.compile(optimizer="sgd", loss="mse", metrics=[kerasish.metrics.PearsonCorrelation()])
    pearson.fit(np.ones((4, 2)), np.arange(4.0)[:, None], verbose=0)
    with pytest.raises(NotImplementedError, match="metric 'pearson_correlation' \\(PearsonCorrelation\\)"):
        pearson.get_state_tree()


def test_set_state_tree_checks_everything_before_assigning():
    model = _model(kerasish)
    _fit(model, 1)
    before = model.get_state_tree("numpy_array")
    tree = model.get_state_tree("numpy_array")
    tree["trainable_variables"]["net"]["out"]["kernel"] = np.zeros((27, 1), "float32")
    tree["optimizer_variables"]["adam"]["nope"] = np.zeros(())
    with pytest.raises(ValueError, match=r"1 path\(s\) of 'optimizer_variables' match no variable.*\['adam/nope'\].*"
                                         r"nothing was assigned"):
        model.set_state_tree(tree)
    _assert_same_trees(model.get_state_tree("numpy_array"), before)
    with pytest.raises(ValueError, match=r"the value for 'net/out/kernel' has shape \(3, 1\), the variable has shape "
                                         r"\(27, 1\)"):
        model.set_state_tree({"trainable_variables": {"net": {"out": {"kernel": np.zeros((3, 1))}}}})
    with pytest.raises(ValueError, match="Unknown variable name: weights"):
        model.set_state_tree({"weights": {}})
    with pytest.raises(ValueError, match="'metrics_variables' must be a nested dict"):
        model.set_state_tree({"metrics_variables": [1]})
    fresh = _model(kerasish)
    with pytest.raises(ValueError, match=r"metrics_variables.*made by the first batch.*run a step first"):
        fresh.set_state_tree({"metrics_variables": before["metrics_variables"]})


def test_nadam_product_has_kerass_unnamed_variable_path():
    # Keras makes Nadam's momentum product without a name: 'variable' in a fresh session (see the
    # module docstring); kerasish writes that path.
    model = kerasish.Sequential([kerasish.Input((2,)), kerasish.layers.Dense(1, name="d")], name="n")
    model.compile(optimizer=kerasish.optimizers.Nadam(name="nadam"), loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
    tree = model.get_state_tree("numpy_array")["optimizer_variables"]
    assert sorted(tree) == ["nadam", "variable"]
    assert tree["variable"].dtype == np.float32 and 0 < float(tree["variable"]) < 1
