"""`optimizer.learning_rate` and `optimizer.iterations` as Keras 3's variables, held against Keras 3.

Each test builds the same optimizer (or model) in kerasish and in Keras 3 on its torch
backend and compares what a user sees: the object's path, dtype and repr, what `float()`,
`numpy()`, arithmetic and `assign` give, and the weights a fit reaches when a callback
assigns the rate.
"""

import json

import numpy as np
import pytest
import torch

import kerasish
from kerasish import optimizers
from kerasish.callbacks import Callback, ReduceLROnPlateau
from tests.keras_parity import assert_close, copy_weights, keras_module


def _both(class_name="Adam", **kwargs):
    keras = keras_module()
    return getattr(optimizers, class_name)(**kwargs), getattr(keras.optimizers, class_name)(**kwargs)


def _param(n=3):
    return torch.nn.Parameter(torch.ones(n))


# ----------------------------------------------------------------------------- learning_rate
def test_learning_rate_is_a_float32_variable_as_keras():
    ours, theirs = _both(learning_rate=0.01, name="opt")
    lr, their_lr = ours.learning_rate, theirs.learning_rate
    for attr in ("name", "path", "dtype", "shape", "trainable"):
        assert getattr(lr, attr) == getattr(their_lr, attr), attr
    assert (lr.path, lr.dtype) == ("opt/learning_rate", "float32")
    assert repr(lr) == repr(their_lr) == str(lr)
    assert float(lr) == float(their_lr) == 0.009999999776482582  # the float32 value, as Keras reads it
    assert int(lr) == int(their_lr) == 0
    for got, want in ((lr.numpy(), their_lr.numpy()),
                      (kerasish.ops.convert_to_numpy(lr), keras_module().ops.convert_to_numpy(their_lr)),
                      (np.asarray(lr), np.asarray(their_lr))):
        assert got.dtype == want.dtype == np.float32 and got.shape == want.shape == () and got == want


@pytest.mark.parametrize("expression", [
    lambda lr: lr * 0.5, lambda lr: 0.5 * lr, lambda lr: lr / 2, lambda lr: 1 - lr, lambda lr: -lr,
    lambda lr: lr + lr, lambda lr: lr ** 2, lambda lr: abs(lr), lambda lr: lr > 0.001, lambda lr: lr == 0.01,
    lambda lr: lr <= 0.001, lambda lr: torch.mul(lr, 3.0), lambda lr: torch.ones(2) * lr, lambda lr: round(lr, 3),
])
def test_arithmetic_and_comparisons_give_tensors_as_keras(expression):
    ours, theirs = _both(learning_rate=0.01)
    got, want = expression(ours.learning_rate), expression(theirs.learning_rate)
    assert isinstance(got, torch.Tensor) and isinstance(want, torch.Tensor)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert_close(got, want, atol=0, rtol=0)


def test_a_held_reference_sees_every_change_and_its_assign_reaches_the_update():
    ours, theirs = _both("SGD", learning_rate=0.1)
    w, their_w = _param(), keras_module().Variable(np.ones(3, "float32"))
    lr, their_lr = ours.learning_rate, theirs.learning_rate
    returned, their_returned = lr.assign(0.25), their_lr.assign(0.25)
    assert_close(returned, their_returned, atol=0, rtol=0)
    ours.build([w])  # before and after the optimizer is built: the same object
    theirs.build([their_w])
    assert ours.learning_rate is lr and theirs.learning_rate is their_lr
    assert ours.torch_optimizer.param_groups[0]["lr"] == 0.25  # assign reached the torch optimizer
    ours.learning_rate = 0.5
    theirs.learning_rate = 0.5
    assert float(lr) == float(their_lr) == 0.5 and ours.learning_rate is lr
    lr.assign_sub(0.25)
    their_lr.assign_sub(0.25)
    lr.assign_add(np.float64(0.125))
    their_lr.assign_add(np.float64(0.125))
    assert float(lr) == float(their_lr) == 0.375
    ours.torch_optimizer.param_groups[0]["lr"] = 0.0625  # torch's own schedulers write here
    assert float(lr) == 0.0625
    lr.assign(torch.tensor(0.125))
    their_lr.assign(torch.tensor(0.125))
    w.grad = torch.ones(3)
    ours.step()
    theirs.apply_gradients([(torch.ones(3), their_w)])
    assert_close(w, their_w)  # both stepped with the assigned 0.125


class _AssignRate(Callback):
    """Keras user code: keep a reference to the rate, assign it at each epoch."""

    def on_train_begin(self, logs=None):
        self.lr = self.model.optimizer.learning_rate

    def on_epoch_begin(self, epoch, logs=None):
        self.lr.assign(0.1 / (epoch + 1))


