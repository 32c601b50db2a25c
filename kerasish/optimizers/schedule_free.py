"""ScheduleFreeAdamW: Keras 3's `keras.optimizers.ScheduleFreeAdamW` (Defazio et al., 2024).

No learning-rate schedule: the optimizer keeps `z` ("momentum", where Adam-scaled gradient steps
land, starting at the initial weights) and the running average `x` of the `z` sequence, and leaves
the model's weights at their interpolation `y = (1 - beta_1) z + beta_1 x`. Per step `t`, Keras's
arithmetic: `v += (g^2 - v)(1 - beta_2)`; `z -= lr g / (sqrt(v / (1 - beta_2^t)) + eps)`; `x` is
recovered from the weights and the previous `z` (`x_old = (y - (1 - beta_1) z_old) / beta_1`),
averaged with the new `z` at weight `1/t`, and the weights become the new interpolation. With
`warmup_steps`, the rate ramps linearly from 0 over that many steps. Weight decay is Keras's
(decoupled, before the update).

One difference from Keras on its torch backend, deliberate: there `z_old` is read as a view of the
momentum variable, which the step has already updated in place when `x_old` is computed, so from
the second step on Keras-torch computes with the new `z` (its TensorFlow and JAX backends, and the
paper, use the previous one). kerasish follows the algorithm as written; its first step equals
Keras-torch's, later ones follow the formula (tests/optimizers/test_schedule_free.py shows both).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable

import torch

from kerasish.optimizers.base import Optimizer
from kerasish.optimizers.keras_rules import KerasRule, _zeros


class KerasScheduleFreeAdamWTorch(KerasRule):
    """Schedule-Free AdamW's rule (see the module docstring)."""

    def __init__(self, params: Iterable[Any], lr: float = 0.0025, beta_1: float = 0.9, beta_2: float = 0.999,
                 eps: float = 1e-8, warmup_steps: int = 0, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, beta_1=beta_1, beta_2=beta_2, eps=eps, warmup_steps=warmup_steps,
                                      weight_decay=weight_decay))

    def init_state(self, state, p, group):
        state["momentum"] = p.detach().clone(memory_format=torch.preserve_format)  # z starts at the weights
        state["velocity"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        t = f(group["step"])
        b1, b2 = f(group["beta_1"]), f(group["beta_2"])
        lr = f(group["lr"])
        if group["warmup_steps"] > 0:
            lr = lr * min(t / f(group["warmup_steps"]), f(1))
        bias_2 = float(f(1) - b2 ** t)
        weight = float(f(1) / t)
        for p, g, st in zip(params, grads, states):
            z, v = st["momentum"], st["velocity"]
            x_old = (p - float(f(1) - b1) * z) / float(b1)  # from the previous z, before it moves
            v.add_((g * g - v) * float(f(1) - b2))
            denom = torch.sqrt(v / bias_2) + float(group["eps"])
            z.sub_((float(lr) * g) / denom)
            x_new = float(f(1) - f(weight)) * x_old + weight * z
            p.copy_(float(f(1) - b1) * z + float(b1) * x_new)


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW: no learning-rate schedule needed (Keras's formula; no torch.optim counterpart).

    Args:
        learning_rate: Defaults to `0.0025`.
        beta_1: the interpolation between the averaged and the stepped sequences, in (0, 1).
            Defaults to `0.9`.
        beta_2: the decay of the squared-gradient average, in [0, 1). Defaults to `0.999`.
        epsilon: Defaults to `1e-8`.
        warmup_steps: steps over which the rate ramps up linearly from 0. Defaults to `0`.
        **kwargs: the shared arguments of `Optimizer` (`weight_decay`, `clipnorm`, `use_ema`, ...).

    Raises:
        ValueError: for `beta_1` outside (0, 1) (the weights are divided by it), `beta_2` outside
            [0, 1), or `warmup_steps` that is not a non-negative integer.
    """

    keras_rule = KerasScheduleFreeAdamWTorch

    def __init__(self, learning_rate: Any = 0.0025, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, warmup_steps: int = 0, **kwargs: Any) -> None:
        if isinstance(beta_1, bool) or not isinstance(beta_1, (int, float)) or not 0 < beta_1 < 1:
            raise ValueError(f"ScheduleFreeAdamW's beta_1 must be in (0, 1) (it divides the weights), received "
                             f"{beta_1!r}. Keras's default is 0.9.")
        if isinstance(beta_2, bool) or not isinstance(beta_2, (int, float)) or not 0 <= beta_2 < 1:
            raise ValueError(f"ScheduleFreeAdamW's beta_2 must be in [0, 1), received {beta_2!r}.")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"ScheduleFreeAdamW's warmup_steps must be a non-negative integer, received "
                             f"{warmup_steps!r}.")
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.warmup_steps = beta_1, beta_2, epsilon, warmup_steps

    def torch_arguments(self) -> Dict[str, Any]:
        return {**super().torch_arguments(), "beta_1": self.beta_1, "beta_2": self.beta_2, "eps": self.epsilon,
                "warmup_steps": self.warmup_steps}

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}
