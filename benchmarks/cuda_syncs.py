"""Where `fit`, `evaluate` and `predict` on CUDA make the host wait for the GPU, and whether it grows per batch.

Each case runs twice, on `--small` and on `--large` samples (batch 32, so 4x the batches),
under `torch.cuda.set_sync_debug_mode("warn")`; every synchronising CUDA call torch reports is
caught with the Python stack that made it. Per case the script prints the number of syncs on
each size and, for each source line (the innermost frame in kerasish, its callbacks, or this
script), how many syncs it made on each size. A line whose count grows with the number of
batches syncs per batch: a bug unless it is labelled and asked for. kerasish's own labelled
reads (`kerasish.utils.host_sync.labelled_sync`) are exempt from torch's debug mode, so they do
not show here; `--labelled` prints how many there were.

Cases: the built-in step (mlp with validation and a metric; a CNN with BatchNormalization and
Dropout; an LSTM), `verbose=1`, a custom `train_step` (Keras's guide), `jit_compile=True`,
mixed precision (`mixed_bfloat16`, `mixed_float16` with its loss scaling), a DataLoader input,
`evaluate` and `predict`.

Run (needs CUDA):
    python benchmarks/cuda_syncs.py
    python benchmarks/cuda_syncs.py --cases mlp custom_step --small 256 --large 1024
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import traceback
import warnings
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

HERE = os.path.abspath(__file__)


def _frame_of_interest(stack: List[traceback.FrameSummary]) -> str:
    """The innermost frame in kerasish, its callbacks/recipes, or this script: file:line function."""
    for frame in reversed(stack):
        f = frame.filename.replace(os.sep, "/")
        if "/kerasish/" in f or "/callbacks/" in f or f.endswith("/benchmarks/cuda_syncs.py"):
            if frame.name in ("_record", "showwarning"):
                continue
            short = f.split("/kerasish/")[-1] if "/kerasish/" in f else f.rsplit("/", 2)[-2] + "/" + f.rsplit("/", 1)[-1]
            return f"{short}:{frame.lineno} {frame.name}"
    return "<outside kerasish>"


def count_syncs(fn: Callable[[], None]) -> collections.Counter:
    """Runs fn under sync debug mode 'warn'; returns a Counter of the source lines that synchronised."""
    import torch

    seen: collections.Counter = collections.Counter()
    original = warnings.showwarning

    def _record(message, category, filename, lineno, file=None, line=None):
        if "synchronizing" in str(message).lower():
            seen[_frame_of_interest(traceback.extract_stack()[:-1])] += 1
        else:
            original(message, category, filename, lineno, file, line)

    torch.cuda.synchronize()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode(0)
            warnings.showwarning = original
    torch.cuda.synchronize()
    return seen


# --------------------------------------------------------------------------- the cases
def _mlp(kerasish, **compile_kwargs):
    L = kerasish.layers
    m = kerasish.Sequential([kerasish.Input((32,)), L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], **compile_kwargs)
    return m


def _data(n: int, kind: str = "flat") -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if kind == "image":
        return rng.normal(size=(n, 16, 16, 3)).astype("float32"), rng.integers(0, 10, n)
    if kind == "ids":
        return rng.integers(1, 100, (n, 12)), rng.integers(0, 2, n).astype("float32")
    return rng.normal(size=(n, 32)).astype("float32"), rng.integers(0, 10, n)


def case(name: str, n: int) -> Callable[[], None]:
    """A function that builds (outside the count) and returns the work to count for case `name` on n samples."""
    import torch

    import kerasish

    L = kerasish.layers
    kerasish.utils.set_random_seed(0)
    x, y = _data(n)
    if name == "mlp":
        m = _mlp(kerasish)
        return lambda: m.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, verbose=0)
    if name == "verbose1":
        m = _mlp(kerasish)
        return lambda: m.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, verbose=1)
    if name == "cnn_bn_dropout":
        xi, yi = _data(n, "image")
        m = kerasish.Sequential([kerasish.Input((16, 16, 3)), L.Conv2D(16, 3, activation="relu"),
                                 L.BatchNormalization(), L.MaxPooling2D(), L.Flatten(), L.Dropout(0.3),
                                 L.Dense(10, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return lambda: m.fit(xi, yi, batch_size=32, epochs=2, validation_split=0.25, verbose=0)
    if name == "lstm":
        xs, ys = _data(n, "ids")
        m = kerasish.Sequential([kerasish.Input((12,), dtype="int64"), L.Embedding(100, 16, mask_zero=True),
                                 L.LSTM(16), L.Dense(1, activation="sigmoid")])
        m.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
        return lambda: m.fit(xs, ys, batch_size=32, epochs=2, verbose=0)
    if name == "custom_step":
        class CustomModel(kerasish.Model):
            def train_step(self, data):
                xb, yb = data
                y_pred = self(xb, training=True)
                loss = self.compute_loss(y=yb, y_pred=y_pred)
                self.zero_grad()
                loss.backward()
                trainable = [v for v in self.trainable_weights]
                gradients = [v.value.grad for v in trainable]
                with torch.no_grad():
                    self.optimizer.apply(gradients, trainable)
                for metric in self.metrics:
                    if metric.name == "loss":
                        metric.update_state(loss)
                    else:
                        metric.update_state(yb, y_pred)
                return {m.name: m.result() for m in self.metrics}

        inputs = kerasish.Input((32,))
        out = L.Dense(10, activation="softmax")(L.Dense(64, activation="relu")(inputs))
        m = CustomModel(inputs, out)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return lambda: m.fit(x, y, batch_size=32, epochs=2, verbose=0)
    if name == "jit_compile":
        m = _mlp(kerasish, jit_compile=True)
        m.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # compile outside the count
        return lambda: m.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, verbose=0)
    if name in ("mixed_bfloat16", "mixed_float16"):
        kerasish.mixed_precision.set_global_policy(name)
        try:
            m = _mlp(kerasish)
        finally:
            kerasish.mixed_precision.set_global_policy("float32")

        def run() -> None:
            kerasish.mixed_precision.set_global_policy(name)
            try:
                m.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, verbose=0)
            finally:
                kerasish.mixed_precision.set_global_policy("float32")
        return run
    if name == "dataloader":
        from torch.utils.data import DataLoader, TensorDataset

        loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=32,
                            shuffle=True, pin_memory=True)
        m = _mlp(kerasish)
        return lambda: m.fit(loader, epochs=2, verbose=0)
    if name == "evaluate":
        m = _mlp(kerasish)
        m.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)
        return lambda: m.evaluate(x, y, batch_size=32, verbose=0)
    if name == "predict":
        m = _mlp(kerasish)
        m.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)
        return lambda: m.predict(x, batch_size=32, verbose=0)
    raise ValueError(f"Unknown case {name!r}; expected one of {CASES}.")


CASES = ["mlp", "verbose1", "cnn_bn_dropout", "lstm", "custom_step", "jit_compile", "mixed_bfloat16",
         "mixed_float16", "dataloader", "evaluate", "predict"]


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=CASES, choices=CASES)
    p.add_argument("--small", type=int, default=320, help="samples of the small run (default 320: 10 batches)")
    p.add_argument("--large", type=int, default=1280, help="samples of the large run (default 1280: 40 batches)")
    p.add_argument("--labelled", action="store_true", help="also print kerasish's labelled (exempt) reads")
    args = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        p.error("needs CUDA: torch sees no GPU here")
    from kerasish.utils import host_sync

    bad = 0
    for name in args.cases:
        counts: Dict[str, collections.Counter] = {}
        labelled: Dict[str, int] = {}
        try:
            for size in ("small", "large"):
                work = case(name, getattr(args, size))
                before = host_sync.labelled_count()
                counts[size] = count_syncs(work)
                labelled[size] = host_sync.labelled_count() - before
        except Exception as e:  # one broken case must not hide the others
            print(f"{name}: FAILED {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
            bad += 1
            continue
        small, large = counts["small"], counts["large"]
        grows = sorted(k for k in set(small) | set(large) if large[k] > small[k])
        verdict = "per-batch syncs" if grows else "no per-batch sync"
        bad += bool(grows)
        extra = f"; labelled reads {labelled['small']} / {labelled['large']}" if args.labelled else ""
        if labelled["large"] > labelled["small"]:
            extra += " (labelled reads grow with the batches)"
        print(f"{name}: {sum(small.values())} unlabelled syncs on {args.small} samples, "
              f"{sum(large.values())} on {args.large}: {verdict}{extra}", flush=True)
        for where in sorted(set(small) | set(large), key=lambda k: -large[k]):
            mark = "  <-- grows" if where in grows else ""
            print(f"    {small[where]:5d} {large[where]:5d}  {where}{mark}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
