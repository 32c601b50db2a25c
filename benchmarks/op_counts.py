"""Operations per training step: kerasish's `fit` against the hand loop, counted on the CPU.

On a GPU each top-level aten operation is at least one kernel launch, and where the model is small
the host's launches set the pace (benchmarks/results/cuda-h200-2026-11-29.md: kerasish 1.10-1.20x
the hand loop there, at or below it on this CPU). This counts, with torch.profiler on the CPU, the
aten operations each side runs per step (forward, loss, backward, update, metrics; those called
from inside another aten operation are not counted again) for one epoch of a workload of
benchmarks/workloads.py, and prints the total per step and the operations whose counts differ
most. It needs no GPU and measures no time. View operations (`aten::t`, `detach`, `slice`) are
counted too though they launch no kernel, and torch.optim picks per-tensor kernels on the CPU but
foreach kernels on CUDA, so the hand loop's optimizer counts here overstate its launches there.

Run:
    python benchmarks/op_counts.py                 # mlp
    python benchmarks/op_counts.py --workload linreg --samples 256
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from typing import Callable, List, Optional

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads as W  # noqa: E402  (the benchmarks folder is not a package)


def top_level_ops(fn: Callable[[], None]) -> collections.Counter:
    """aten operations run by fn, not counting those called from inside another aten operation."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    counts: collections.Counter = collections.Counter()
    for event in prof.events():
        parent = event.cpu_parent
        if event.name.startswith("aten::") and (parent is None or not parent.name.startswith("aten::")):
            counts[event.name] += 1
    return counts


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="mlp", choices=list(W.SPECS))
    p.add_argument("--samples", type=int, default=1024, help="samples in the counted epoch (linreg: rows)")
    p.add_argument("--top", type=int, default=15, help="operations listed (largest differences first)")
    args = p.parse_args(argv)
    import kerasish

    name = args.workload
    x_np, y_np = W.load_data(name, args.samples)
    if name == "linreg":  # four points: repeat them so that the epoch has steps to count
        reps = max(1, args.samples // x_np.shape[0])
        x_np, y_np = np.repeat(x_np, reps, 0), np.repeat(y_np, reps, 0)
    kerasish.utils.set_random_seed(0)
    model = W.build_model(name, kerasish, device="cpu")
    net = W.torch_net(name)
    W.load_keras_weights(name, net, model.get_weights())
    opt = W.torch_optimizer(name, net.parameters())
    x, y = W.torch_inputs(name, x_np), torch.from_numpy(np.ascontiguousarray(y_np))
    loss_fn, bs = W.torch_loss(name), W.SPECS[name]["batch_size"]
    steps = -(-x_np.shape[0] // bs)
    model.fit(x_np, y_np, batch_size=bs, epochs=1, verbose=0)  # warm-up: lazy state on both sides
    W.hand_epoch(net, opt, x, y, bs, loss_fn)
    ours = top_level_ops(lambda: model.fit(x_np, y_np, batch_size=bs, epochs=1, verbose=0))
    hand = top_level_ops(lambda: W.hand_epoch(net, opt, x, y, bs, loss_fn))
    print(f"{name}: {steps} steps per epoch; top-level aten operations per step: "
          f"kerasish {sum(ours.values()) / steps:.1f}, hand loop {sum(hand.values()) / steps:.1f} "
          "(per-epoch work spread over the steps)")
    print(f"{'operation':36s} {'kerasish':>9s} {'hand':>7s}")
    for op in sorted(set(ours) | set(hand), key=lambda k: -abs(ours[k] - hand[k]))[:args.top]:
        print(f"{op:36s} {ours[op] / steps:9.2f} {hand[op] / steps:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
