"""How long `import kerasish` takes beside `import torch` (its floor) and Keras 3 on torch.

Each import runs in a fresh interpreter (`python -X importtime` is not needed: wall time of
`python -c "import X"` minus an empty interpreter's start), interleaved, `--reps` times; the
table shows medians and what kerasish adds on top of torch. Issue 23's target: under 0.3 s.

Run:
    python benchmarks/import_time.py            # 7 interleaved rounds
    python benchmarks/import_time.py --reps 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List

CASES = {
    "python (empty)": "pass",
    "import torch": "import torch",
    "import kerasish": "import kerasish",
    "import kerasish + layers, models": "import kerasish; from kerasish import layers, models",
    "import keras (torch backend)": "import keras",
}


def _time(code: str) -> float:
    env = dict(os.environ, KERAS_BACKEND="torch")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    times: Dict[str, List[float]] = {name: [] for name in CASES}
    for name, code in CASES.items():  # burn-in: warm the file cache
        _time(code)
    for _ in range(args.reps):
        for name, code in CASES.items():
            times[name].append(_time(code))
    med = {name: statistics.median(v) for name, v in times.items()}
    base = med["python (empty)"]
    print(f"median of {args.reps} interleaved fresh-interpreter imports (minus the empty interpreter's start)")
    print(f"{'import':36s} {'seconds':>8s} {'vs torch':>9s}")
    for name in CASES:
        if name == "python (empty)":
            continue
        print(f"{name:36s} {med[name] - base:8.3f} {med[name] - med['import torch']:+9.3f}")


if __name__ == "__main__":
    main()
