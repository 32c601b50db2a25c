"""Keras's update rules through torch's fused CPU kernels (`keras_rules.fused_sgd_`,
`fused_adam_`) against Keras 3 itself, against the foreach rules they replace, and the
cases where they decline (and leave everything as it was)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from kerasish.optimizers.keras_adam_rules import KerasAdamTorch
from kerasish.optimizers.keras_rules import (KerasSGDTorch, _zeros, adam_alpha, fused_adam_, fused_sgd_,
                                             fusable)
from tests.keras_parity import assert_close, keras_module

SHAPES = [(7, 5), (5,), (3, 4, 2)]


class ForeachAdam(KerasAdamTorch):
    """KerasAdamTorch on its foreach kernels only (the reference for the fused kernel)."""

    fused = False


class FusedAdam(KerasAdamTorch):
    """KerasAdamTorch whose update must go through `fused_adam_` (fails if the kernel declines)."""

    def update(self, group, params, grads, states, f):
        ms = [st["momentum"] for st in states]
        vs = [st["velocity"] for st in states]
        v_hats = [st["velocity_hat"] for st in states] if group["amsgrad"] else []
        if not fused_adam_(params, grads, ms, vs, v_hats, adam_alpha(group, f), group["beta_1"], group["beta_2"],
                           group["eps"]):
            raise AssertionError("the fused kernel declined float32 CPU parameters")


class ForeachSGD(KerasSGDTorch):
    """KerasSGDTorch with the fused kernel turned off: the foreach reference."""

    fused = False


def _weights_and_grads(steps, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    grads = [[rng.normal(scale=0.1, size=s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    return weights, grads


def _run_torch(opt_class, weights, grads, lrs, dtype=torch.float32, **kwargs):
    params = [torch.tensor(w, dtype=dtype, requires_grad=True) for w in weights]
    opt = opt_class(params, lr=lrs[0], **kwargs)
    for lr, step_grads in zip(lrs, grads):
        for group in opt.param_groups:
            group["lr"] = lr
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
    return params, opt


def _run_keras(k, optimizer, weights, grads):
    variables = [k.Variable(w) for w in weights]
    for step_grads in grads:
        optimizer.apply_gradients(zip([torch.tensor(g) for g in step_grads], variables))
    return variables


ADAM_CASES = [
    dict(),
    dict(amsgrad=True),
    dict(weight_decay=0.1),
    dict(beta_1=0.5, beta_2=0.9, epsilon=1e-3),
]


@pytest.mark.parametrize("kwargs", ADAM_CASES)
def test_fused_adam_matches_keras(kwargs):
    k = keras_module()
    weights, grads = _weights_and_grads(12)
    theirs = _run_keras(k, k.optimizers.Adam(learning_rate=0.01, **kwargs), weights, grads)
    ours_kwargs = {("eps" if key == "epsilon" else key): v for key, v in kwargs.items()}
    ours, _ = _run_torch(FusedAdam, weights, grads, [0.01] * 12, **ours_kwargs)
    assert_close(ours, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_adam_matches_the_foreach_rule(dtype):
    # Under a changing rate too: alpha is recomputed on the host each step.
    weights, grads = _weights_and_grads(20, dtype=np.float64)
    lrs = list(np.linspace(0.02, 0.001, 20))
    ref, ref_opt = _run_torch(ForeachAdam, weights, grads, lrs, dtype=dtype, amsgrad=True)
    ours, opt = _run_torch(FusedAdam, weights, grads, lrs, dtype=dtype, amsgrad=True)
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    assert_close(ours, ref, rtol=tol, atol=tol)
    for name in ("momentum", "velocity", "velocity_hat"):
        assert_close([opt.state[p][name] for p in ours], [ref_opt.state[p][name] for p in ref], rtol=tol, atol=tol)


@pytest.mark.parametrize("lrs", [[0.05] * 10, list(np.geomspace(0.1, 0.001, 10))])
def test_fused_sgd_matches_keras_under_a_changing_rate(lrs):
    # Keras keeps its velocity (built with past rates) when the rate changes; torch's SGD would not.
    k = keras_module()
    weights, grads = _weights_and_grads(10)
    schedule = k.optimizers.schedules.PiecewiseConstantDecay(list(range(9)), [float(v) for v in lrs])
    theirs = _run_keras(k, k.optimizers.SGD(learning_rate=schedule, momentum=0.9), weights, grads)
    ours, opt = _run_torch(KerasSGDTorch, weights, grads, lrs, momentum=0.9)
    assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    ref, ref_opt = _run_torch(ForeachSGD, weights, grads, lrs, momentum=0.9)
    assert_close([opt.state[p]["momentum"] for p in ours], [ref_opt.state[p]["momentum"] for p in ref],
                 rtol=1e-6, atol=1e-8)


def test_sgd_through_fit_matches_keras():
    k = keras_module()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 2))).astype("float32")
    models = []
    for module in (k, kerasish):
        m = module.Sequential([module.Input((5,)), module.layers.Dense(8, activation="tanh"), module.layers.Dense(2)])
        models.append(m)
    models[1].set_weights(models[0].get_weights())
    losses = []
    for model, module in zip(models, (k, kerasish)):
        model.compile(optimizer=module.optimizers.SGD(learning_rate=0.05, momentum=0.9, weight_decay=0.01),
                      loss="mse")
        losses.append(model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    assert_close(models[1].get_weights(), models[0].get_weights(), rtol=1e-5, atol=1e-6)


def _tensors(dtype=torch.float32, n=2):
    return [torch.ones(3, 4, dtype=dtype) for _ in range(n)]


DECLINED = {
    "bfloat16 parameters": lambda: (_tensors(torch.bfloat16), _tensors(torch.bfloat16)),
    "gradients of another dtype": lambda: (_tensors(), _tensors(torch.float64)),
    "a non-contiguous parameter": lambda: ([torch.ones(4, 3).t(), torch.ones(3, 4)], _tensors()),
    "a parameter off the CPU": lambda: ([torch.ones(3, 4, device="meta"), torch.ones(3, 4)], _tensors()),
    "no parameters": lambda: ([], []),
}


@pytest.mark.parametrize("case", list(DECLINED))
def test_fused_kernels_decline_and_change_nothing(case):
    params, grads = DECLINED[case]()
    states = [[_zeros(p) for p in params] for _ in range(3)]
    before = [p.float() for p in params if p.device.type == "cpu"]
    assert not fusable(params, grads, *states)
    assert fused_sgd_(params, grads, states[0], 0.1, 0.9) is False
    assert fused_adam_(params, grads, states[0], states[1], [], 0.1, 0.9, 0.999, 1e-7) is False
    assert_close([p.float() for p in params if p.device.type == "cpu"], before, rtol=0, atol=0)


def test_fused_adam_declines_a_beta_of_one():
    params, grads = _tensors(), _tensors()
    ms, vs = [_zeros(p) for p in params], [_zeros(p) for p in params]
    assert fusable(params, grads, ms, vs)
    assert fused_adam_(params, grads, ms, vs, [], 0.1, 1.0, 0.999, 1e-7) is False
    assert fused_adam_(params, grads, ms, vs, [], 0.1, 0.9, 1.0, 1e-7) is False
    assert_close(params, _tensors(), rtol=0, atol=0)
