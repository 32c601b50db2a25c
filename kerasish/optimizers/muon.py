"""Muon: Keras 3's `keras.optimizers.Muon`, its update rule as a torch optimizer.

Muon (Jordan et al., 2024; with the update scale of Liu et al., 2025, "Moonlight") updates each
2-D weight by the orthogonalized momentum: `m = momentum * m + g`, then (Nesterov)
`g' = g + momentum * m`, then `p -= lr * NS5(g') * sqrt(max(rows, cols)) * rms_rate`, where NS5 is
Keras's quintic Newton-Schulz iteration (`ns_steps` times `x = a x + (b A + c A A) x` with
`A = x x^T`, from `x = g' / (||g'||_F + 1e-7)`, on the wide orientation). Every other weight
takes Keras's Adam step at `lr * adam_lr_ratio`: weights that are not 2-D, embeddings (a path
containing "embedding", with `exclude_embeddings=True`) and weights whose path matches one of
`exclude_layers` (regular expressions, e.g. the output layer's name). Weight decay is Keras's:
decoupled, before the update, at the full rate: `weight_decay` for Muon's weights,
`adam_weight_decay` for Adam's. The arithmetic follows Keras's order of operations, so a model
trained with either library's Muon keeps the same weights (tests/optimizers/test_muon.py).

Which rule a weight takes is read from its `path` (a kerasish `Variable`'s, e.g.
"sequential/dense/kernel"); a plain torch parameter has none, so `exclude_layers` cannot name it:
given `exclude_layers`, such a 2-D parameter is refused at build with the way out.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Sequence

import torch

from kerasish.optimizers.base import Optimizer
from kerasish.optimizers.keras_rules import KerasRule, _zeros, adam_alpha


def _newton_schulz5(x: torch.Tensor, steps: int, a: float, b: float, c: float) -> torch.Tensor:
    """Keras's `zeropower_via_newtonschulz5`: an approximate orthogonalization of `x` (2-D or more)."""
    wide = x.shape[-2] > x.shape[-1]
    if wide:
        x = x.transpose(-2, -1)
    x = x / (torch.linalg.norm(x, dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        gram = x @ x.transpose(-2, -1)
        poly = b * gram + (c * gram) @ gram  # Keras's `b * A + c * A @ A` (left to right)
        x = a * x + poly @ x
    return x.transpose(-2, -1) if wide else x


class KerasMuonTorch(KerasRule):
    """Muon's rule (see the module docstring). Each param group is either Muon's (`adam=False`) or
    Adam's (`adam=True`, stepping at `lr * lr_ratio`)."""

    def __init__(self, params: Iterable[Any], lr: float = 0.001, momentum: float = 0.95, nesterov: bool = True,
                 ns_steps: int = 5, muon_a: float = 3.4445, muon_b: float = -4.7750, muon_c: float = 2.0315,
                 rms_rate: Optional[float] = 0.2, beta_1: float = 0.9, beta_2: float = 0.999, eps: float = 1e-7,
                 lr_ratio: float = 1.0, weight_decay: float = 0.0, adam: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps, muon_a=muon_a,
                                      muon_b=muon_b, muon_c=muon_c, rms_rate=rms_rate, beta_1=beta_1, beta_2=beta_2,
                                      eps=eps, lr_ratio=lr_ratio, weight_decay=weight_decay, adam=adam))

    def init_state(self, state, p, group):
        state["momentum"] = _zeros(p)
        if group["adam"]:
            state["velocity"] = _zeros(p)

    def update(self, group, params, grads, states, f):
        if group["adam"]:
            self._adam(group, params, grads, states, f)
            return
        mu = group["momentum"]
        for p, g, st in zip(params, grads, states):
            m = st["momentum"]
            m.add_(g + m * (mu - 1))  # Keras: m += g + m * (momentum - 1)
            step = g + mu * m if group["nesterov"] else m
            x = float(f(group["lr"])) * _newton_schulz5(step, group["ns_steps"], group["muon_a"], group["muon_b"],
                                                        group["muon_c"])
            if group["rms_rate"] is not None:  # Moonlight's scale: the same rate and decay as Adam's
                x = x * float(f(max(x.shape[0], x.shape[1])) ** f(0.5)) * group["rms_rate"]
            p.sub_(x)

    @staticmethod
    def _adam(group, params, grads, states, f):
        alpha = adam_alpha({**group, "lr": f(group["lr"]) * f(group["lr_ratio"])}, f)  # at Adam's share of the rate
        ms = [st["momentum"] for st in states]
        vs = [st["velocity"] for st in states]
        torch._foreach_add_(ms, torch._foreach_mul(torch._foreach_sub(grads, ms), 1.0 - group["beta_1"]))
        torch._foreach_add_(vs, torch._foreach_mul(torch._foreach_sub(torch._foreach_mul(grads, grads), vs),
                                                   1.0 - group["beta_2"]))
        denom = torch._foreach_add(torch._foreach_sqrt(vs), group["eps"])
        torch._foreach_sub_(params, torch._foreach_div(torch._foreach_mul(ms, alpha), denom))


class Muon(Optimizer):
    """Muon for 2-D weights, Adam for the rest (Keras 3's `keras.optimizers.Muon`; no torch.optim counterpart).

    Args:
        learning_rate: Defaults to `0.001`.
        adam_beta_1: Adam's first-moment decay. Defaults to `0.9`.
        adam_beta_2: Adam's second-moment decay. Defaults to `0.999`.
        adam_weight_decay: the decay of the weights Adam updates. Defaults to `0.004`.
        epsilon: Adam's epsilon. Defaults to `1e-7`.
        weight_decay: the decay of the weights Muon updates. Defaults to `0.004`.
        exclude_layers: regular expressions; a weight whose path matches one is updated by Adam
            (e.g. `["output_dense"]`). Defaults to `None`.
        exclude_embeddings: update weights whose path contains "embedding" with Adam.
            Defaults to `True`.
        muon_a: the first Newton-Schulz coefficient. Defaults to `3.4445`.
        muon_b: the second Newton-Schulz coefficient. Defaults to `-4.7750`.
        muon_c: the third Newton-Schulz coefficient. Defaults to `2.0315`.
        adam_lr_ratio: Adam's rate as a fraction of `learning_rate`. Defaults to `1`.
        momentum: Muon's momentum. Defaults to `0.95`.
        ns_steps: Newton-Schulz iterations. Defaults to `5`.
        nesterov: Nesterov momentum for Muon. Defaults to `True`.
        rms_rate: Moonlight's update scale, `None` to turn it off. Defaults to `0.2`.
        **kwargs: the shared arguments of `Optimizer` (`clipnorm`, `use_ema`, `name`, ...).

    Raises:
        ValueError: for `ns_steps` that is not a positive integer, `momentum` outside [0, 1],
            `exclude_layers` that is not a list of strings, and (at build) a plain torch parameter
            that `exclude_layers` cannot name.
    """

    keras_rule = KerasMuonTorch

    def __init__(self, learning_rate: Any = 0.001, adam_beta_1: float = 0.9, adam_beta_2: float = 0.999,
                 adam_weight_decay: Optional[float] = 0.004, epsilon: float = 1e-7,
                 weight_decay: Optional[float] = 0.004, exclude_layers: Optional[Sequence[str]] = None,
                 exclude_embeddings: bool = True, muon_a: float = 3.4445, muon_b: float = -4.7750,
                 muon_c: float = 2.0315, adam_lr_ratio: float = 1, momentum: float = 0.95, ns_steps: int = 5,
                 nesterov: bool = True, rms_rate: Optional[float] = 0.2, **kwargs: Any) -> None:
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
            raise ValueError(f"Muon's ns_steps must be a positive integer (Newton-Schulz iterations), received "
                             f"{ns_steps!r}. Keras's default is 5.")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"Muon's momentum must be a float in [0, 1], received {momentum!r}.")
        if exclude_layers is not None and (isinstance(exclude_layers, str) or not all(
                isinstance(k, str) for k in exclude_layers)):
            raise ValueError(
                f"Muon's exclude_layers must be a list of strings (regular expressions matched against each "
                f"weight's path), received {exclude_layers!r}. Example: exclude_layers=['output_dense']."
            )
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.adam_beta_1, self.adam_beta_2, self.epsilon = adam_beta_1, adam_beta_2, epsilon
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        self.adam_lr_ratio, self.momentum, self.ns_steps, self.nesterov = adam_lr_ratio, momentum, ns_steps, nesterov
        self.exclude_embeddings, self.exclude_layers = exclude_embeddings, list(exclude_layers or [])
        self.adam_weight_decay, self.rms_rate = adam_weight_decay, rms_rate
        self.torch_class = self._make_rule  # builds the split groups (see _make_rule)

    def uses_adam(self, p: torch.Tensor) -> bool:
        """Whether Keras's Muon gives weight `p` the Adam step (see the class docstring)."""
        if p.dim() != 2:
            return True
        path = getattr(p, "path", None)
        if path is None:
            if self.exclude_layers:
                raise ValueError(
                    f"Muon cannot tell whether the {tuple(p.shape)} torch parameter (not a kerasish Variable, so it "
                    f"has no path) matches exclude_layers={self.exclude_layers}. Give it a path by assigning it in a "
                    "kerasish layer (or add_weight), or leave exclude_layers out."
                )
            return False
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def _make_rule(self, groups: Any, lr: float, **kwargs: Any) -> KerasMuonTorch:
        """The torch optimizer `build` creates: the parameters split into Muon's and Adam's groups, each
        into decayed and excluded (`exclude_from_weight_decay`) ones with its own decay."""
        flat: List[torch.Tensor] = [p for g in groups for p in g["params"]] if groups and isinstance(
            groups[0], dict) else list(groups)
        takes_adam = {id(p): self.uses_adam(p) for p in flat}
        split: List[Dict[str, Any]] = []
        for adam in (False, True):
            chosen = [p for p in flat if takes_adam[id(p)] == adam]
            decay = self.adam_weight_decay if adam else self.weight_decay
            for decayed in (True, False):
                part = [p for p in chosen if self._use_weight_decay(p) == decayed]
                if part:
                    split.append({"params": part, "adam": adam, "weight_decay": float(decay or 0.0) if decayed else 0.0})
        return KerasMuonTorch(split or flat, lr=lr, **kwargs)

    def torch_arguments(self) -> Dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov, "ns_steps": self.ns_steps,
                "muon_a": self.muon_a, "muon_b": self.muon_b, "muon_c": self.muon_c, "rms_rate": self.rms_rate,
                "beta_1": self.adam_beta_1, "beta_2": self.adam_beta_2, "eps": self.epsilon,
                "lr_ratio": float(self.adam_lr_ratio)}

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon, "exclude_layers": self.exclude_layers, "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings, "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate}
