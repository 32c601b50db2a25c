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
