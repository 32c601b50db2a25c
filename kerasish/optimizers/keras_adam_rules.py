"""Keras 3's Adam-family update rules as torch optimizers: Adam (and AMSGrad), Adamax, Nadam,
Lamb, Adafactor.

Keras's "epsilon hat": the bias correction is folded into the step size,
`alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`, and epsilon is added to `sqrt(v)`:
`p -= alpha * m / (sqrt(v) + eps)`. torch divides `sqrt(v)` by `sqrt(1 - beta_2**t)` before
adding epsilon, so Keras's effective epsilon is larger by `1 / sqrt(1 - beta_2**t)` (about
30x on the first step with beta_2 = 0.999). Nadam uses Keras's momentum schedule
`u_t = beta_1 * (1 - 0.5 * 0.96**t)` (torch's NAdam uses `0.96**(t * momentum_decay)`).
The shared loop (weight decay, step count, float precision of the scalars) is
`keras_rules.KerasRule`.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from kerasish.optimizers.keras_rules import KerasRule, _zeros, adam_alpha, fused_adam_


class KerasAdamTorch(KerasRule):
    """Adam with Keras's epsilon placement; `amsgrad=True` keeps the running maximum of `v`."""

    fused = True  # take torch's fused CPU kernel where it applies; False: foreach kernels only

    def __init__(self, params: Iterable[Any], lr: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 eps: float = 1e-7, amsgrad: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, beta_1=beta_1, beta_2=beta_2, eps=eps, amsgrad=amsgrad,
                                      weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["momentum"] = _zeros(p)
        state["velocity"] = _zeros(p)
        if group["amsgrad"]:
            state["velocity_hat"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        b1, b2 = group["beta_1"], group["beta_2"]
        alpha = adam_alpha(group, f)
        ms = [st["momentum"] for st in states]
        vs = [st["velocity"] for st in states]
        v_hats = [st["velocity_hat"] for st in states] if group["amsgrad"] else []
        if self.fused and fused_adam_(params, grads, ms, vs, v_hats, alpha, b1, b2, group["eps"]):
            return  # float32/float64 on the CPU: one fused pass per tensor
        torch._foreach_mul_(ms, b1)
        torch._foreach_add_(ms, grads, alpha=1.0 - b1)
        torch._foreach_mul_(vs, b2)
        torch._foreach_addcmul_(vs, grads, grads, value=1.0 - b2)
        if group["amsgrad"]:
            torch._foreach_maximum_(v_hats, vs)
            vs = v_hats
        denom = torch._foreach_sqrt(vs)
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, torch._foreach_mul(ms, alpha), denom, value=-1.0)


class KerasAdamaxTorch(KerasRule):
    """Adamax as Keras: `u = max(beta_2 * u, |g|)`, `p -= lr * m / ((1 - beta_1**t) * (u + eps))`
    (torch puts epsilon inside the maximum)."""

    def __init__(self, params: Iterable[Any], lr: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 eps: float = 1e-7, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, beta_1=beta_1, beta_2=beta_2, eps=eps, weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["momentum"] = _zeros(p)
        state["norm"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        b1 = group["beta_1"]
        correction = f(1) - f(b1) ** f(group["step"])
        ms = [st["momentum"] for st in states]
        us = [st["norm"] for st in states]
        torch._foreach_mul_(ms, b1)
        torch._foreach_add_(ms, grads, alpha=1.0 - b1)
        torch._foreach_mul_(us, group["beta_2"])
        torch._foreach_maximum_(us, torch._foreach_abs(grads))
        denom = torch._foreach_add(us, group["eps"])
        torch._foreach_mul_(denom, float(correction))
        torch._foreach_addcdiv_(params, ms, denom, value=-float(f(group["lr"])))


class KerasNadamTorch(KerasRule):
    """Nadam with Keras's momentum schedule and epsilon placement.

    `u_t = beta_1 * (1 - 0.5 * 0.96**t)`; the product of the `u`s is kept in the param
    group (`u_product`, a host number saved with `state_dict`).
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 eps: float = 1e-7, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, beta_1=beta_1, beta_2=beta_2, eps=eps, weight_decay=weight_decay,
                                      u_product=1.0))

    def init_state(self, state, p, group):
        state["momentum"] = _zeros(p)
        state["velocity"] = _zeros(p)

    def begin_step(self, group, f):
        t, b1 = f(group["step"]), f(group["beta_1"])
        decay = f(0.96)
        u_t = b1 * (f(1) - f(0.5) * decay ** t)
        u_next = b1 * (f(1) - f(0.5) * decay ** (t + f(1)))
        u_product = f(group.get("u_product", 1.0)) * u_t
        group["u_product"] = float(u_product)
        self._scalars = (u_t, u_next, u_product)

    def update(self, group, params, grads, states, f):
        b1, b2 = group["beta_1"], group["beta_2"]
        u_t, u_next, u_product = self._scalars
        m_coef = u_next / (f(1) - u_product * u_next)
        g_coef = (f(1) - u_t) / (f(1) - u_product)
        v_coef = f(1) - f(b2) ** f(group["step"])
        ms = [st["momentum"] for st in states]
        vs = [st["velocity"] for st in states]
        torch._foreach_mul_(ms, b1)
        torch._foreach_add_(ms, grads, alpha=1.0 - b1)
        torch._foreach_mul_(vs, b2)
        torch._foreach_addcmul_(vs, grads, grads, value=1.0 - b2)
        m_hat = torch._foreach_mul(ms, float(m_coef))
        torch._foreach_add_(m_hat, grads, alpha=float(g_coef))
        denom = torch._foreach_div(vs, float(v_coef))
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, m_hat, denom, value=-float(f(group["lr"])))


class KerasLambTorch(KerasRule):
    """LAMB (You et al., 2019) as Keras: Adam's bias-corrected direction (epsilon outside the
    corrected root), scaled per tensor by `||p|| / ||update||` (1 when either norm is 0)."""

    def __init__(self, params: Iterable[Any], lr: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 eps: float = 1e-7, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, beta_1=beta_1, beta_2=beta_2, eps=eps, weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["momentum"] = _zeros(p)
        state["velocity"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        b1, b2 = group["beta_1"], group["beta_2"]
        t = f(group["step"])
        ms = [st["momentum"] for st in states]
        vs = [st["velocity"] for st in states]
        torch._foreach_mul_(ms, b1)
        torch._foreach_add_(ms, grads, alpha=1.0 - b1)
        torch._foreach_mul_(vs, b2)
        torch._foreach_addcmul_(vs, grads, grads, value=1.0 - b2)
        updates = torch._foreach_div(ms, float(f(1) - f(b1) ** t))
        denom = torch._foreach_div(vs, float(f(1) - f(b2) ** t))
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_div_(updates, denom)
        w_norm = torch.stack(torch._foreach_norm(params))
        u_norm = torch.stack(torch._foreach_norm(updates))
        one = torch.ones_like(w_norm)
        ratio = torch.where(w_norm > 0, torch.where(u_norm > 0, w_norm / u_norm, one), one)
        ratio = ratio * float(f(group["lr"]))
        torch._foreach_mul_(updates, list(ratio.unbind()))
        torch._foreach_sub_(params, updates)


class KerasAdafactorTorch(KerasRule):
    """Adafactor (Shazeer & Stern, 2018) as Keras: factored second moments for tensors of rank
    >= 2 (row and column means of `g**2 + epsilon_1`), `beta_2_t = 1 - t**beta_2_decay`, the
    update clipped by its RMS (`clip_threshold`) and scaled by `max(epsilon_2, rms(p))`.

    The factored statistics have a different shape per parameter, so this rule walks the
    parameters (one small group of kernels each) instead of using foreach kernels.
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.001, beta_2_decay: float = -0.8,
                 epsilon_1: float = 1e-30, epsilon_2: float = 1e-3, clip_threshold: float = 1.0,
                 relative_step: bool = True, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, beta_2_decay=beta_2_decay, epsilon_1=epsilon_1, epsilon_2=epsilon_2,
                                      clip_threshold=clip_threshold, relative_step=relative_step,
                                      weight_decay=weight_decay))

    def init_state(self, state, p, group):
        if p.dim() >= 2:
            state["row"] = p.new_zeros(p.shape[:-1])
            state["column"] = p.new_zeros(p.shape[:-2] + p.shape[-1:])
        state["velocity"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        t = f(group["step"])
        rho = min(f(group["lr"]), f(1) / t ** f(0.5))  # `relative_step` only matters with a constant rate
        beta = f(1) - t ** f(group["beta_2_decay"])
        for p, g, st in zip(params, grads, states):
            alpha = torch.clamp_min(p.square().mean().sqrt(), group["epsilon_2"]) * float(rho)
            g2 = g.square() + group["epsilon_1"]
            v = st["velocity"]
            if p.dim() >= 2:
                r, c = st["row"], st["column"]
                r.mul_(float(beta)).add_(g2.mean(dim=-1), alpha=float(f(1) - beta))
                c.mul_(float(beta)).add_(g2.mean(dim=-2), alpha=float(f(1) - beta))
                v.copy_((r / r.mean(dim=-1, keepdim=True)).unsqueeze(-1) * c.unsqueeze(-2))
            else:
                v.mul_(float(beta)).add_(g2, alpha=float(f(1) - beta))
            u = g / v.sqrt()
            u = u / torch.clamp_min(u.square().mean().sqrt() / group["clip_threshold"], 1.0)
            p.sub_(alpha * u)
