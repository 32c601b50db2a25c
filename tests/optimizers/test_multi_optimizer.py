"""MultiOptimizer and OptimizerMap against Keras 3's (kerasish/optimizers/multi_optimizer.py)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import kerasish
from kerasish import optimizers
from tests.keras_parity import assert_close, keras_module

RNG = np.random.default_rng(0)
X = RNG.random((16, 3)).astype("float32")
Y = RNG.random((16, 1)).astype("float32")


@pytest.fixture
def keras():
    return keras_module()


def _model(lib, **sub):
    """Two Dense layers; Adam on the first, SGD with momentum on the rest (and an unused RMSprop)."""
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, name="d1"), lib.layers.Dense(1, name="d2")],
                           name="seq")
    opt = lib.optimizers.MultiOptimizer(lib.optimizers.OptimizerMap(
        default_optimizer=lib.optimizers.SGD(0.1, momentum=0.9, name="sgd", **sub.get("sgd", {})),
        optimizer_map={".*d1/.*": lib.optimizers.Adam(0.01, name="adam", **sub.get("adam", {})),
                       "unused": lib.optimizers.RMSprop(name="rmsprop")}), name="multi")
    model.compile(optimizer=opt, loss="mse", metrics=["mae"])
    return model


def _pair(keras, **sub):
    theirs, ours = _model(keras, **sub), _model(kerasish, **sub)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def _path(name):
    w = torch.nn.Parameter(torch.ones(2))
    w.path = name
    return w


# ----------------------------------------------------------------------------- OptimizerMap
def test_optimizer_map_picks_exact_key_then_one_regex_then_default():
    adam, sgd, rms = optimizers.Adam(), optimizers.SGD(), optimizers.RMSprop()
    m = optimizers.OptimizerMap(rms, {"encoder/layer_0/dense": adam})
    m["encoder/.*"] = sgd
    assert m["encoder/layer_0/dense"] is adam  # the exact key wins over the matching pattern
    assert m["encoder/layer_0/attention"] is sgd
    assert m["decoder/dense"] is rms
    assert m["encoder"] is rms  # fullmatch: 'encoder/.*' does not cover 'encoder'
    assert m(_path("encoder/x")) is sgd
    assert list(m) == ["encoder/layer_0/dense", "encoder/.*"] and len(m) == 2
    del m["encoder/.*"]
    assert m["encoder/x"] is rms


def test_optimizer_map_errors():
    sgd = optimizers.SGD()
    with pytest.raises(TypeError, match="default_optimizer must be a Keras Optimizer instance. Received: 'sgd'"):
        optimizers.OptimizerMap("sgd")
    with pytest.raises(TypeError, match="optimizer_map must be a dictionary. Received: \\[\\]"):
        optimizers.OptimizerMap(sgd, [])
    m = optimizers.OptimizerMap(sgd, {".*kernel.*": optimizers.Adam(), ".*dense.*": optimizers.SGD()})
    with pytest.raises(ValueError, match=r"Multiple optimizers assigned to variable dense/kernel\. The keys "
                                         r"\['\.\*kernel\.\*', '\.\*dense\.\*'\] all match it"):
        m["dense/kernel"]
    with pytest.raises(ValueError, match=r"'\.\*kernel\.\*' already exists in the OptimizerMap"):
        m[".*kernel.*"] = sgd
    with pytest.raises(ValueError, match="key must be a string. Received: 3"):
        m[3] = sgd
    with pytest.raises(ValueError, match="optimizer must be a Keras Optimizer instance. Received: 'adam'"):
        m["a"] = "adam"
    with pytest.raises(ValueError, match="optimizer cannot be LossScaleOptimizer"):
        m["a"] = optimizers.LossScaleOptimizer(optimizers.SGD())
    with pytest.raises(ValueError, match="optimizer cannot be MultiOptimizer"):
        m["a"] = optimizers.MultiOptimizer(optimizers.OptimizerMap(optimizers.SGD()))
    with pytest.raises(ValueError, match="optimizer cannot be LossScaleOptimizer"):  # kerasish checks the dict at once
        optimizers.OptimizerMap(sgd, {"a": optimizers.LossScaleOptimizer(optimizers.SGD())})
    with pytest.raises(ValueError, match=r"chooses an optimizer by the variable's path.*path=None.*callable"):
        m(torch.nn.Parameter(torch.ones(2)))


# ----------------------------------------------------------------------------- building
def test_sub_optimizers_in_keras_order_and_only_those_with_weights_step(keras):
    theirs, ours = _pair(keras)
    assert [o.name for o in ours.optimizer.optimizers] == [o.name for o in theirs.optimizer.optimizers] \
        == ["adam", "rmsprop", "sgd"]
    theirs.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    ours.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations) == 2
    counts = [int(o.iterations) for o in ours.optimizer.optimizers]
    assert counts == [int(o.iterations) for o in theirs.optimizer.optimizers] == [2, 0, 2]
    assert not ours.optimizer.optimizers[1].built


def test_a_callable_map_finds_its_sub_optimizers_while_building():
    adam, sgd = optimizers.Adam(), optimizers.SGD(1e-2)
    multi = optimizers.MultiOptimizer(lambda v: adam if "dense_1" in v.path else sgd)
    assert multi.optimizers == []
    w1, w2 = _path("dense_1/kernel"), _path("dense_2/kernel")
    multi.apply([torch.ones(2), torch.ones(2)], [w1, w2])
    assert multi.optimizers == [adam, sgd]
    assert_close(w2, [0.99, 0.99])


def test_build_errors():
    with pytest.raises(TypeError, match="optimizer_map must be an OptimizerMap or a callable"):
        optimizers.MultiOptimizer(optimizers.SGD())
    w = _path("dense/kernel")
    for returned, match in [("sgd", "Optimizer for variable dense/kernel is not an Optimizer instance"),
                            (optimizers.LossScaleOptimizer(optimizers.SGD()),
                             "LossScaleOptimizer cannot be used inside an MultiOptimizer"),
                            (optimizers.MultiOptimizer(optimizers.OptimizerMap(optimizers.SGD())),
                             "MultiOptimizer cannot be used inside an MultiOptimizer")]:
        with pytest.raises(ValueError, match=match):
            optimizers.MultiOptimizer(lambda v, r=returned: r).build([w])
    multi = optimizers.MultiOptimizer(optimizers.OptimizerMap(optimizers.SGD()))
    with pytest.raises(ValueError, match="exclude_from_weight_decay.*on the sub-optimizer"):
        multi.exclude_from_weight_decay(var_names=["bias"])


def test_learning_rate_is_refused_as_keras_does(keras):
    theirs, ours = _pair(keras)
    for opt in (theirs.optimizer, ours.optimizer):
        with pytest.raises(AttributeError, match="Learning rate cannot be accessed on a MultiOptimizer"):
            opt.learning_rate
        with pytest.raises(AttributeError, match="Learning rate cannot be set on a MultiOptimizer"):
            opt.learning_rate = 0.1
    assert not hasattr(ours.optimizer, "lr")
    assert float(ours.optimizer.optimizers[0].learning_rate) == pytest.approx(0.01)


# ----------------------------------------------------------------------------- training parity
def test_fit_matches_keras(keras):
    theirs, ours = _pair(keras)
    k_hist = theirs.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0).history
    s_hist = ours.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0).history
    assert set(s_hist) == set(k_hist) == {"loss", "mae"}
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert_close(ours.get_weights(), theirs.get_weights())


def test_sub_optimizer_settings_match_keras(keras):
    # EMA (written into d1's weights when fit ends, by the MultiOptimizer's finalize), gradient
    # accumulation and clipping in the sub-optimizers.
    sub = {"adam": {"use_ema": True, "ema_momentum": 0.5, "clipnorm": 0.1},
           "sgd": {"gradient_accumulation_steps": 2}}
    theirs, ours = _pair(keras, **sub)
    theirs.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    ours.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_close(ours.get_weights(), theirs.get_weights())
    assert [int(o.iterations) for o in ours.optimizer.optimizers] == \
        [int(o.iterations) for o in theirs.optimizer.optimizers] == [8, 0, 4]


def test_apply_matches_keras(keras):
    theirs, ours = _pair(keras)
    rng = np.random.default_rng(1)
    for _ in range(4):
        grads = [rng.normal(size=tuple(v.shape)).astype("float32") for v in theirs.trainable_weights]
        theirs.optimizer.apply([torch.as_tensor(g) for g in grads], theirs.trainable_weights)
        ours.optimizer.apply([torch.as_tensor(g) for g in grads], ours.trainable_weights)
    assert_close(ours.get_weights(), theirs.get_weights())
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations) == 4
    ours.optimizer.apply([torch.zeros_like(w) for w in ours.trainable_weights])  # the variables it was built on
    assert int(ours.optimizer.iterations) == 5


def test_apply_errors():
    multi = optimizers.MultiOptimizer(optimizers.OptimizerMap(optimizers.SGD()))
    multi.apply([])  # nothing to do, as Keras
    with pytest.raises(ValueError, match="must already be built on a list of variables"):
        multi.apply([torch.ones(2)])
    w1, w2 = _path("a/kernel"), _path("b/kernel")
    multi.build([w1, w2])
    with pytest.raises(ValueError, match="Gradients must match trainable variables one-to-one. Received 1 gradients "
                                         "and 2 variables"):
        multi.apply([torch.ones(2)], [w1])
    with pytest.raises(ValueError, match=r"received the variable c/kernel, which it was not built on"):
        multi.apply([torch.ones(2), torch.ones(2)], [w1, _path("c/kernel")])
    with pytest.raises(ValueError, match=r"finalize_variable_values received the variable c/kernel"):
        multi.finalize_variable_values([_path("c/kernel")])


def _custom_model_class(K):
    class CustomModel(K.Model):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            weights = list(self.trainable_weights)
            with torch.no_grad():
                self.optimizer.apply([v.value.grad for v in weights], weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return CustomModel


def test_custom_train_step_matches_keras(keras):
    def build(K):
        inputs = K.Input((3,))
        outputs = K.layers.Dense(1, name="head")(K.layers.Dense(4, name="body")(inputs))
        model = _custom_model_class(K)(inputs, outputs, name="custom")
        model.compile(optimizer=K.optimizers.MultiOptimizer(K.optimizers.OptimizerMap(
            K.optimizers.SGD(0.05, momentum=0.5), {".*/body/.*": K.optimizers.Adam(0.02)})), loss="mse",
            metrics=["mae"])
        return model

    theirs, ours = build(keras), build(kerasish)
    ours.set_weights(theirs.get_weights())
    k_hist = theirs.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    s_hist = ours.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert_close(ours.get_weights(), theirs.get_weights())
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations) == 8


def test_jit_compile_runs_the_sub_optimizers_updates_eagerly():
    eager = _model(kerasish)
    compiled = _model(kerasish)
    compiled.compile(optimizer=compiled.optimizer, loss="mse", jit_compile={"backend": "aot_eager"})
    compiled.set_weights(eager.get_weights())
    eager.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    compiled.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_close(compiled.get_weights(), eager.get_weights(), atol=1e-6)


# ----------------------------------------------------------------------------- loss scaling
def test_loss_scale_factor_overrides_the_sub_optimizers(keras):
    for lib in (keras, kerasish):
        opt = lib.optimizers.MultiOptimizer(lib.optimizers.OptimizerMap(
            lib.optimizers.RMSprop(loss_scale_factor=8.0), {"x": lib.optimizers.Adam(loss_scale_factor=3.0)}),
            loss_scale_factor=5.0)
        assert [o.loss_scale_factor for o in opt.optimizers] == [5.0, 5.0]
        assert float(opt.scale_loss(torch.tensor(2.0))) == 10.0


def test_gradients_are_unscaled_by_each_sub_optimizer():
    w = _path("dense_1/kernel")
    with torch.no_grad():
        w.fill_(2.0)
    sgd = optimizers.SGD(0.1, loss_scale_factor=2.0)
    multi = optimizers.MultiOptimizer(optimizers.OptimizerMap(sgd, {"dense_1/.*": sgd}), loss_scale_factor=5.0)
    multi.build([w])
    # Deliberate difference from Keras, as kerasish's other optimizers: the factor divides the
    # gradients only when the loss went through scale_loss (Keras divides them either way).
    with pytest.raises(RuntimeError, match=r"MultiOptimizer\(loss_scale_factor=5.0\).*scale_loss\(loss\)"):
        multi.apply([torch.full((2,), 10.0)], [w])
    multi.scale_loss(torch.tensor(1.0))
    multi.apply([torch.full((2,), 10.0)], [w])
    assert_close(w, [1.8, 1.8])


# ----------------------------------------------------------------------------- config and files
def test_config_round_trips_and_is_read_by_keras(keras):
    theirs, ours = _pair(keras)
    config = json.loads(json.dumps(optimizers.serialize(ours.optimizer)))
    again = optimizers.deserialize(config)
    assert again.get_config() == ours.optimizer.get_config()
    assert [type(o).__name__ for o in again.optimizers] == ["Adam", "RMSprop", "SGD"]
    in_keras = keras.optimizers.deserialize(config)
    assert [type(o).__name__ for o in in_keras.optimizers] == ["Adam", "RMSprop", "SGD"]
    from_keras = optimizers.deserialize(json.loads(json.dumps(keras.optimizers.serialize(theirs.optimizer))))
    assert [(type(o).__name__, o.name) for o in from_keras.optimizers] == [("Adam", "adam"), ("RMSprop", "rmsprop"),
                                                                          ("SGD", "sgd")]
    assert float(from_keras.optimizers[2].get_config()["momentum"]) == 0.9
    assert from_keras.name == "multi"


def test_load_state_dict_needs_the_same_sub_optimizers():
    multi = optimizers.MultiOptimizer(optimizers.OptimizerMap(optimizers.SGD()))
    multi.build([_path("a")])
    with pytest.raises(ValueError, match="holds 2 sub-optimizer states, this MultiOptimizer has 1"):
        multi.load_state_dict({"iterations": 3, "optimizers": [{}, {}]})


@pytest.mark.parametrize("direction", ["keras_to_kerasish", "kerasish_to_keras"])
def test_keras_file_keeps_every_sub_optimizer_state(keras, direction, tmp_path):
    theirs, ours = _pair(keras)
    theirs.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    ours.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing is left out on either side
        if direction == "keras_to_kerasish":
            theirs.save(tmp_path / "m.keras")
            loaded = kerasish.saving.load_model(tmp_path / "m.keras")
        else:
            ours.save(tmp_path / "m.keras")
            loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [int(o.iterations) for o in loaded.optimizer.optimizers] == [4, 0, 4]
    loaded.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    reference = theirs if direction == "keras_to_kerasish" else ours
    reference.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert_close(loaded.get_weights(), reference.get_weights(), atol=1e-6)


def test_keras_file_layout_equals_keras(keras, tmp_path):
    import h5py
    import zipfile

    theirs, ours = _pair(keras)
    theirs.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    ours.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours.save(tmp_path / "s.keras")

    def optimizer_datasets(path):
        with zipfile.ZipFile(path) as zf:
            (tmp_path / "w.h5").write_bytes(zf.read("model.weights.h5"))
        out = {}
        with h5py.File(tmp_path / "w.h5") as f:
            f["optimizer"].visititems(lambda n, o: out.__setitem__(n, np.array(o)) if isinstance(o, h5py.Dataset)
                                      else None)
        return out

    k, s = optimizer_datasets(tmp_path / "k.keras"), optimizer_datasets(tmp_path / "s.keras")
    assert sorted(s) == sorted(k)
    assert "optimizers/sgd/vars/3" in k and "vars/11" in k
    for name in k:
        assert s[name].dtype.kind == k[name].dtype.kind, name
        assert_close(s[name], k[name], atol=1e-6)


def test_kerasish_file_keeps_the_state(tmp_path):
    ours = _model(kerasish)
    ours.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    ours.save(tmp_path / "m.kerasish")
    loaded = kerasish.saving.load_model(tmp_path / "m.kerasish")
    assert int(loaded.optimizer.iterations) == 4
    loaded.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    ours.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert_close(loaded.get_weights(), ours.get_weights())


# ----------------------------------------------------------------------------- callbacks
def test_learning_rate_scheduler_sets_every_sub_optimizer_as_keras(keras):
    theirs, ours = _pair(keras)
    histories = []
    for lib, model in ((keras, theirs), (kerasish, ours)):
        schedule = lib.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
        histories.append(model.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                                   callbacks=[schedule]).history)
    k_hist, s_hist = histories
    assert set(s_hist) == set(k_hist) == {"loss", "mae", "learning_rate_adam", "learning_rate_rmsprop",
                                          "learning_rate_sgd"}
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert_close(ours.get_weights(), theirs.get_weights())


def test_reduce_lr_on_plateau_reduces_every_sub_optimizer_as_keras(keras, capsys):
    rates = []
    for lib in (keras, kerasish):
        model = _model(lib)
        reduce = lib.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, verbose=1)
        reduce.set_model(model)
        reduce.on_train_begin()
        logs = {"val_loss": 1.0}
        reduce.on_epoch_end(0, logs)
        reduce.on_epoch_end(1, {"val_loss": 1.0})
        rates.append(([float(np.float32(o.learning_rate)) for o in model.optimizer.optimizers], sorted(logs)))
    assert rates[0] == rates[1]
    assert rates[1][0] == pytest.approx([0.005, 0.0005, 0.05])
    assert "Epoch 2: ReduceLROnPlateau reducing adam learning rate to 0.00499" in capsys.readouterr().out


def test_swap_ema_weights_swaps_the_averaging_sub_optimizers_weights(keras):
    sub = {"adam": {"use_ema": True, "ema_momentum": 0.5}}
    theirs, ours = _pair(keras, **sub)
    k_hist = theirs.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0, validation_data=(X, Y),
                        callbacks=[keras.callbacks.SwapEMAWeights()]).history
    s_hist = ours.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0, validation_data=(X, Y),
                      callbacks=[kerasish.callbacks.SwapEMAWeights()]).history
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert_close(ours.get_weights(), theirs.get_weights())
    plain = _model(kerasish)
    plain.fit(X, Y, epochs=1, verbose=0)
    swap = kerasish.callbacks.SwapEMAWeights()
    swap.set_model(plain)
    with pytest.raises(ValueError, match="at least one inner optimizer has `use_ema=True`"):
        swap.on_test_begin()


def test_tensorboard_logs_each_sub_optimizers_rate(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = _model(kerasish)
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[kerasish.callbacks.TensorBoard(log_dir=str(tmp_path))])
    acc = EventAccumulator(str(tmp_path / "train"), size_guidance={"scalars": 0})
    acc.Reload()
    rates = {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"] if "learning_rate" in tag}
    assert rates == {"epoch_learning_rate_adam": [pytest.approx(0.01)] * 2,
                     "epoch_learning_rate_rmsprop": [pytest.approx(0.001)] * 2,
                     "epoch_learning_rate_sgd": [pytest.approx(0.1)] * 2}


def test_mixed_float16_steps_every_sub_optimizer_and_refuses_what_grad_scaler_bypasses():
    from kerasish import mixed_precision

    reference = _model(kerasish)
    mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _model(kerasish)
        model.set_weights(reference.get_weights())
        model.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        accumulating = _model(kerasish, sgd={"gradient_accumulation_steps": 2})
        with pytest.raises(ValueError, match="mixed_float16.*GradScaler.*gradient_accumulation_steps"):
            accumulating.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    finally:
        mixed_precision.set_global_policy("float32")
    assert [int(o.iterations) for o in model.optimizer.optimizers] == [4, 0, 4]
    # GradScaler skips the steps whose float16 gradients overflow, so only "both sub-optimizers
    # updated their weights" is compared, not the values.
    assert all(np.abs(a - b).max() > 1e-4 for a, b in zip(model.get_weights(), reference.get_weights()))
    assert len(model.optimizer.optimizers[0].variables) == 4 and len(model.optimizer.optimizers[2].variables) == 2


def test_summary_counts_every_sub_optimizers_variables_as_keras(keras):
    theirs, ours = _pair(keras)
    theirs.fit(X, Y, epochs=1, verbose=0)
    ours.fit(X, Y, epochs=1, verbose=0)
    lines = []
    for model in (theirs, ours):
        printed = []
        model.summary(print_fn=lambda line, **kwargs: printed.append(line))
        lines.append([row for row in "\n".join(printed).splitlines() if "Optimizer params" in row])
    assert lines[0] == lines[1] == [" Optimizer params: 45 (180.00 B)"]


def test_find_batch_size_puts_the_multi_optimizer_back():
    from kerasish.training.state_tree import flatten

    model = _model(kerasish)
    model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    before = flatten(model.get_state_tree("numpy_array"))
    model.find_batch_size(X, Y, max_batch_size=8, memory_budget=2 ** 30)
    after = flatten(model.get_state_tree("numpy_array"))
    assert sorted(after) == sorted(before)
    for path, value in before.items():
        assert_close(after[path], value, atol=0)


def test_a_loss_scale_optimizer_around_a_multi_optimizer():
    w1, w2 = _path("dense_1/kernel"), _path("dense_2/kernel")
    with torch.no_grad():
        w1.fill_(2.0)
        w2.fill_(2.0)
    sgd_1, sgd_2 = optimizers.SGD(0.1), optimizers.SGD(0.1)
    multi = optimizers.MultiOptimizer(optimizers.OptimizerMap(sgd_2, {"dense_1/.*": sgd_1}), loss_scale_factor=5.0)
    lso = optimizers.LossScaleOptimizer(multi, initial_scale=10.0)
    lso.build([w1, w2])
    assert multi.loss_scale_factor is None and sgd_1.loss_scale_factor is None and sgd_2.loss_scale_factor is None
    assert float(lso.scale_loss(torch.tensor(2.0))) == 20.0
    w1.grad, w2.grad = torch.full((2,), 10.0), torch.full((2,), 10.0)
    lso.step()  # unscaled by the dynamic scale (10), then each sub-optimizer's update
    assert_close(w1, [1.9, 1.9])
    assert_close(w2, [1.9, 1.9])
    assert int(multi.iterations) == int(sgd_1.iterations) == int(sgd_2.iterations) == 1


def test_a_registered_callable_map_round_trips():
    adam, sgd = optimizers.Adam(), optimizers.SGD()

    @kerasish.saving.register_keras_serializable(package="test_multi")
    def pick(variable):
        return adam if "body" in variable.path else sgd

    config = json.loads(json.dumps(optimizers.serialize(optimizers.MultiOptimizer(pick, name="picked"))))
    assert config["config"]["optimizer_map"] == {"module": "builtins", "class_name": "function",
                                                 "config": "test_multi>pick", "registered_name": "function"}
    again = optimizers.deserialize(config)
    assert again.name == "picked" and again.get_config() == config["config"]
    again.build([_path("body/kernel"), _path("head/kernel")])
    assert again.optimizers == [adam, sgd]
