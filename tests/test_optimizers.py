"""Optimizers: Keras's defaults and formulas, names, learning-rate access."""

from __future__ import annotations

import math

import pytest
import torch

import kerasish
from kerasish import optimizers


@pytest.mark.parametrize("name, cls, lr", [
    ("sgd", optimizers.SGD, 0.01), ("rmsprop", optimizers.RMSprop, 0.001), ("adam", optimizers.Adam, 0.001),
    ("adamw", optimizers.AdamW, 0.001), ("adagrad", optimizers.Adagrad, 0.001),
    ("adadelta", optimizers.Adadelta, 0.001), ("adamax", optimizers.Adamax, 0.001), ("nadam", optimizers.Nadam, 0.001),
])
def test_string_names_use_keras_defaults(name, cls, lr):
    opt = optimizers.get(name)
    assert type(opt) is cls and opt.learning_rate == lr
    p = torch.nn.Parameter(torch.ones(3))
    opt.build([p])
    p.grad = torch.full((3,), 0.5)
    opt.step()
    assert not torch.equal(p.detach(), torch.ones(3))


def test_keras_numbers():
    assert optimizers.RMSprop().epsilon == 1e-7 and optimizers.RMSprop().rho == 0.9
    adam = optimizers.Adam()
    assert (adam.beta_1, adam.beta_2, adam.epsilon) == (0.9, 0.999, 1e-7)
    assert optimizers.AdamW().weight_decay == 0.004
    assert optimizers.Adagrad().initial_accumulator_value == 0.1


def test_rmsprop_matches_keras_formula_epsilon_inside_the_root():
    # Keras's own docstring example: lr 0.1 on loss var**2/2 from 10.0 gives 9.683772.
    var = torch.nn.Parameter(torch.tensor([10.0]))
    opt = optimizers.RMSprop(learning_rate=0.1).build([var])
    (var ** 2 / 2).sum().backward()
    opt.step()
    assert var.item() == pytest.approx(9.683772, abs=1e-6)
    # a tiny gradient: Keras's sqrt(v + eps) damps it, torch's sqrt(v) + eps would not
    w = torch.nn.Parameter(torch.zeros(1))
    opt = optimizers.RMSprop(learning_rate=1.0).build([w])
    w.grad = torch.tensor([1e-5])
    opt.step()
    expected = -1e-5 / math.sqrt(0.1 * 1e-10 + 1e-7)
    assert w.item() == pytest.approx(expected, rel=1e-5)


def test_rmsprop_centered_and_momentum_run():
    for kwargs in ({"centered": True}, {"momentum": 0.9}, {"weight_decay": 0.1}):
        p = torch.nn.Parameter(torch.ones(2))
        opt = optimizers.RMSprop(**kwargs).build([p])
        p.grad = torch.ones(2)
        opt.step()
        assert (p.detach() < 1).all()


def test_torch_defaults_use_torch_rmsprop():
    kerasish.config.set_defaults("torch")
    opt = optimizers.get("rmsprop").build([torch.nn.Parameter(torch.ones(1))])
    assert type(opt.torch_optimizer) is torch.optim.RMSprop
    assert opt.torch_optimizer.defaults["eps"] == 1e-8 and opt.learning_rate == 0.01


def test_learning_rate_alias_and_iterations():
    p = torch.nn.Parameter(torch.ones(1))
    opt = optimizers.Adam(learning_rate=0.5).build([p])
    opt.lr = 0.25
    assert opt.learning_rate == 0.25 and opt.torch_optimizer.param_groups[0]["lr"] == 0.25
    p.grad = torch.ones(1)
    opt.step()
    assert opt.iterations == 1
