"""Per-step time of `fit` eager against `compile(jit_compile=...)`, with the compile time apart.

For each workload (built by benchmarks/workloads.py, as benchmarks/run.py builds it), two
models start from the same weights: one compiled with `jit_compile=False`, one with the
`--jit` setting. A first `fit` epoch of each is the warm-up: it holds the compiled model's
tracing and code generation, reported as `compile s` (`model.compile_time_s`). Then the two
are timed in `--rounds` interleaved rounds of one epoch each, so the machine's noise falls on
both alike; printed per workload: the median time per training step (epoch time / steps),
as wall time and as the process's CPU time (steadier on a shared machine), eager and
compiled, their ratio (compiled / eager: below 1 is a speed-up), the spread over rounds and
the compile seconds.

- `linreg`: the four points of y = 2x repeated `--linreg-points / 4` times, Dense(1),
  SGD(0.01), batch 4: the per-step overhead of a model that does no work;
- `mlp`: `--samples` Fashion-MNIST images, Dense(512, relu) + Dense(10), RMSprop, batch 128;
- `cnn` (on request): workloads.py's two-conv CNN on `--samples` images, Adam, batch 128.

`--breakdown` adds, for linreg, where a step's time goes (median thread CPU time of many
calls of the built-in step outside `fit`): the eager step, the compiled forward-and-loss
step (`CompiledLoss`, the update eager), the whole compiled step, its compiled call alone
and dynamo's guard evaluation within it.

Timings on a shared machine are noisy: run it on an idle one, and compare rounds. Where
other processes share the cores, `--threads 1` keeps torch's intra-op threads from waiting
on each other (with 2 threads on a busy 2-core machine an mlp step varied 45-127 ms).

Measured 2026-11-29 on the project's shared 2-core CPU (torch 2.14.1, `--threads 1
--rounds 7 --workloads linreg mlp cnn --breakdown`, cold inductor cache; median per-step
process CPU time of interleaved fit epochs, compiled / eager, spread of the rounds):
    linreg  173 us -> 70 us   (0.40x; eager 166-179, compiled 64-84)     compile 16 s
    mlp     4.25 ms -> 3.36 ms (0.79x; eager 3.84-4.51, compiled 3.04-3.58) compile 10 s
    cnn     35.6 ms -> 43.5 ms (1.22x; eager 34.7-36.3, compiled 41.8-44.6) compile 14 s
Later the same day, max pooling as aten's kernels inside the graph (kerasish/ops/opaque.py):
    cnn     0.97x, 0.98x (--rounds 5), 1.10x (--rounds 7; compiled spread 33.6-40.9 ms), 0.95x
            (--rounds 9; eager 32.9 ms, compiled 31.4 ms, compiled spread 30.1-32.4 ms) compile 8-24 s
    linreg 0.40x, mlp 0.83x (--rounds 7); mlp with RMSprop(clipnorm=1.0), clipping now inside the
            graph: 0.79-0.83x (was 0.98-1.04x with the eager update)
    linreg step breakdown: eager 147 us; forward-and-loss graph with the eager update (the
    step before the whole graph) 217 us; whole step 46 us, of which the compiled call 37 us
    and dynamo's guards 7 us (a trivial compiled call `x + 1` costs 12 us).

Run:
    python benchmarks/compiled_step.py                          # linreg and mlp, 7 rounds
    python benchmarks/compiled_step.py --workloads mlp --rounds 3 --samples 3000
    python benchmarks/compiled_step.py --workloads linreg --breakdown
    python benchmarks/compiled_step.py --jit '{"mode": "max-autotune-no-cudagraphs"}'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads as W  # noqa: E402 - after the path set-up


def _data(name: str, samples: int, linreg_points: int):
    if name == "linreg":
        x, y = W.load_data("linreg", 4)
        reps = max(1, linreg_points // 4)
        return np.tile(x, (reps, 1)), np.tile(y, (reps, 1))
    return W.load_data(name, samples)


def _epoch_seconds(model: Any, x: np.ndarray, y: np.ndarray, bs: int) -> Tuple[float, float]:
    """Wall and process CPU seconds of one fit epoch."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, batch_size=bs, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - wall, time.process_time() - cpu


