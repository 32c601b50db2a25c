"""Per-call overhead of kerasish.ops against the bare torch call each op wraps.

For the 20 ops keras-io uses most, times `kerasish.ops.<op>(...)` and the equivalent
torch expression on the same small CPU tensors (so the wrapper, not the arithmetic,
dominates), interleaved in rounds; prints the median microseconds per call of each,
the difference (the overhead; the target is <= 2 us on this project's 2-core CPU) and
the ratio. `add_scalar` adds the common tensor-plus-Python-float case to the 20.

Run:
    python benchmarks/ops_overhead.py            # 7 rounds of 20,000 calls each
    python benchmarks/ops_overhead.py --rounds 3 --calls 5000
    python benchmarks/ops_overhead.py --ops matmul,take --estimator min   # a loaded machine: min is steadier
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable, List, Tuple

import torch

from kerasish import ops

x = torch.randn(8, 16)
y = torch.randn(8, 16)
m = torch.randn(16, 4)
idx = torch.tensor([0, 2, 5])

CASES: List[Tuple[str, Callable[[], Any], Callable[[], Any]]] = [
    ("shape", lambda: ops.shape(x), lambda: tuple(x.shape)),
    ("reshape", lambda: ops.reshape(x, (16, 8)), lambda: torch.reshape(x, (16, 8))),
    ("expand_dims", lambda: ops.expand_dims(x, -1), lambda: torch.unsqueeze(x, -1)),
    ("cast", lambda: ops.cast(x, "float16"), lambda: x.to(torch.float16)),
    ("sum", lambda: ops.sum(x, axis=1), lambda: torch.sum(x, dim=1)),
    ("concatenate", lambda: ops.concatenate([x, y], axis=0), lambda: torch.cat([x, y], dim=0)),
    ("mean", lambda: ops.mean(x, axis=-1), lambda: torch.mean(x, dim=-1)),
    ("arange", lambda: ops.arange(0, 16), lambda: torch.arange(0, 16, dtype=torch.int32)),
    ("convert_to_tensor", lambda: ops.convert_to_tensor(x), lambda: torch.as_tensor(x)),
    ("matmul", lambda: ops.matmul(x, m), lambda: torch.matmul(x, m)),
    ("stack", lambda: ops.stack([x, y]), lambda: torch.stack([x, y])),
    ("transpose", lambda: ops.transpose(x), lambda: x.permute(1, 0)),
    ("add", lambda: ops.add(x, y), lambda: torch.add(x, y)),
    ("add_scalar", lambda: ops.add(x, 2.0), lambda: torch.add(x, 2.0)),
    ("multiply", lambda: ops.multiply(x, y), lambda: torch.mul(x, y)),
    ("square", lambda: ops.square(x), lambda: torch.square(x)),
    ("sqrt", lambda: ops.sqrt(x.abs()), lambda: torch.sqrt(x.abs())),
    ("exp", lambda: ops.exp(x), lambda: torch.exp(x)),
    ("softmax", lambda: ops.softmax(x), lambda: torch.softmax(x, dim=-1)),
    ("take", lambda: ops.take(x, idx, axis=0), lambda: torch.index_select(x, 0, idx)),
    ("where", lambda: ops.where(x > 0, x, y), lambda: torch.where(x > 0, x, y)),
]


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--ops", default="", help="comma-separated case names to run (default: all)")
    parser.add_argument("--estimator", choices=("median", "min"), default="median",
                        help="how the rounds of one case are summarised (default: median)")
    args = parser.parse_args()
    names = [n for n in args.ops.split(",") if n]
    unknown = sorted(set(names) - {name for name, _, _ in CASES})
    if unknown:
        parser.error(f"unknown --ops {unknown}; valid names: {[name for name, _, _ in CASES]}")
    cases = [c for c in CASES if not names or c[0] in names]
    summarise = statistics.median if args.estimator == "median" else min
    torch.set_num_threads(1)
    print(f"{'op':<18} {'kerasish us':>12} {'torch us':>10} {'overhead us':>12} {'ratio':>6}")
    overheads = []
    for name, ours, bare in cases:
        ours(), bare()  # warm-up
        a, b = [], []
        for _ in range(args.rounds):  # interleaved, so drift hits both alike
            a.append(per_call_us(ours, args.calls))
            b.append(per_call_us(bare, args.calls))
        ma, mb = summarise(a), summarise(b)
        overheads.append(ma - mb)
        print(f"{name:<18} {ma:12.2f} {mb:10.2f} {ma - mb:12.2f} {ma / mb:6.2f}")
    print(f"median overhead over {len(cases)} ops: {statistics.median(overheads):.2f} us; "
          f"max {max(overheads):.2f} us")


if __name__ == "__main__":
    main()