def test_fit_follows_a_rate_a_callback_assigns_as_keras():
    keras = keras_module()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    models = []
    for lib in (kerasish, keras):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1)])
        model.compile(optimizer=lib.optimizers.SGD(learning_rate=0.5), loss="mse")
        models.append(model)
    copy_weights(models[1], models[0])
    callback_base = {kerasish: Callback, keras: keras.callbacks.Callback}
    histories = []
    for lib, model in zip((kerasish, keras), models):
        assigner = type("AssignRate", (callback_base[lib],), dict(_AssignRate.__dict__))()
        histories.append(model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[assigner]))
    np.testing.assert_allclose(histories[0].history["loss"], histories[1].history["loss"], rtol=1e-5)
    assert_close(models[0].get_weights(), models[1].get_weights())
    assert float(models[0].optimizer.learning_rate) == float(models[1].optimizer.learning_rate) == np.float32(0.1 / 3)
    assert int(models[0].optimizer.iterations) == int(models[1].optimizer.iterations) == 12


def test_model_optimizer_learning_rate_set_on_a_compiled_model_as_keras():
    keras = keras_module()
    kept = {}
    for lib in (kerasish, keras):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        lr = model.optimizer.learning_rate
        model.optimizer.learning_rate = 0.1
        assert model.optimizer.learning_rate is lr
        kept[lib] = float(lr)
    assert kept[kerasish] == kept[keras] == np.float32(0.1)


def test_reduce_lr_on_plateau_changes_the_rate_a_user_holds():
    model = kerasish.Sequential([kerasish.Input((3,)), kerasish.layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(0.5), loss="mse")
    lr = model.optimizer.learning_rate
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    model.fit(x, y, epochs=3, verbose=0, callbacks=[ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                                                      min_delta=1e9)])
    assert float(lr) == 0.125 and model.optimizer.torch_optimizer.param_groups[0]["lr"] == 0.125


def test_get_config_reads_the_assigned_rate_and_rebuilds():
    ours, theirs = _both(learning_rate=0.01)
    ours.learning_rate.assign(0.02)
    theirs.learning_rate.assign(0.02)
    config = json.loads(json.dumps(ours.get_config()))
    # kerasish keeps the number given (the rate torch uses); Keras writes its float32 value.
    assert config["learning_rate"] == 0.02 == pytest.approx(theirs.get_config()["learning_rate"], rel=1e-7)
    rebuilt = optimizers.Adam.from_config(config)
    assert rebuilt.get_config() == ours.get_config() and float(rebuilt.learning_rate) == float(theirs.learning_rate)
    assert repr(ours) == "Adam(learning_rate=0.02)"


def test_a_torch_optimizer_wrapper_and_a_loss_scale_optimizer_show_the_inner_rate():
    keras = keras_module()
    wrapped = optimizers.TorchOptimizer(torch.optim.SGD([_param()], lr=0.3))
    wrapped.learning_rate.assign(0.125)
    assert wrapped.torch_optimizer.param_groups[0]["lr"] == 0.125 and wrapped.get_config()["learning_rate"] == 0.125
    ours = optimizers.LossScaleOptimizer(optimizers.SGD(0.1, name="inner"), name="lso")
    theirs = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1, name="inner"), name="lso")
    assert repr(ours.learning_rate) == repr(theirs.learning_rate)
    assert repr(ours.iterations) == repr(theirs.iterations)
    assert ours.learning_rate is ours.inner_optimizer.learning_rate


# ----------------------------------------------------------------------------- with a schedule
def test_a_scheduled_rate_is_a_read_only_float32_tensor_as_keras():
    keras = keras_module()
    ours = optimizers.SGD(optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5))
    theirs = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5))
    for step in (0, 20):
        ours.iterations.assign(step)
        theirs.iterations.assign(step)
        got, want = ours.learning_rate, theirs.learning_rate
        assert isinstance(got, torch.Tensor) and got.dtype == want.dtype == torch.float32 and got.shape == ()
        assert_close(got, want, atol=0, rtol=1e-7)
    with pytest.raises(AttributeError, match="has no attribute 'assign'"):
        theirs.learning_rate.assign(0.1)
    with pytest.raises(AttributeError, match="has no attribute 'assign'"):
        ours.learning_rate.assign(0.1)
    with pytest.raises(TypeError, match="not settable"):
        theirs.learning_rate = 0.2
    with pytest.raises(TypeError, match=r"created with a learning-rate schedule \(ExponentialDecay\), so its "
                                        r"learning rate cannot be set\. Received: learning_rate=0\.2\. Create"):
        ours.learning_rate = 0.2
    ours.build([_param()])  # built: still refused, the rate untouched
    with pytest.raises(TypeError, match="cannot be set"):
        ours.learning_rate = 0.2
    assert_close(ours.learning_rate, theirs.learning_rate, atol=0, rtol=1e-7)


