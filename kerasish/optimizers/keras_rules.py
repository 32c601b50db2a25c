"""Keras 3's update rules as torch optimizers: SGD, RMSprop, Adagrad, Adadelta, Lion, Ftrl.

Each class is a `torch.optim.Optimizer` usable on its own, and what the kerasish optimizer
of the same name runs by default. All of them:
- update every parameter of a group at once with foreach kernels (no Python loop over
  elements, no host sync: the step's scalars are host numbers); where torch has a fused CPU
  kernel that can be given Keras's formula (SGD with momentum here, Adam through
  `fused_adam_`), float32/float64 parameters on the CPU take it instead: one pass over
  memory per tensor in place of one per foreach kernel;
- apply Keras 3's decoupled weight decay before the update (`p *= 1 - lr * weight_decay`);
- count steps once per optimizer in each param group's `step` (a host integer saved with
  `state_dict`), as Keras's single `iterations` counter;
- compute the step's scalars in the parameters' float precision (float32 unless they are
  float64), as Keras computes them, so results agree with Keras to the last bits.

The Adam family (Adam, Adamax, Nadam, Lamb, Adafactor) lives in `keras_adam_rules`.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Iterable, List

import numpy as np
import torch


def scalar_type(p: torch.Tensor) -> Callable[[Any], Any]:
    """The NumPy scalar type Keras computes a step's scalars in for parameter `p`."""
    return np.float64 if p.dtype == torch.float64 else np.float32


class KerasRule(torch.optim.Optimizer):
    """Shared loop of the Keras-rule optimizers: subclasses write `init_state` and `update`.

    Args:
        params: parameters or param groups, as for any torch optimizer.
        defaults: the hyperparameters (`lr`, `weight_decay` and the rule's own).
    """

    def __init__(self, params: Iterable[Any], defaults: Dict[str, Any]) -> None:
        defaults = {"step": 0, **defaults}
        super().__init__(params, defaults)

    def init_state(self, state: Dict[str, Any], p: torch.Tensor, group: Dict[str, Any]) -> None:
        raise NotImplementedError

    def update(self, group: Dict[str, Any], params: List[torch.Tensor], grads: List[torch.Tensor],
               states: List[Dict[str, Any]], f: Callable[[Any], Any]) -> None:
        raise NotImplementedError

    def begin_step(self, group: Dict[str, Any], f: Callable[[Any], Any]) -> None:
        """Host bookkeeping once per step and group, before `update` (Nadam's momentum product)."""

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """torch's loading, then a check that the state holds this rule's buffers.

        Raises:
            ValueError: for a state written by another rule (e.g. `torch.optim.Adam`'s
                `exp_avg` where Keras's Adam keeps `momentum`), which would fail at the next step.
        """
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for p in group["params"]:
                saved = self.state.get(p)
                if not saved:
                    continue
                expected: Dict[str, Any] = {}
                self.init_state(expected, p, group)
                missing = sorted(set(expected) - set(saved))
                if missing:
                    raise ValueError(
                        f"{type(self).__name__} cannot continue from this optimizer state: it lacks {missing} and "
                        f"holds {sorted(saved)} (a state of another update rule, e.g. torch.optim's). Create the "
                        "optimizer with formula='torch' to continue torch's rule, or start a fresh optimizer."
                    )

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["step"] = group.get("step", 0) + 1  # a host integer: no device sync
            f = scalar_type(group["params"][0]) if group["params"] else np.float32
            self.begin_step(group, f)
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            states = []
            for p in params:
                st = self.state[p]
                if not st:
                    self.init_state(st, p, group)
                states.append(st)
            if group.get("weight_decay"):
                # Keras 3: decoupled, before the update, with the current learning rate.
                torch._foreach_mul_(params, float(f(1) - f(group["weight_decay"]) * f(group["lr"])))
            self.update(group, params, [p.grad for p in params], states, f)
        return loss


