"""kerasish.Variable and optimizer.apply outside fit."""

import numpy as np
import pytest
import torch

import kerasish
from kerasish.variables import Variable


def test_variable_is_a_parameter_with_keras_surface():
    layer = kerasish.layers.Dense(2)
    layer(np.ones((1, 3), dtype="float32"))
    kernel = layer.kernel
    assert isinstance(kernel, torch.nn.Parameter) and isinstance(kernel, Variable)
    assert kernel.path == f"{layer.name}/kernel" and kernel.name == "kernel"
    assert kernel.value is kernel and kernel.trainable
    kernel.assign(np.zeros((3, 2)))
    assert np.all(kernel.numpy() == 0)
    kernel.assign_add(torch.ones(3, 2))
    kernel.assign_sub(0.5)
    np.testing.assert_allclose(kernel.numpy(), 0.5)
    kernel.trainable = False
    assert id(kernel) not in map(id, layer.trainable_weights) and id(kernel) in map(id, layer.non_trainable_weights)
    with pytest.raises(ValueError, match=r"has shape \(3, 2\); assign\(\) received a value of shape \(2,\)"):
        kernel.assign(np.zeros(2))


def test_optimizer_apply_updates_only_the_given_variables_and_counts_steps():
    a = Variable(torch.ones(2), name="a")
    b = Variable(torch.ones(2), name="b")
    opt = kerasish.optimizers.SGD(learning_rate=0.5)
    opt.apply([torch.ones(2), torch.ones(2)], [a, b])
    np.testing.assert_allclose(a.numpy(), 0.5)
    b.grad = torch.ones(2)
    opt.apply_gradients(zip([torch.ones(2)], [a]))
    np.testing.assert_allclose(a.numpy(), 0.0)
    np.testing.assert_allclose(b.numpy(), 0.5)  # not passed: unchanged, its gradient kept
    assert b.grad is not None and opt.iterations == 2


def test_optimizer_apply_errors():
    a = Variable(torch.ones(2), name="a")
    opt = kerasish.optimizers.Adam()
    with pytest.raises(ValueError, match="before the optimizer knows its variables"):
        opt.apply([torch.ones(2)])
    with pytest.raises(ValueError, match="received 2 gradients for 1 variables"):
        opt.apply([torch.ones(2), torch.ones(2)], [a])
    opt.apply([torch.ones(2)], [a])
    other = Variable(torch.ones(2), name="other")
    with pytest.raises(ValueError, match=r"not built for: \['other'\]"):
        opt.apply([torch.ones(2)], [other])


def _layer_with_weight(layers, init):
    class Holder(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(2000, 20), initializer=init)

        def call(self, x):
            return x

    return Holder()


@pytest.mark.parametrize("init", ["he_normal", "lecun_uniform", "glorot_normal"])
def test_add_weight_initializer_fans_follow_keras_layout(init):
    # add_weight shapes are Keras's (fan_in first): the spread must match Keras's, not the
    # transposed torch layout's (which would be sqrt(2000/20) = 10x wider for he_normal).
    from tests.keras_parity import keras_module

    keras = keras_module()
    ours, theirs = _layer_with_weight(kerasish.layers, init), _layer_with_weight(keras.layers, init)
    ours(np.zeros((1, 3), dtype="float32"))
    theirs(np.zeros((1, 3), dtype="float32"))
    ratio = np.std(ours.w.numpy()) / np.std(keras.ops.convert_to_numpy(theirs.w))
    assert 0.95 < ratio < 1.05


def test_add_weight_keeps_aggregation_and_refuses_autocast_false_under_a_mixed_policy():
    class Stats(kerasish.layers.Layer):
        def __init__(self, autocast_var, **kwargs):
            super().__init__(**kwargs)
            self.count = self.add_weight(shape=(), trainable=False, autocast=autocast_var, aggregation="sum")

        def call(self, x):
            return x

    assert Stats(False).count.aggregation == "sum"  # float32 layer: autocast has nothing to do
    with pytest.raises(ValueError, match=r"add_weight\(autocast=False\) .* under a mixed-precision policy"):
        Stats(False, dtype="mixed_bfloat16")
    with pytest.raises(ValueError, match="received aggregation='max'"):
        kerasish.layers.Dense(1).add_weight(shape=(), aggregation="max")


def test_mixed_policy_layer_computes_in_low_precision_unless_autocast_is_false():
    from tests.keras_parity import keras_module

    keras = keras_module()
    x = np.ones((2, 3), dtype="float32")
    assert kerasish.layers.Dense(2, dtype="mixed_bfloat16")(x).dtype == torch.bfloat16
    assert keras.layers.Dense(2, dtype="mixed_bfloat16")(x).dtype == torch.bfloat16
    assert kerasish.layers.Dense(2, dtype="mixed_bfloat16", autocast=False)(x).dtype == torch.float32
    layer = kerasish.layers.Dense(2, dtype="mixed_bfloat16")
    layer(x)
    assert layer.kernel.dtype == torch.float32  # variables stay float32, as Keras's


def test_optimizer_rebuilt_for_new_variables_of_the_same_count_accepts_them():
    opt = kerasish.optimizers.SGD(learning_rate=1.0)
    first, second = Variable(torch.ones(1), name="first"), Variable(torch.ones(1), name="second")
    opt.apply([torch.ones(1)], [first])
    opt.build([second])  # e.g. the model was rebuilt after compile
    opt.apply([torch.ones(1)], [second])
    np.testing.assert_allclose(second.numpy(), 0.0)
    with pytest.raises(ValueError, match=r"not built for: \['first'\]"):
        opt.apply([torch.ones(1)], [first])


def test_torch_save_and_pickle_keep_variables_with_their_path_and_constraint(tmp_path):
    # torch's Parameter pickles as a plain Parameter; a kerasish Variable comes back a Variable.
    import io
    import pickle

    import kerasish
    from kerasish import layers

    model = kerasish.Sequential([kerasish.Input((3,)), layers.Dense(2, kernel_constraint="non_neg")])
    x = np.ones((2, 3), "float32")
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for loaded in (torch.load(buffer, weights_only=False), pickle.loads(pickle.dumps(model))):
        kernel = loaded.layers[0].kernel
        assert type(kernel) is Variable and kernel.path == "sequential/dense/kernel"
        assert type(kernel.constraint).__name__ == "NonNeg"
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    plain = layers.Dense(2)
    plain.build((None, 3))
    path = tmp_path / "vars.pt"
    torch.save(plain.state_dict(keep_vars=True), path)
    state = torch.load(path)  # weights_only=True (torch's default) rebuilds them as well
    assert [(type(v).__name__, v.name) for v in state.values()] == [("Variable", "kernel"), ("Variable", "bias")]
