"""The speed opt-ins measured on the cnn and lstm workloads: bf16 autocast, jit_compile, channels_last, fused Adam.

For each workload named in `--workloads` (data, model builders and hand loop imported from
benchmarks/workloads.py, which benchmarks/run.py uses too), every variant below trains a fresh model from the same initial weights,
with the same seed and batch order, for `--epochs` epochs; the variants are interleaved epoch
by epoch, so machine noise falls on all of them alike. Printed per variant: the median epoch
time over epochs 2..N (the first epoch, reported apart, holds warm-up and any compile time),
its speed-up against its reference, and the test and train accuracy after the last epoch with
the change against the reference (the accuracy effect of the opt-in).

Variants (kerasish ones against `kerasish`, hand-loop ones against `hand NCHW`):
- `kerasish`: `fit` as it is by default (float32; Conv2D consumes NHWC as channels_last memory);
- `+ bf16`: `mixed_precision.set_global_policy("mixed_bfloat16")` around its fit and evaluate;
- `+ jit_compile`: `compile(..., jit_compile=True)` (a failure or an eager fallback is printed);
- `+ fused Adam`: Keras's Adam rule through torch's fused CPU kernel (`FusedKerasAdam` of
  benchmarks/optimizer_step.py, the proposed change to `KerasAdamTorch`);
- `NCHW convs` (cnn): each Conv2D gets its input made contiguous NCHW before the convolution,
  i.e. what kerasish would cost if it did not run channels_last;
- `hand NCHW` / `hand channels_last` (cnn): the hand loop with NCHW-contiguous images, and
  with model and images in `torch.channels_last` (what kerasish gets by default);
  `hand` (lstm): the hand loop. The hand nets start from the kerasish models' initial weights.

Test data: Fashion-MNIST's t10k images (cnn); for lstm the tweets after the first
`--samples` ones (the vectorizer is adapted on both parts, as workloads.py's loader does).

Run:
    python benchmarks/optins.py                                   # cnn and lstm, 3 epochs
    python benchmarks/optins.py --workloads cnn --samples 6000 --epochs 2 --variants kerasish "+ bf16"
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import statistics
import sys
import time
import types
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads as W  # noqa: E402  benchmarks/workloads.py: data, model builders, hand loop (shared with run.py)
from optimizer_step import FusedKerasAdam  # noqa: E402

import kerasish  # noqa: E402
from kerasish import mixed_precision  # noqa: E402

SEED = 0


# --------------------------------------------------------------------------- data
def fashion_test(n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's test images (first n, NHWC), or generated ones where it is not installed."""
    path = os.path.join(W.FASHION, "t10k-images-idx3-ubyte.gz")
    if not os.path.exists(path):
        rng = np.random.default_rng(1)
        return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)
    with gzip.open(path) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)[:n]
    with gzip.open(os.path.join(W.FASHION, "t10k-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return x.astype("float32") / 255.0, y.astype("int64")


def split_data(name: str, n: int, n_test: int) -> Dict[str, np.ndarray]:
    """Training and test arrays in Keras's layout: Fashion-MNIST's own test images for cnn, the
    tweets after the first `n` for lstm (the vectorizer is adapted on both parts)."""
    if name == "cnn":
        x, y = W.load_data("cnn", n)
        x_test, y_test = fashion_test(n_test)
    else:
        x_all, y_all = W.load_tweets(n + n_test, W.LENGTH, W.VOCAB)
        x_all = x_all.astype("int64")
        x, y, x_test, y_test = x_all[:n], y_all[:n], x_all[n:], y_all[n:]
    return dict(x=x, y=y, x_test=x_test, y_test=y_test)


# --------------------------------------------------------------------------- variants
class Variant:
    """One way of training: an epoch function, accuracy functions and a context for both."""

    def __init__(self, label: str, ref: str, epoch: Callable[[], None], test_acc: Callable[[], float],
                 train_acc: Callable[[], float], context: Callable[[], Any] = contextlib.nullcontext) -> None:
        self.label, self.ref = label, ref
        self._epoch, self._test_acc, self._train_acc, self.context = epoch, test_acc, train_acc, context
        self.times: List[float] = []
        self.first: List[float] = []
        self.test: List[float] = []
        self.train: List[float] = []
        self.notes: List[str] = []
        self.failed: Optional[str] = None

    def _guarded(self, fn: Callable[[], Any]) -> Any:
        if self.failed:
            return None
        try:
            with warnings.catch_warnings(record=True) as caught, self.context():
                warnings.simplefilter("always")
                out = fn()
        except Exception as e:  # noqa: BLE001 - a failing opt-in is a result to print, not a crash
            self.failed = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
            return None
        for w in caught:
            msg = str(w.message).splitlines()[0][:160]
            if any(k in msg.lower() for k in ("compile", "autocast")) and msg not in self.notes:
                self.notes.append(msg)  # compile fallbacks, autocast complaints: part of the result
        return out

    def run_epoch(self, first: bool) -> None:
        def timed():
            t = time.perf_counter()
            self._epoch()
            return time.perf_counter() - t

        dt = self._guarded(timed)
        if dt is not None:
            (self.first if first else self.times).append(dt)

    def measure(self) -> None:
        test = self._guarded(self._test_acc)
        train = self._guarded(self._train_acc)
        if test is not None:
            self.test.append(test)
            self.train.append(train)


@contextlib.contextmanager
def bf16_policy() -> Iterator[None]:
    mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        yield
    finally:
        mixed_precision.set_global_policy("float32")


def force_nchw_convs(model: Any) -> Any:
    """Makes every Conv2D of `model` copy its input to contiguous NCHW before convolving."""
    from kerasish.layers import Conv2D

    for layer in model.layers:
        if isinstance(layer, Conv2D):
            original = type(layer)._conv
            layer._conv = types.MethodType(lambda self, x, _f=original: _f(self, x.contiguous()), layer)
    return model


def ks_variant(label: str, name: str, device: torch.device, data: Dict[str, Any],
               context: Callable[[], Any] = contextlib.nullcontext, jit: bool = False, fused_adam: bool = False,
               patch: Optional[Callable[[Any], Any]] = None) -> Variant:
    """A kerasish model of the workload, built from seed SEED (so every variant starts alike)."""
    kerasish.utils.set_random_seed(SEED)
    model = W.build_model(name, kerasish, device=device, jit_compile=jit)
    if fused_adam:
        model.optimizer.torch_class = FusedKerasAdam
        model.optimizer.build(model.trainable_weights)
    if patch is not None:
        patch(model)
    bs = W.SPECS[name]["batch_size"]
    epoch_no = [0]

    def epoch():
        kerasish.utils.set_random_seed(SEED + 1 + epoch_no[0])  # the same batch order for every variant
        epoch_no[0] += 1
        model.fit(data["x"], data["y"], batch_size=bs, epochs=1, verbose=0)
        if fused_adam and not isinstance(model.optimizer.torch_optimizer, FusedKerasAdam):
            raise RuntimeError("the fused Adam was not installed in the model's optimizer")

    def acc(x, y):
        return lambda: float(model.evaluate(x, y, batch_size=512, verbose=0, return_dict=True)["accuracy"])

    return Variant(label, "kerasish", epoch, acc(data["x_test"], data["y_test"]), acc(data["x"], data["y"]),
                   context)


def hand_variant(label: str, name: str, device: torch.device, data: Dict[str, Any],
                 memory_format: torch.memory_format = torch.contiguous_format) -> Variant:
    """workloads.py's hand loop, from the same initial weights as the kerasish variants."""
    kerasish.utils.set_random_seed(SEED)
    net = W.torch_net(name)
    W.load_keras_weights(name, net, W.build_model(name, kerasish).get_weights())
    net = net.to(device, memory_format=memory_format)
    opt = W.torch_optimizer(name, net.parameters())
    loss_fn, bs = W.torch_loss(name), W.SPECS[name]["batch_size"]

    def tensors(x, y):
        x = W.torch_inputs(name, x)
        if x.dim() == 4:
            x = x.contiguous(memory_format=memory_format)
        return x.to(device), torch.from_numpy(np.asarray(y)).to(device)

    x, y = tensors(data["x"], data["y"])
    test = tensors(data["x_test"], data["y_test"])
    epoch_no = [0]

    def epoch():
        kerasish.utils.set_random_seed(SEED + 1 + epoch_no[0])
        epoch_no[0] += 1
        W.hand_epoch(net, opt, x, y, bs, loss_fn)

    def acc(xs, ys):
        def evaluate():
            correct = sum(W.accuracy(net, xs[i:i + 512], ys[i:i + 512]) * len(ys[i:i + 512])
                          for i in range(0, len(ys), 512))
            return correct / len(ys)
        return evaluate

    return Variant(label, "hand NCHW" if memory_format == torch.channels_last else "-", epoch, acc(*test),
                   acc(x, y))


def variants_for(name: str, device: torch.device, n: int, n_test: int, chosen: List[str]) -> List[Variant]:
    data = split_data(name, n, n_test)
    makers = {
        "kerasish": lambda: ks_variant("kerasish", name, device, data),
        "+ bf16": lambda: ks_variant("+ bf16", name, device, data, context=bf16_policy),
        "+ jit_compile": lambda: ks_variant("+ jit_compile", name, device, data, jit=True),
        "+ fused Adam": lambda: ks_variant("+ fused Adam", name, device, data, fused_adam=True),
    }
    if name == "cnn":
        makers["NCHW convs"] = lambda: ks_variant("NCHW convs", name, device, data, patch=force_nchw_convs)
        makers["hand NCHW"] = lambda: hand_variant("hand NCHW", name, device, data)
        makers["hand channels_last"] = lambda: hand_variant("hand channels_last", name, device, data,
                                                            torch.channels_last)
    else:
        makers["hand"] = lambda: hand_variant("hand", name, device, data)
    return [make() for label, make in makers.items() if label in chosen]


WORKLOADS = ("cnn", "lstm")
VARIANTS = ("kerasish", "+ bf16", "+ jit_compile", "+ fused Adam", "NCHW convs", "hand NCHW", "hand channels_last",
            "hand")


# --------------------------------------------------------------------------- driver
def bench(name: str, device: torch.device, n: int, n_test: int, epochs: int, reps: int,
          chosen: List[str]) -> List[Variant]:
    merged: Dict[str, Variant] = {}
    for _ in range(reps):
        variants = variants_for(name, device, n, n_test, chosen)
        for e in range(epochs):
            for v in variants:
                v.run_epoch(first=e == 0)
        for v in variants:
            v.measure()
            if v.label in merged:  # pool the repetitions
                m = merged[v.label]
                for key in ("times", "first", "test", "train"):
                    getattr(m, key).extend(getattr(v, key))
                m.failed = m.failed or v.failed
                m.notes += [s for s in v.notes if s not in m.notes]
            else:
                merged[v.label] = v
    return list(merged.values())


def med(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def report(name: str, variants: List[Variant]) -> None:
    by = {v.label: v for v in variants}
    print(f"{name}: {'variant':20s} {'epoch s':>8s} {'1st epoch':>9s} {'speed-up':>8s} {'vs':>10s} "
          f"{'test acc':>8s} {'Δ test':>7s} {'train acc':>9s} {'Δ train':>7s}")
    for v in variants:
        ref = by.get(v.ref)
        t, first = med(v.times), med(v.first)
        rt = med(ref.times) if ref is not None else None
        test, train = med(v.test), med(v.train)
        speed = f"{rt / t:7.2f}x" if t and rt and ref is not v else f"{'-':>8s}"
        d_test = f"{test - med(ref.test):+7.3f}" if ref is not None and ref is not v and test is not None \
            and ref.test else f"{'-':>7s}"
        d_train = f"{train - med(ref.train):+7.3f}" if ref is not None and ref is not v and train is not None \
            and ref.train else f"{'-':>7s}"
        fmt = lambda x, w, p: f"{x:{w}.{p}f}" if x is not None else f"{'-':>{w}s}"  # noqa: E731
        spread = f" (test acc {min(v.test):.3f}-{max(v.test):.3f})" if len(set(v.test)) > 1 else ""
        print(f"{name}: {v.label:20s} {fmt(t, 8, 3)} {fmt(first, 9, 3)} {speed} {v.ref if ref is not v else '':>10s} "
              f"{fmt(test, 8, 4)} {d_test} {fmt(train, 9, 4)} {d_train}{spread}", flush=True)
        if v.failed:
            print(f"{name}:   {v.label} FAILED: {v.failed}")
        for note in v.notes:
            print(f"{name}:   {v.label} warned: {note}")


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS))
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--samples", type=int, default=60000, help="training samples (lstm: at most 12800 are used)")
    p.add_argument("--test-samples", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=3, help="epochs each variant trains (the first is warm-up)")
    p.add_argument("--reps", type=int, default=1, help="independent repetitions of the whole run, pooled")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.epochs < 2:
        p.error(f"--epochs must be at least 2 (the first epoch is warm-up), received {args.epochs}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = kerasish.config.resolve_device(args.device)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"bf16 CPU support={torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()} "
          f"samples={args.samples} test={args.test_samples} epochs={args.epochs} reps={args.reps} "
          f"(median epoch time over epochs 2..N); load average at start {os.getloadavg()[0]:.1f}")
    start = time.perf_counter()
    for name in args.workloads:
        n = min(args.samples, W.TWEETS_MAX) if name == "lstm" else args.samples
        report(name, bench(name, device, n, args.test_samples, args.epochs, args.reps, args.variants))
    print(f"wall time {time.perf_counter() - start:.0f}s; load average at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
