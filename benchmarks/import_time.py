"""How long `import kerasish` takes beside `import torch` (its floor) and Keras 3 on torch.

Each import runs in a fresh interpreter (`python -X importtime` is not needed: wall time of
`python -c "import X"` minus an empty interpreter's start), interleaved, `--reps` times; the
table shows medians and what kerasish adds on top of torch. Issue 23's target: under 0.3 s.

Bytecode: a pip install compiles every module to `.pyc` once; an interpreter started with
`PYTHONDONTWRITEBYTECODE=1` (set on some machines, this project's among them) compiles an editable
checkout's modules from source on every start instead, which costs most of kerasish's import time.
By default the imports here run as a normal install does (the variable removed, `.pyc` files kept in
a temporary `PYTHONPYCACHEPREFIX` and written by the burn-in round); `--no-bytecode` measures the
other case.

Run:
    python benchmarks/import_time.py            # 7 interleaved rounds
    python benchmarks/import_time.py --reps 3
    python benchmarks/import_time.py --no-bytecode
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

CASES = {
    "python (empty)": "pass",
    "import torch": "import torch",
    "import kerasish": "import kerasish",
    "import kerasish + layers, models": "import kerasish; from kerasish import layers, models",
    "import keras (torch backend)": "import keras",
}


_ENV: Dict[str, str] = {}


def _time(code: str) -> float:
    env = dict(os.environ, KERAS_BACKEND="torch", **_ENV)
    if "PYTHONPYCACHEPREFIX" in _ENV:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--no-bytecode", action="store_true",
                        help="compile every module from source on each start (PYTHONDONTWRITEBYTECODE=1)")
    args = parser.parse_args()
    if args.no_bytecode:
        _ENV["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        _ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="kerasish-pycache-")
    times: Dict[str, List[float]] = {name: [] for name in CASES}
    for name, code in CASES.items():  # burn-in: warm the file cache
        _time(code)
    for _ in range(args.reps):
        for name, code in CASES.items():
            times[name].append(_time(code))
    med = {name: statistics.median(v) for name, v in times.items()}
    base = med["python (empty)"]
    how = "compiled from source each time" if args.no_bytecode else "cached bytecode, as installed"
    print(f"median of {args.reps} interleaved fresh-interpreter imports (minus the empty interpreter's start; {how})")
    print(f"{'import':36s} {'seconds':>8s} {'vs torch':>9s}")
    for name in CASES:
        if name == "python (empty)":
            continue
        print(f"{name:36s} {med[name] - base:8.3f} {med[name] - med['import torch']:+9.3f}")


if __name__ == "__main__":
    main()
