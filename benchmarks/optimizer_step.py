"""Time of one optimizer step: kerasish's Keras-rule optimizers vs torch.optim (foreach and fused).

For an mlp-sized, a cnn-sized and an lstm-sized parameter list (the shapes of the models in
benchmarks/workloads.py) it times `opt.step()` with fixed gradients, interleaving the variants
and taking the median and the minimum over `--reps` rounds of `--steps` steps each (on a shared
machine the minimum is the steadier of the two):

- `keras foreach`: the Keras-rule torch optimizer on foreach kernels (kerasish's default before
  the fused kernels);
- `keras fused`: the same Keras rule through torch's fused CPU kernel: for Adam/AdamW
  `keras_rules.fused_adam_` (wired here by `FusedKerasAdam`, the change proposed for
  `KerasAdamTorch`), for SGD with momentum what `KerasSGDTorch` now runs (`fused_sgd_`);
- `torch foreach` / `torch fused`: `torch.optim.<Name>(foreach=True)` / `(fused=True)`, which
  run torch's formula (for Adam: another epsilon placement, so not Keras's numbers).

Each row also prints the largest difference of the parameters after the timed steps from the
`keras foreach` ones started from the same weights (0 or float rounding for Keras rules; the
formula difference for torch's).

Run:
    python benchmarks/optimizer_step.py
    python benchmarks/optimizer_step.py --sizes mlp --optimizers adam --reps 7 --steps 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from kerasish.optimizers.keras_adam_rules import KerasAdamTorch
from kerasish.optimizers.keras_rules import KerasRMSpropTorch, KerasSGDTorch, adam_alpha, fused_adam_

SIZES: Dict[str, List[Tuple[int, ...]]] = {
    "mlp": [(512, 784), (512,), (10, 512), (10,)],
    "cnn": [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (128, 1600), (128,), (10, 128), (10,)],
    "lstm": [(20000, 100)] + [(512, 100), (512, 128), (512,)] * 2 + [(1, 256), (1,)],
}


class FusedKerasAdam(KerasAdamTorch):
    """KerasAdamTorch whose update goes through `fused_adam_` where it applies (the change
    proposed for keras_adam_rules.KerasAdamTorch.update)."""

    def update(self, group, params, grads, states, f):
        ms = [st["momentum"] for st in states]
        vs = [st["velocity"] for st in states]
        v_hats = [st["velocity_hat"] for st in states] if group["amsgrad"] else []
        if not fused_adam_(params, grads, ms, vs, v_hats, adam_alpha(group, f), group["beta_1"], group["beta_2"],
                           group["eps"]):
            super().update(group, params, grads, states, f)


class ForeachKerasSGD(KerasSGDTorch):
    """KerasSGDTorch on foreach kernels only (before it took torch's fused kernel)."""

    fused = False


def variants(name: str) -> Dict[str, Callable[[List[torch.Tensor]], torch.optim.Optimizer]]:
    """The optimizers compared for `name`, each a function of the parameter list."""
    if name == "adam":
        return {
            "keras foreach": lambda ps: KerasAdamTorch(ps, lr=1e-3, eps=1e-7),
            "keras fused": lambda ps: FusedKerasAdam(ps, lr=1e-3, eps=1e-7),
            "torch foreach": lambda ps: torch.optim.Adam(ps, lr=1e-3, eps=1e-7, foreach=True),
            "torch fused": lambda ps: torch.optim.Adam(ps, lr=1e-3, eps=1e-7, fused=True),
        }
    if name == "adamw":
        return {
            "keras foreach": lambda ps: KerasAdamTorch(ps, lr=1e-3, eps=1e-7, weight_decay=0.004),
            "keras fused": lambda ps: FusedKerasAdam(ps, lr=1e-3, eps=1e-7, weight_decay=0.004),
            "torch foreach": lambda ps: torch.optim.AdamW(ps, lr=1e-3, eps=1e-7, weight_decay=0.004, foreach=True),
            "torch fused": lambda ps: torch.optim.AdamW(ps, lr=1e-3, eps=1e-7, weight_decay=0.004, fused=True),
        }
    if name == "rmsprop":  # torch has no fused RMSprop
        return {
            "keras foreach": lambda ps: KerasRMSpropTorch(ps, lr=1e-3, rho=0.9, eps=1e-7),
            "torch foreach": lambda ps: torch.optim.RMSprop(ps, lr=1e-3, alpha=0.9, eps=1e-7, foreach=True),
        }
    if name == "sgd":
        return {
            "keras foreach": lambda ps: ForeachKerasSGD(ps, lr=1e-2, momentum=0.9),
            "keras fused": lambda ps: KerasSGDTorch(ps, lr=1e-2, momentum=0.9),
            "torch foreach": lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, foreach=True),
            "torch fused": lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, fused=True),
        }
    raise ValueError(f"unknown optimizer {name!r}; expected one of {OPTIMIZERS}.")


OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")


def make_params(shapes: Sequence[Tuple[int, ...]], seed: int) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """Parameters and fixed gradients of the given shapes (the same for every variant)."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g) * 0.05 for s in shapes]
    grads = [torch.randn(s, generator=g) * 1e-2 for s in shapes]
    return params, grads


def bench(size: str, opt_name: str, reps: int, steps: int) -> List[Tuple[str, float, float, float]]:
    """(variant, median and min µs per step, max |param - keras foreach param|) for each variant."""
    init, grads = make_params(SIZES[size], 0)
    runs = {}
    for label, make in variants(opt_name).items():
        ps = [p.clone().requires_grad_(True) for p in init]
        for p, gr in zip(ps, grads):
            p.grad = gr.clone()
        opt = make(ps)
        opt.step()  # warm-up: creates the state
        runs[label] = (ps, opt, [])
    for _ in range(reps):
        for label, (_, opt, times) in runs.items():
            t = time.perf_counter()
            for _ in range(steps):
                opt.step()
            times.append((time.perf_counter() - t) / steps * 1e6)
    ref = runs["keras foreach"][0]
    rows = []
    for label, (ps, _, times) in runs.items():
        diff = max(float((a.detach() - b.detach()).abs().max()) for a, b in zip(ps, ref))
        rows.append((label, statistics.median(times), min(times), diff))
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="*", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--optimizers", nargs="*", default=list(OPTIMIZERS), choices=list(OPTIMIZERS))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--steps", type=int, default=50, help="steps per timed round")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} reps={args.reps} x {args.steps} steps "
          "(median and min µs per step; 'vs' = keras foreach time / this time;\n"
          " diff = max |param - keras foreach param| after all steps)")
    print(f"{'size':5s} {'params':>9s} {'optimizer':8s} {'variant':14s} {'µs/step':>9s} {'vs keras foreach':>17s} "
          f"{'min µs':>9s} {'min vs':>7s} {'diff':>9s}")
    for size in args.sizes:
        n = sum(int(np.prod(s)) for s in SIZES[size])
        for opt_name in args.optimizers:
            rows = bench(size, opt_name, args.reps, args.steps)
            base, base_min = rows[0][1], rows[0][2]
            for label, us, us_min, diff in rows:
                print(f"{size:5s} {n:9d} {opt_name:8s} {label:14s} {us:9.1f} {base / us:16.2f}x "
                      f"{us_min:9.1f} {base_min / us_min:6.2f}x {diff:9.2e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