def _zeros(p: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(p, memory_format=torch.preserve_format)


# torch's fused Adam kernel divides by its bias corrections `1 - beta**step`. At this step
# count `beta**step` underflows to exactly 0 (in double) for every beta below 1, so both
# corrections are exactly 1 and the kernel computes `p -= lr * m / (sqrt(v) + eps)`: Keras's
# form, when `lr` is Keras's `alpha`. 2**62 is exact as float32, float64 and int64, however
# the kernel reads its step tensor.
_FAR_STEP = float(2 ** 62)
_FUSED_DTYPES = (torch.float32, torch.float64)


@functools.lru_cache(maxsize=1)
def _far_step() -> torch.Tensor:
    """The step tensor handed to the fused Adam kernel (read, never written, by it)."""
    return torch.full((), _FAR_STEP, dtype=torch.float32)


# torch has CPU kernels for _fused_adam_ / _fused_sgd_ from 2.4 on (pyproject allows 2.2).
_CPU_FUSED = tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 4)


def fusable(params: List[torch.Tensor], *others: List[torch.Tensor]) -> bool:
    """Whether torch's fused CPU kernels can update `params` with these gradients and states:
    all on the CPU, dense, contiguous and of the parameters' dtype, float32 or float64 (the
    kernels walk memory linearly, so every tensor must share one layout)."""
    if not _CPU_FUSED or not params or params[0].dtype not in _FUSED_DTYPES:
        return False
    dtype = params[0].dtype
    for group in (params, *others):
        for t in group:
            if t.device.type != "cpu" or t.dtype != dtype or t.is_sparse or not t.is_contiguous():
                return False
    return True


def fused_sgd_(params: List[torch.Tensor], grads: List[torch.Tensor], ms: List[torch.Tensor], lr: float,
               momentum: float) -> bool:
    """Keras's SGD momentum update with torch's fused CPU kernel: `m = momentum * m - lr * g`,
    `p += m` (one pass over memory per tensor).

    torch's kernel computes `buf = momentum * buf + (1 - dampening) * g`, `p -= lr' * buf`;
    with `dampening = 1 + lr` and `lr' = -1` that is Keras's form, and `buf` is Keras's
    velocity (not torch's), so the state stays Keras's under a changing learning rate.

    Returns:
        True when the update was done; False, with nothing changed, where the kernel does not
        apply (see `fusable`): the caller then runs its foreach kernels.
    """
    if not fusable(params, grads, ms):
        return False
    torch._fused_sgd_(params, grads, ms, weight_decay=0.0, momentum=momentum, lr=-1.0, dampening=1.0 + lr,
                      nesterov=False, maximize=False, is_first_step=False)
    return True


def adam_alpha(group: Dict[str, Any], f: Callable[[Any], Any]) -> float:
    """Keras's Adam step size `lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)` for the group's step `t`,
    computed in the parameters' precision `f` (as Keras computes it)."""
    t = f(group["step"])
    return float(f(group["lr"]) * (f(1) - f(group["beta_2"]) ** t) ** f(0.5) / (f(1) - f(group["beta_1"]) ** t))


def fused_adam_(params: List[torch.Tensor], grads: List[torch.Tensor], ms: List[torch.Tensor],
                vs: List[torch.Tensor], v_hats: List[torch.Tensor], alpha: float, beta_1: float, beta_2: float,
                eps: float) -> bool:
    """Keras's Adam update with torch's fused CPU kernel (one pass over memory per tensor).

    Updates in place `m = beta_1 * m + (1 - beta_1) * g`, `v = beta_2 * v + (1 - beta_2) * g**2`,
    with AMSGrad (`v_hats` not empty) `v_hat = max(v_hat, v)`, then
    `p -= alpha * m / (sqrt(v or v_hat) + eps)`, where `alpha` already holds Keras's bias
    corrections (`lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`). Weight decay is not applied
    here: Keras decays before the update (`KerasRule.step`).

    Returns:
        True when the update was done; False, with nothing changed, where the fused kernel
        does not apply (parameters off the CPU, not float32/float64, mixed dtypes,
        non-contiguous or sparse tensors, a beta of 1 or more): the caller then runs its
        foreach kernels.
    """
    if not (beta_1 < 1.0 and beta_2 < 1.0) or not fusable(params, grads, ms, vs, v_hats):
        return False
    torch._fused_adam_(params, grads, ms, vs, v_hats, [_far_step()] * len(params), lr=alpha, beta1=beta_1,
                       beta2=beta_2, weight_decay=0.0, eps=eps, amsgrad=bool(v_hats), maximize=False)
    return True