def test_setting_a_schedule_replaces_the_constant_rate_as_keras():
    keras = keras_module()
    ours, theirs = optimizers.SGD(0.5), keras.optimizers.SGD(0.5)
    ours.learning_rate = optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    theirs.learning_rate = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    ours.iterations.assign(2)
    theirs.iterations.assign(2)
    assert_close(ours.learning_rate, theirs.learning_rate, atol=0, rtol=1e-7)
    w = _param()
    ours.build([w])
    w.grad = torch.ones(3)
    ours.step()  # the update used the schedule's rate at step 2
    assert_close(w, torch.full((3,), 1 - 0.025), atol=1e-7, rtol=0)


# ----------------------------------------------------------------------------- iterations
def test_iterations_is_an_int32_variable_as_keras():
    ours, theirs = _both("SGD", learning_rate=0.1, name="opt")
    it, their_it = ours.iterations, theirs.iterations
    assert repr(it) == repr(their_it) == "<Variable path=opt/iteration, shape=(), dtype=int32, value=0>"
    assert (it.name, it.dtype, it.trainable) == (their_it.name, their_it.dtype, their_it.trainable)
    assert it.numpy().dtype == their_it.numpy().dtype == np.int32
    w, their_w = _param(), keras_module().Variable(np.ones(3, "float32"))
    ours.build([w])
    for _ in range(3):
        w.grad = torch.ones(3)
        ours.step()
        theirs.apply_gradients([(torch.ones(3), their_w)])
    assert int(it) == int(their_it) == 3 and float(it) == float(their_it) == 3.0 and ours.iterations is it
    assert_close(it + 1, their_it + 1, atol=0, rtol=0)
    assert (it + 1).dtype == (their_it + 1).dtype == torch.int32
    it.assign(2.7)
    their_it.assign(2.7)
    assert int(it) == int(their_it) == 2  # Keras casts to int32


def test_iterations_counts_updates_under_gradient_accumulation_as_keras():
    ours, theirs = _both("SGD", learning_rate=0.1, gradient_accumulation_steps=2)
    w, their_w = _param(), keras_module().Variable(np.ones(3, "float32"))
    ours.build([w])
    for step in range(5):
        w.grad = torch.full((3,), float(step))
        ours.step()
        theirs.apply_gradients([(torch.full((3,), float(step)), their_w)])
        assert int(ours.iterations) == int(theirs.iterations)
    assert int(ours.iterations) == 2
    assert_close(w, their_w)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("value,match", [
    (np.ones(2), r"opt/learning_rate\.assign\(\) received a ndarray of shape \(2,\): array\(\[1\., 1\.\]\)\. "
                 r"opt/learning_rate holds one float32 number \(shape \(\)\): pass a number, e\.g\. "
                 r"learning_rate\.assign\(0\.001\)"),
    (torch.ones(1), r"opt/learning_rate\.assign\(\) received a tensor of shape \(1,\)"),
    ("fast", r"opt/learning_rate\.assign\(\) received a str, not a number: 'fast'"),
    (None, r"received a NoneType, not a number: None"),
    (True, r"received a bool, not a number: True"),
])
def test_assign_refuses_what_is_not_one_number(value, match):
    ours, theirs = _both(learning_rate=0.01, name="opt")
    if not isinstance(value, bool):  # Keras reads True as 1.0
        with pytest.raises((ValueError, TypeError)):
            theirs.learning_rate.assign(value)
    with pytest.raises(ValueError, match=match):
        ours.learning_rate.assign(value)
    assert float(ours.learning_rate) == np.float32(0.01)  # unchanged


def test_setting_a_bad_rate_names_the_argument():
    opt = optimizers.SGD(0.1)
    with pytest.raises(ValueError, match=r"SGD\.learning_rate = \.\.\. received a str, not a number: 'x'"):
        opt.learning_rate = "x"
    with pytest.raises(ValueError, match=r"learning_rate must be >= 0\. Received: learning_rate=-1\.0\. Pass a "
                                         r"non-negative number, e\.g\. optimizer\.learning_rate\.assign\(1e-4\)"):
        opt.learning_rate.assign(-1.0)
    with pytest.raises(ValueError, match=r"opt\w*/iteration\.assign\(\) received a str, not a number: 'x'"):
        optimizers.SGD(name="opt").iterations.assign("x")
    assert float(opt.learning_rate) == np.float32(0.1)


def test_bool_reads_the_value_where_keras_refuses():
    # kerasish's one difference in the protocol: `optimizer.iterations or 0` keeps working.
    keras = keras_module()
    with pytest.raises(TypeError, match="cannot be used as a boolean"):
        bool(keras.optimizers.SGD().iterations)
    opt = optimizers.SGD(0.1)
    assert not opt.iterations and opt.learning_rate
    opt.iterations.assign(3)
    assert opt.iterations and int(opt.iterations or 0) == 3
