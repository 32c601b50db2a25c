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

Workloads (linreg, mlp, cnn, lstm, transformer) are defined once in workloads.py and shared
with peers.py, which adds Lightning and DataLoader loops in separate processes.

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
from typing import Any, Dict, List

import torch

import kerasish
from kerasish.models import Sequential

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
import workloads as W  # noqa: E402  (shared with peers.py; the benchmarks folder is not a package)
from workloads import accuracy, hand_epoch, load_images, load_tweets  # noqa: E402,F401  (kept importable from here)

LINREG_STEPS = 2000


def workload(name: str, device: torch.device, n: int) -> Dict:
    """One workload (see workloads.py): the kerasish model and the hand loop from the same initial weights."""
    x_np, y_np = W.load_data(name, n)
    model = W.build_model(name, kerasish, device=device)
    net = W.torch_net(name)
    W.load_keras_weights(name, net, model.get_weights())
    net = net.to(device)
    # The optimizer with the Keras optimizer's numbers (for 'rmsprop', Keras's formula as a torch optimizer).
    opt = W.torch_optimizer(name, net.parameters())
    x, y = W.torch_inputs(name, x_np).to(device), torch.from_numpy(y_np).to(device)
    loss_fn, bs = W.torch_loss(name), W.SPECS[name]["batch_size"]
    if name == "linreg":
        def hand():
            for _ in range(LINREG_STEPS):
                hand_epoch(net, opt, x, y, bs, loss_fn)

        return dict(model=model, x_np=x_np, y_np=y_np, bs=bs, hand=hand, epochs=LINREG_STEPS,
                    hand_acc=lambda: float(net.weight.detach()),
                    ks_acc=lambda: float(model.get_weights()[0].ravel()[0]), flops=None, unit="step", per=LINREG_STEPS)
    flops = 3 * 2 * x_np.shape[0] * (784 * 512 + 512 * 10) if name == "mlp" else None  # forward + backward matmuls
    return dict(model=model, x_np=x_np, y_np=y_np, bs=bs,
                hand=lambda: hand_epoch(net, opt, x, y, bs, loss_fn),
                hand_acc=lambda: accuracy(net, x, y),
                ks_acc=lambda: W.keras_final_metric(name, model, x_np, y_np), flops=flops, unit="epoch")


WORKLOADS = {name: (lambda device, n, name=name: workload(name, device, n)) for name in W.SPECS}


def keras3_model(name: str, keras: Any) -> Any:
    """The same workload in Keras 3 (KERAS_BACKEND=torch), or None for unknown names."""
    return W.build_model(name, keras) if name in W.SPECS else None


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
    if custom_step and not isinstance(model, Sequential):
        print(f"(--custom-step: {name} is a functional model; its custom train_step column is skipped)",
              file=sys.stderr)
    elif custom_step:
        mirror = mirror_of(model, device)

        def custom():
            mirror.fit(w["x_np"], w["y_np"], batch_size=w["bs"], epochs=epochs, verbose=0)

        runners.append(("custom_step", custom))
    keras = load_keras3() if with_keras else None
    if keras is not None:
        km = keras3_model(name, keras)
        km.set_weights(model.get_weights())  # the same initial weights as kerasish and the hand loop
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