class KerasSGDTorch(KerasRule):
    """SGD with Keras's momentum form: `m = momentum * m - lr * g`, `p += m`
    (Nesterov: `p += momentum * m - lr * g`). Equal to torch's SGD for a constant rate;
    under a schedule the velocity keeps the rates it was built with, as in Keras. Without
    Nesterov, CPU parameters are updated by torch's fused kernel (`fused_sgd_`)."""

    fused = True  # take torch's fused CPU kernel where it applies; False: foreach kernels only

    def __init__(self, params: Iterable[Any], lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    def init_state(self, state, p, group):
        if group["momentum"]:
            state["momentum"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        lr = float(f(group["lr"]))
        if not group["momentum"]:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        # setdefault: a momentum switched on after the first step (e.g. by OneCycle) starts from zero.
        ms = [st.setdefault("momentum", _zeros(p)) for p, st in zip(params, states)]
        if self.fused and not group["nesterov"] and fused_sgd_(params, grads, ms, lr, group["momentum"]):
            return
        torch._foreach_mul_(ms, group["momentum"])
        torch._foreach_add_(ms, grads, alpha=-lr)
        if group["nesterov"]:
            torch._foreach_add_(params, grads, alpha=-lr)
            torch._foreach_add_(params, ms, alpha=group["momentum"])
        else:
            torch._foreach_add_(params, ms)


class KerasRMSpropTorch(KerasRule):
    """RMSprop with Keras's update, as a torch optimizer (foreach kernels).

    Keras puts epsilon inside the square root: `p -= lr * g / sqrt(v + eps)` with
    `v = rho * v + (1 - rho) * g**2` (centered: `v - avg_g**2 + eps`). torch's RMSprop
    uses `sqrt(v) + eps`; for small gradients (v near eps) the two differ a lot, so
    kerasish runs Keras's formula. Weight decay is decoupled, as in Keras.
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 eps: float = 1e-7, centered: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, momentum=momentum, eps=eps, centered=centered,
                                      weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["velocity"] = _zeros(p)
        if group["centered"]:
            state["average_gradient"] = _zeros(p)
        if group["momentum"] > 0:
            state["momentum"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        lr, rho, eps = float(f(group["lr"])), group["rho"], group["eps"]
        vs = [st["velocity"] for st in states]
        torch._foreach_mul_(vs, rho)
        torch._foreach_addcmul_(vs, grads, grads, value=1.0 - rho)
        denom = torch._foreach_add(vs, eps)
        if group["centered"]:
            avgs = [st["average_gradient"] for st in states]
            torch._foreach_mul_(avgs, rho)
            torch._foreach_add_(avgs, grads, alpha=1.0 - rho)
            torch._foreach_addcmul_(denom, avgs, avgs, value=-1.0)
        torch._foreach_sqrt_(denom)
        if group["momentum"] > 0:
            ms = [st.setdefault("momentum", _zeros(p)) for p, st in zip(params, states)]
            torch._foreach_mul_(ms, group["momentum"])
            torch._foreach_addcdiv_(ms, grads, denom, value=lr)
            torch._foreach_sub_(params, ms)
        else:
            torch._foreach_addcdiv_(params, grads, denom, value=-lr)


class KerasAdagradTorch(KerasRule):
    """Adagrad with Keras's update: `acc += g**2`, `p -= lr * g / sqrt(acc + eps)` (torch adds
    epsilon outside the root and decays the rate with `lr_decay`)."""

    def __init__(self, params: Iterable[Any], lr: float = 0.001, initial_accumulator_value: float = 0.1,
                 eps: float = 1e-7, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["accumulator"] = torch.full_like(p, group["initial_accumulator_value"],
                                               memory_format=torch.preserve_format)

    def update(self, group, params, grads, states, f):
        accs = [st["accumulator"] for st in states]
        torch._foreach_addcmul_(accs, grads, grads)
        denom = torch._foreach_add(accs, group["eps"])
        torch._foreach_sqrt_(denom)
        torch._foreach_addcdiv_(params, grads, denom, value=-float(f(group["lr"])))


class KerasAdadeltaTorch(KerasRule):
    """Adadelta with Keras's update (torch's formula, with Keras's decoupled weight decay):
    `delta = -sqrt(acc_delta + eps) / sqrt(acc_grad + eps) * g`, `p += lr * delta`."""

    def __init__(self, params: Iterable[Any], lr: float = 0.001, rho: float = 0.95, eps: float = 1e-7,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["accumulated_grad"] = _zeros(p)
        state["accumulated_delta_var"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        rho, eps = group["rho"], group["eps"]
        acc_g = [st["accumulated_grad"] for st in states]
        acc_d = [st["accumulated_delta_var"] for st in states]
        torch._foreach_mul_(acc_g, rho)
        torch._foreach_addcmul_(acc_g, grads, grads, value=1.0 - rho)
        rms_d = torch._foreach_add(acc_d, eps)
        torch._foreach_sqrt_(rms_d)
        rms_g = torch._foreach_add(acc_g, eps)
        torch._foreach_sqrt_(rms_g)
        delta = torch._foreach_mul(rms_d, grads)
        torch._foreach_div_(delta, rms_g)
        torch._foreach_neg_(delta)
        torch._foreach_mul_(acc_d, rho)
        torch._foreach_addcmul_(acc_d, delta, delta, value=1.0 - rho)
        torch._foreach_add_(params, delta, alpha=float(f(group["lr"])))


class KerasLionTorch(KerasRule):
    """Lion (Chen et al., 2023) as Keras: `p -= lr * sign(beta_1 * m + (1 - beta_1) * g)`, then
    `m = beta_2 * m + (1 - beta_2) * g`."""

    def __init__(self, params: Iterable[Any], lr: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.99,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, beta_1=beta_1, beta_2=beta_2, weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["momentum"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        b1, b2 = group["beta_1"], group["beta_2"]
        ms = [st["momentum"] for st in states]
        c = torch._foreach_mul(ms, b1)
        torch._foreach_add_(c, grads, alpha=1.0 - b1)
        torch._foreach_sign_(c)
        torch._foreach_add_(params, c, alpha=-float(f(group["lr"])))
        torch._foreach_mul_(ms, b2)
        torch._foreach_add_(ms, grads, alpha=1.0 - b2)


class KerasFtrlTorch(KerasRule):
    """FTRL-proximal (McMahan et al., 2013) with Keras's update, incl. `l2_shrinkage_regularization_strength`
    and `beta`."""

    def __init__(self, params: Iterable[Any], lr: float = 0.001, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0, l2_shrinkage_regularization_strength: float = 0.0,
                 beta: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(
            lr=lr, learning_rate_power=learning_rate_power, initial_accumulator_value=initial_accumulator_value,
            l1_regularization_strength=l1_regularization_strength,
            l2_regularization_strength=l2_regularization_strength,
            l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength, beta=beta,
            weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["accumulator"] = torch.full_like(p, group["initial_accumulator_value"],
                                               memory_format=torch.preserve_format)
        state["linear"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        lr = f(group["lr"])
        power = -group["learning_rate_power"]
        l1 = group["l1_regularization_strength"]
        l2 = float(f(group["l2_regularization_strength"]) + f(group["beta"]) / (f(2.0) * lr))
        accs = [st["accumulator"] for st in states]
        linears = [st["linear"] for st in states]
        shrink = group["l2_shrinkage_regularization_strength"]
        grad_to_use = torch._foreach_add(grads, params, alpha=2 * shrink) if shrink else grads
        new_accs = torch._foreach_addcmul(accs, grads, grads)
        new_pow = torch._foreach_pow(new_accs, power)
        change = torch._foreach_sub(new_pow, torch._foreach_pow(accs, power))
        torch._foreach_div_(change, float(lr))
        torch._foreach_mul_(change, params)
        torch._foreach_add_(linears, grad_to_use)
        torch._foreach_sub_(linears, change)
        quadratic = torch._foreach_div(new_pow, float(lr))
        torch._foreach_add_(quadratic, 2 * l2)
        clipped = torch._foreach_clamp_min(linears, -l1)
        torch._foreach_clamp_max_(clipped, l1)
        torch._foreach_sub_(clipped, linears)
        torch._foreach_div_(clipped, quadratic)
        torch._foreach_copy_(params, clipped)
        torch._foreach_copy_(accs, new_accs)
