"""Multi-output models fuse each cross-entropy head with its softmax/sigmoid output layer, as
single-output models do, and still report Keras's losses and metrics."""

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from tests.keras_parity import assert_close, keras_module

RNG = np.random.default_rng(3)
X = RNG.normal(size=(32, 6)).astype("float32")
Y_CLASS = np.eye(4, dtype="float32")[RNG.integers(0, 4, 32)]
Y_BIN = RNG.integers(0, 2, (32, 1)).astype("float32")
Y_REG = RNG.normal(size=(32, 2)).astype("float32")


def _model(lib, Input, Model):
    inp = Input((6,))
    h = lib.Dense(8, activation="relu", name="hidden")(inp)
    return Model(inp, [lib.Dense(4, activation="softmax", name="cls")(h),
                       lib.Dense(1, activation="sigmoid", name="bin")(h),
                       lib.Dense(2, name="reg")(h)])


def _compile(model):
    model.compile(optimizer="sgd", loss=["categorical_crossentropy", "binary_crossentropy", "mse"],
                  loss_weights=[1.0, 0.5, 2.0], metrics=[["accuracy"], ["accuracy", "auc"], ["mae"]])


def test_each_cross_entropy_head_is_fused_and_the_regression_head_is_not():
    model = _model(layers, kerasish.Input, kerasish.Model)
    _compile(model)
    model.fit(X, [Y_CLASS, Y_BIN, Y_REG], epochs=1, batch_size=16, verbose=0)
    from kerasish.training.trainer import _make_steps

    steps = _make_steps(model, [Y_CLASS[:2], Y_BIN[:2], Y_REG[:2]], train=True)
    assert steps.logits_outputs == (0, 1)
    logits = model.forward_logits(torch.tensor(X), logits_outputs=(0, 1))
    probs = model(torch.tensor(X))
    assert_close(torch.softmax(logits[0], -1), probs[0])
    assert_close(torch.sigmoid(logits[1]), probs[1])
    assert_close(logits[2], probs[2])


def test_losses_and_metrics_equal_keras_on_the_same_weights():
    keras = keras_module()
    theirs = _model(keras.layers, keras.Input, keras.Model)
    ours = _model(layers, kerasish.Input, kerasish.Model)
    ours.set_weights(theirs.get_weights())
    _compile(theirs)
    _compile(ours)
    expected = theirs.evaluate(X, [Y_CLASS, Y_BIN, Y_REG], batch_size=8, verbose=0, return_dict=True)
    got = ours.evaluate(X, [Y_CLASS, Y_BIN, Y_REG], batch_size=8, verbose=0, return_dict=True)
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-5), key
    # one training step from the same weights moves them the same way
    theirs.fit(X, [Y_CLASS, Y_BIN, Y_REG], batch_size=32, epochs=1, verbose=0, shuffle=False)
    ours.fit(X, [Y_CLASS, Y_BIN, Y_REG], batch_size=32, epochs=1, verbose=0, shuffle=False)
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-5, rtol=1e-4)


def test_saturated_softmax_head_keeps_finite_gradients():
    model = _model(layers, kerasish.Input, kerasish.Model)
    _compile(model)
    with torch.no_grad():
        model.get_layer("cls").kernel.mul_(1e3)  # softmax saturates: probabilities are exactly 0 and 1
    model.fit(X, [Y_CLASS, Y_BIN, Y_REG], epochs=1, batch_size=32, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_an_output_that_another_layer_reads_gets_probabilities_there():
    inp = kerasish.Input((6,))
    probs = layers.Dense(3, activation="softmax", name="p")(inp)
    doubled = layers.Lambda(lambda t: t * 2, name="double")(probs)
    model = kerasish.Model(inp, [probs, doubled])
    outs = model.forward_logits(torch.tensor(X), logits_outputs=(0,))
    plain = model(torch.tensor(X))
    assert_close(outs[1], plain[1])  # the consumer saw probabilities
    assert_close(torch.softmax(outs[0], -1), plain[0])


@pytest.mark.parametrize("name", ["double", "float", "train", "cuda", "eval"])
def test_layers_may_be_named_like_torch_module_methods(name, tmp_path):
    model = kerasish.Sequential([layers.Input((6,)), layers.Dense(2, name=name), layers.Dense(1)])
    assert model.get_layer(name).units == 2
    model.save(tmp_path / "m.kerasish")
    assert_close(kerasish.load_model(tmp_path / "m.kerasish").predict(X, verbose=0), model.predict(X, verbose=0))


def test_layer_names_with_dots_work_as_in_keras(tmp_path):
    inner = kerasish.Sequential([layers.Input((6,)), layers.Dense(2, name="dense.1")], name="mobilenetv2_1.00_224")
    inp = kerasish.Input((6,))
    model = kerasish.Model(inp, layers.Dense(1, name="head")(inner(inp)))
    assert [layer.name for layer in model.layers][1:] == ["mobilenetv2_1.00_224", "head"]
    assert model.get_layer("mobilenetv2_1.00_224").get_layer("dense.1").units == 2
    model.save(tmp_path / "m.kerasish")
    assert_close(kerasish.load_model(tmp_path / "m.kerasish").predict(X, verbose=0), model.predict(X, verbose=0))


def test_functional_layers_and_weights_are_in_keras_order_so_set_weights_cannot_swap_branches():
    keras = keras_module()

    def build(lib):
        L = lib.layers
        a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
        x2 = L.Dense(3, name="da2")(L.Dense(3, name="da")(a))
        y = L.Dense(3, name="db")(b)
        return lib.Model([a, b], L.Dense(1, name="out")(L.Concatenate(name="cat")([x2, y])))

    theirs, ours = build(keras), build(kerasish)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    ours.set_weights(theirs.get_weights())
    xs = [X[:, :4], X[:, 2:6]]
    assert_close(ours.predict(xs, verbose=0), theirs.predict(xs, verbose=0), atol=1e-6)


def test_an_output_layer_whose_own_call_adds_something_is_called():
    """A head whose layer has a forward hook (or activity regularizer) is computed by calling the layer,
    not from its logits (found by review: the logits path skipped the output layer's own call)."""
    model = _model(layers, kerasish.Input, kerasish.Model)
    _compile(model)
    cls_layer = model.get_layer("cls")
    cls_layer.register_forward_hook(lambda module, args, out: out ** 2 / (out ** 2).sum(-1, keepdims=True))
    from kerasish.training.trainer import _make_steps

    steps = _make_steps(model, [Y_CLASS[:2], Y_BIN[:2], Y_REG[:2]], train=True)
    assert steps.logits_outputs == (1,)
    with torch.no_grad():
        outs = model(torch.tensor(X))
        expected = kerasish.losses.CategoricalCrossentropy()(torch.tensor(Y_CLASS), outs[0])
    got = model.evaluate(X, [Y_CLASS, Y_BIN, Y_REG], batch_size=32, verbose=0, return_dict=True)
    assert got["cls_loss"] == pytest.approx(float(expected), rel=1e-5)
