"""Per-step time of `fit` eager against `compile(jit_compile=...)`, with the compile time apart.

For each workload (built by benchmarks/workloads.py, as benchmarks/run.py builds it), two
models start from the same weights: one compiled with `jit_compile=False`, one with the
`--jit` setting. A first `fit` epoch of each is the warm-up: it holds the compiled model's
tracing and code generation, reported as `compile s` (`model.compile_time_s`). Then the two
are timed in `--rounds` interleaved rounds of one epoch each, so the machine's noise falls on
both alike; printed per workload: the median time per training step (epoch time / steps)
eager and compiled, their ratio (compiled / eager: below 1 is a speed-up) and the compile
seconds.

- `linreg`: the four points of y = 2x repeated `--linreg-points / 4` times, Dense(1),
  SGD(0.01), batch 4: the per-step overhead of a model that does no work;
- `mlp`: `--samples` Fashion-MNIST images, Dense(512, relu) + Dense(10), RMSprop, batch 128;
- `cnn` (on request): workloads.py's two-conv CNN on `--samples` images, Adam, batch 128.

Timings on a shared machine are noisy: run it on an idle one, and compare rounds.

Run:
    python benchmarks/compiled_step.py                          # linreg and mlp, 7 rounds
    python benchmarks/compiled_step.py --workloads mlp --rounds 3 --samples 3000
    python benchmarks/compiled_step.py --jit '{"mode": "max-autotune-no-cudagraphs"}'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Dict, List, Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads as W  # noqa: E402 - after the path set-up


def _data(name: str, samples: int, linreg_points: int):
    if name == "linreg":
        x, y = W.load_data("linreg", 4)
        reps = max(1, linreg_points // 4)
        return np.tile(x, (reps, 1)), np.tile(y, (reps, 1))
    return W.load_data(name, samples)


def _epoch_seconds(model: Any, x: np.ndarray, y: np.ndarray, bs: int) -> float:
    start = time.perf_counter()
    model.fit(x, y, batch_size=bs, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start


def bench(name: str, rounds: int, samples: int, linreg_points: int, jit: Any) -> Dict[str, Any]:
    import kerasish

    x, y = _data(name, samples, linreg_points)
    bs = W.SPECS[name]["batch_size"]
    kerasish.utils.set_random_seed(0)
    eager = W.build_model(name, kerasish, jit_compile=False)
    compiled = W.build_model(name, kerasish, jit_compile=jit)
    compiled.set_weights(eager.get_weights())
    steps = -(-x.shape[0] // bs)
    warm = {"eager": _epoch_seconds(eager, x, y, bs), "compiled": _epoch_seconds(compiled, x, y, bs)}
    times: Dict[str, List[float]] = {"eager": [], "compiled": []}
    for _ in range(rounds):
        times["eager"].append(_epoch_seconds(eager, x, y, bs) / steps)
        times["compiled"].append(_epoch_seconds(compiled, x, y, bs) / steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    failures = compiled.__dict__.get("_jit_compile_failures") or {}
    return dict(name=name, steps=steps, eager=med["eager"], compiled=med["compiled"],
                spread={k: (min(v), max(v)) for k, v in times.items()},
                compile_s=compiled.__dict__.get("compile_time_s"), warm=warm,
                fallback="; ".join(failures.values()) or None)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", default=["linreg", "mlp"], choices=["linreg", "mlp", "cnn"])
    p.add_argument("--rounds", type=int, default=7, help="interleaved timed epochs per model (default 7)")
    p.add_argument("--samples", type=int, default=6000, help="mlp training images (default 6000)")
    p.add_argument("--linreg-points", type=int, default=2000, help="linreg samples per epoch (default 2000)")
    p.add_argument("--jit", default="true",
                   help="the jit_compile value: 'true' or a JSON dict of torch.compile options (default true)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    jit = True if args.jit.lower() == "true" else json.loads(args.jit)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, jit_compile={jit!r}")
    print(f"{'workload':10} {'steps':>6} {'eager':>11} {'compiled':>11} {'ratio':>6} {'compile s':>10}")
    for name in args.workloads:
        r = bench(name, args.rounds, args.samples, args.linreg_points, jit)
        compile_s = f"{r['compile_s']:10.1f}" if r["compile_s"] is not None else f"{'-':>10}"
        print(f"{name:10} {r['steps']:6d} {r['eager'] * 1e6:9.1f}us {r['compiled'] * 1e6:9.1f}us "
              f"{r['compiled'] / r['eager']:6.2f} {compile_s}")
        (e_lo, e_hi), (c_lo, c_hi) = r["spread"]["eager"], r["spread"]["compiled"]
        print(f"{'':10} spread over rounds: eager {e_lo * 1e6:.1f}-{e_hi * 1e6:.1f}us, "
              f"compiled {c_lo * 1e6:.1f}-{c_hi * 1e6:.1f}us; warm-up epoch eager {r['warm']['eager']:.1f}s, "
              f"compiled {r['warm']['compiled']:.1f}s")
        if r["fallback"]:
            print(f"{'':10} compiled model fell back to eager: {r['fallback']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