def bench(name: str, rounds: int, samples: int, linreg_points: int, jit: Any) -> Dict[str, Any]:
    import kerasish

    x, y = _data(name, samples, linreg_points)
    bs = W.SPECS[name]["batch_size"]
    kerasish.utils.set_random_seed(0)
    eager = W.build_model(name, kerasish, jit_compile=False)
    compiled = W.build_model(name, kerasish, jit_compile=jit)
    compiled.set_weights(eager.get_weights())
    steps = -(-x.shape[0] // bs)
    warm = {"eager": _epoch_seconds(eager, x, y, bs)[0], "compiled": _epoch_seconds(compiled, x, y, bs)[0]}
    times: Dict[str, List[Tuple[float, float]]] = {"eager": [], "compiled": []}
    for _ in range(rounds):
        for kind, model in (("eager", eager), ("compiled", compiled)):
            wall, cpu = _epoch_seconds(model, x, y, bs)
            times[kind].append((wall / steps, cpu / steps))
    failures = compiled.__dict__.get("_jit_compile_failures") or {}
    out: Dict[str, Any] = dict(name=name, steps=steps, compile_s=compiled.__dict__.get("compile_time_s"), warm=warm,
                               fallback="; ".join(failures.values()) or None)
    for i, clock in enumerate(("wall", "cpu")):
        for kind, values in times.items():
            column = [v[i] for v in values]
            out[f"{kind}_{clock}"] = statistics.median(column)
            out[f"{kind}_{clock}_spread"] = (min(column), max(column))
    return out


def _thread_us(fn: Callable[[], Any], calls: int = 1000, repeats: int = 7) -> float:
    """Median thread CPU microseconds per call of `fn` (after a warm-up)."""
    for _ in range(100):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.thread_time()
        for _ in range(calls):
            fn()
        samples.append((time.thread_time() - start) / calls * 1e6)
    return statistics.median(samples)


def breakdown(jit: Any) -> Dict[str, float]:
    """Where a linreg training step's time goes, eager and compiled (see the module docstring)."""
    import torch

    import kerasish
    from kerasish.layers import call_context
    from kerasish.training import trainer

    x, y = W.load_data("linreg", 4)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    built = {}
    for kind, setting in (("eager", False), ("partial", jit), ("whole", jit)):
        kerasish.utils.set_random_seed(0)
        model = W.build_model("linreg", kerasish, jit_compile=setting)
        model.fit(np.tile(x, (4, 1)), np.tile(y, (4, 1)), batch_size=4, epochs=1, verbose=0)  # builds
        steps = trainer._make_steps(model, yt, train=True)
        if kind == "partial":  # the step as it was before the whole step: forward and loss compiled only
            whole = steps.train_step
            whole.partial.failures[whole.key] = "measuring the forward-and-loss graph alone"
        for _ in range(3):
            steps.train_step(xt, yt, None)  # first batch eager, then the compile
        built[kind] = steps
    out = {f"{kind} step": _thread_us(lambda s=s: s.train_step(xt, yt, None)) for kind, s in built.items()}
    steps = built["whole"]
    whole = steps.train_step
    prepared = whole.update.prepare()
    whole.update.undo(prepared)

    def call() -> None:
        with call_context.training_scope(True, steps.module_ids):
            whole.compiled(steps, xt, yt, None, prepared, whole.update)

    out["whole: compiled call"] = _thread_us(call)
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    body = getattr(whole.compiled, "_torchdynamo_orig_callable", None)
    entries = _debug_get_cache_entry_list(body.__code__) if body is not None else []
    if entries:
        guards = entries[0].guard_manager
        frame = dict(steps=steps, x=xt, y=yt, w=None, prepared=prepared, update=whole.update)
        with call_context.training_scope(True, steps.module_ids):
            if guards.check(frame):
                out["whole: dynamo guards"] = _thread_us(lambda: guards.check(frame))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", default=["linreg", "mlp"], choices=["linreg", "mlp", "cnn"])
    p.add_argument("--rounds", type=int, default=7, help="interleaved timed epochs per model (default 7)")
    p.add_argument("--samples", type=int, default=6000, help="mlp training images (default 6000)")
    p.add_argument("--linreg-points", type=int, default=2000, help="linreg samples per epoch (default 2000)")
    p.add_argument("--jit", default="true",
                   help="the jit_compile value: 'true' or a JSON dict of torch.compile options (default true)")
    p.add_argument("--breakdown", action="store_true", help="also time the parts of a linreg step")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--warm-cache", action="store_true",
                   help="reuse inductor's on-disk cache (default: a fresh one, so `compile s` is a first compile)")
    args = p.parse_args(argv)
    if not args.warm_cache:
        # Read by inductor when it first compiles: a cached kernel would hide the code generation time.
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="kerasish-bench-inductor-")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    jit = True if args.jit.lower() == "true" else json.loads(args.jit)
    cache = "warm (reused)" if args.warm_cache else "cold (fresh)"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, jit_compile={jit!r}, inductor cache {cache}")
    print(f"{'workload':10} {'clock':5} {'steps':>6} {'eager':>11} {'compiled':>11} {'ratio':>6} {'compile s':>10}")
    for name in args.workloads:
        r = bench(name, args.rounds, args.samples, args.linreg_points, jit)
        compile_s = f"{r['compile_s']:10.1f}" if r["compile_s"] is not None else f"{'-':>10}"
        for clock in ("wall", "cpu"):
            e, c = r[f"eager_{clock}"], r[f"compiled_{clock}"]
            print(f"{name:10} {clock:5} {r['steps']:6d} {e * 1e6:9.1f}us {c * 1e6:9.1f}us {c / e:6.2f} {compile_s}")
            (e_lo, e_hi), (c_lo, c_hi) = r[f"eager_{clock}_spread"], r[f"compiled_{clock}_spread"]
            print(f"{'':16} spread over rounds: eager {e_lo * 1e6:.1f}-{e_hi * 1e6:.1f}us, "
                  f"compiled {c_lo * 1e6:.1f}-{c_hi * 1e6:.1f}us")
        print(f"{'':16} warm-up epoch: eager {r['warm']['eager']:.1f}s, compiled {r['warm']['compiled']:.1f}s")
        if r["fallback"]:
            print(f"{'':16} compiled model fell back: {r['fallback']}")
    if args.breakdown:
        print("linreg step breakdown (median thread CPU us per call, outside fit):")
        for what, us in breakdown(jit).items():
            print(f"  {what:28} {us:8.1f}us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
