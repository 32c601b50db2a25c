"""Time to 91 % Fashion-MNIST test accuracy over seeds: the speed-run recipe vs the tutorial CNN.

Runs `python -m kerasish.recipes fashion_speedrun --seed S` for each seed, one subprocess at a
time, and the tutorial CNN of `recipes/mnist_cnn.py` (its model, Adam, batch 128, 10 epochs,
no augmentation) timed the same way: the clock starts just before `fit`, the test set is
evaluated after every epoch inside the timed span (the tutorial without flip averaging, as it
has no flip augmentation), training stops at the first epoch at or above the target, data
loading is excluded. The two are interleaved seed by seed so that load on the machine hits
both alike. Prints every run's line, then median/min/max of the time to target per recipe
(over the runs that reached it) and, for runs that did not, their best accuracy and time.

Run (Fashion-MNIST from the Debian package `dataset-fashion-mnist`; a quiet machine):
    python benchmarks/speedrun_seeds.py --seeds 5
    python benchmarks/speedrun_seeds.py --seeds 3 --tutorial-seeds 1 -- --precision float32
Arguments after `--` go to the speed-run recipe.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

LINE = re.compile(r"time_to_\S+: (?:([0-9.]+) s \(epochs (\d+), test accuracy ([0-9.]+)\)"
                  r"|not reached in (\d+) epochs \(best test accuracy ([0-9.]+) at epoch (\d+), ([0-9.]+) s\))")

TUTORIAL = """
import sys, torch
from kerasish.recipes import mnist_cnn, fashion_speedrun
import kerasish
seed, epochs, target = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
kerasish.utils.set_random_seed(seed)
(x, y), (xt, yt) = mnist_cnn.load_data("fashion_mnist")
model = mnist_cnn.build_model()
clock = fashion_speedrun.TimeToAccuracy(torch.from_numpy(xt), torch.from_numpy(yt), target, flip_tta=False)
clock.start()
model.fit(x, y, epochs=epochs, batch_size=128, verbose=0, callbacks=[clock])
print(clock.summary_line(), flush=True)
"""


def run(cmd: Sequence[str]) -> Dict[str, Optional[float]]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=os.environ.copy(), check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    match = None
    for line in proc.stdout.splitlines():
        if line.startswith("time_to_"):
            match = LINE.match(line)
            print("   ", line, flush=True)
    if match is None:
        raise SystemExit(f"no time_to_ line in the output of {' '.join(cmd)}:\n{proc.stdout}")
    if match.group(1):
        return {"seconds": float(match.group(1)), "epochs": float(match.group(2)), "accuracy": float(match.group(3))}
    return {"seconds": None, "epochs": float(match.group(4)), "accuracy": float(match.group(5)),
            "best_seconds": float(match.group(7))}


def summarize(name: str, results: List[Dict[str, Optional[float]]]) -> None:
    reached = [r for r in results if r["seconds"] is not None]
    missed = [r for r in results if r["seconds"] is None]
    if reached:
        times = [r["seconds"] for r in reached]
        epochs = sorted(int(r["epochs"]) for r in reached)
        print(f"{name}: time to target over {len(reached)}/{len(results)} runs: "
              f"median {statistics.median(times):.1f} s, min {min(times):.1f} s, max {max(times):.1f} s "
              f"(epochs {epochs})")
    for r in missed:
        print(f"{name}: not reached in {int(r['epochs'])} epochs; best test accuracy {r['accuracy']:.4f} "
              f"at {r['best_seconds']:.1f} s")


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5, help="speed-run seeds 0..N-1 (default 5)")
    p.add_argument("--tutorial-seeds", type=int, default=None, help="tutorial CNN seeds (default: --seeds)")
    p.add_argument("--tutorial-epochs", type=int, default=10, help="the tutorial's epochs (default 10)")
    p.add_argument("--target", type=float, default=0.91, help="test accuracy to reach (default 0.91)")
    args = p.parse_args(argv)
    n_tutorial = args.seeds if args.tutorial_seeds is None else args.tutorial_seeds
    speed: List[Dict[str, Optional[float]]] = []
    tutorial: List[Dict[str, Optional[float]]] = []
    for seed in range(max(args.seeds, n_tutorial)):
        if seed < args.seeds:
            print(f"fashion_speedrun seed {seed}", flush=True)
            speed.append(run([sys.executable, "-m", "kerasish.recipes", "fashion_speedrun", "--seed", str(seed),
                              "--target", str(args.target)] + extra))
        if seed < n_tutorial:
            print(f"tutorial mnist_cnn seed {seed}", flush=True)
            tutorial.append(run([sys.executable, "-c", TUTORIAL, str(seed), str(args.tutorial_epochs),
                                 str(args.target)]))
    print()
    summarize("fashion_speedrun", speed)
    summarize("tutorial mnist_cnn", tutorial)


if __name__ == "__main__":
    main()
