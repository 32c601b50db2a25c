"""kerasish fit vs its peers, interleaved in one run: hand loops, Keras 3 on torch, Lightning.

For each workload (see `workloads.py`) one worker process per framework is started, and
all of them stay alive together. The driver hands "run one epoch" to each worker in turn,
rep after rep (the order rotates every rep), so whatever else the machine is doing hits
all frameworks alike. Each worker measures its own wall time per epoch and, at the end,
its own peak RSS (`ru_maxrss`, so one framework's memory never counts against another)
and its final training accuracy (the learned weight for linreg, which should approach 2).

Frameworks:
- `kerasish`: `model.fit(x, y, batch_size, epochs=1, verbose=0)` on the numpy arrays.
- `hand`: a competent PyTorch loop slicing shuffled index batches of in-memory tensors.
- `hand_dataloader`: the same loop over `DataLoader(TensorDataset(x, y), shuffle=True)`.
- `keras3`: Keras 3 with `KERAS_BACKEND=torch`, `fit` on the numpy arrays.
- `lightning`: a LightningModule wrapping the hand loop's net, a fresh
  `Trainer(max_epochs=1, accelerator="cpu"/"gpu", ...)` per epoch over the same DataLoader
  (the optimizer object, and so its state, is kept across epochs).

All start from the same initial weights (kerasish's initializers, seed 0, copied into the
others), use the same optimizer numbers and batch size, and `torch.set_num_threads(--threads)`.
One warm-up epoch per framework is not timed. linreg is timed per step: one "epoch" there is
`--linreg-steps` epochs of the 4-point data set, as in `run.py`.

Run:
    python benchmarks/peers.py                                      # everything, 5 reps
    python benchmarks/peers.py --workloads mlp cnn --reps 3 --samples 6000
    python benchmarks/peers.py --frameworks kerasish hand keras3 --markdown
    python benchmarks/peers.py --device cuda --markdown             # on a GPU (every framework there)

With `--device cuda` the hand loop keeps its tensors on the GPU; the DataLoader loop and Lightning
read pinned host tensors and move each batch; kerasish and Keras 3 get the numpy arrays; each
worker synchronises the GPU before reading its clock at the end of an epoch. Lightning's fresh
Trainer per epoch moves the module to the GPU at its start and back to the CPU at its end (its
teardown), a cost a script with one Trainer for all epochs pays once.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import multiprocessing as mp
import os
import platform
import resource
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads as W  # noqa: E402  (the benchmarks folder is not a package)

FRAMEWORKS = ["kerasish", "hand", "hand_dataloader", "keras3", "lightning"]
# The module each framework needs beyond torch; a missing one is reported, never fatal.
REQUIRES = {"kerasish": "kerasish", "keras3": "keras", "lightning": "lightning"}
BASELINE = "hand"


# --------------------------------------------------------------------------- worker side
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _keras_like(module: Any, name: str, x: np.ndarray, y: np.ndarray, weights: List[np.ndarray],
                epochs: int, compile_kwargs: Dict) -> Tuple[Callable, Callable]:
    """Runner and final-metric function for kerasish or Keras 3 (same API)."""
    model = W.build_model(name, module, **compile_kwargs)
    model.set_weights(weights)
    bs = W.SPECS[name]["batch_size"]

    def run() -> None:
        model.fit(x, y, batch_size=bs, epochs=epochs, verbose=0)

    return run, lambda: W.keras_final_metric(name, model, x, y)


def _torch_setup(name: str, x: np.ndarray, y: np.ndarray, weights: List[np.ndarray], device: str):
    """The hand loop's net and optimizer on `device`; its data on the host (the DataLoader's) and on `device`."""
    import torch

    net = W.torch_net(name)
    W.load_keras_weights(name, net, weights)
    net = net.to(device)
    host_x, host_y = W.torch_inputs(name, x), torch.from_numpy(np.ascontiguousarray(y))
    xt, yt = host_x.to(device), host_y.to(device)
    opt = W.torch_optimizer(name, net.parameters())

    def final() -> float:
        if name == "linreg":
            return float(net.weight.detach().reshape(-1)[0])
        net.to(xt.device)  # Lightning's Trainer moves the module back to the CPU when it finishes
        net.eval()
        return W.accuracy(lambda t: torch.cat([net(c) for c in t.split(1024)]), xt, yt)

    return net, opt, xt, yt, (host_x, host_y), final


def _loader(xt, yt, bs: int, device: str):
    """A DataLoader over host tensors, as a PyTorch user writes it (pinned when the net is on CUDA)."""
    from torch.utils.data import DataLoader, TensorDataset

    return DataLoader(TensorDataset(xt, yt), batch_size=bs, shuffle=True, pin_memory=device.startswith("cuda"))


def _lightning(name: str, net, opt, loader, epochs: int, device: str) -> Callable:
    import logging

    import lightning.pytorch as pl

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    loss_fn = W.torch_loss(name)

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            return loss_fn(self.net(xb), yb)

        def configure_optimizers(self):
            return opt  # one optimizer object for all epochs, so Adam's moments carry over

    module = Module()

    def run() -> None:
        trainer = pl.Trainer(max_epochs=epochs, accelerator="gpu" if device.startswith("cuda") else "cpu",
                             devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(module, loader)

    return run


def build_runner(framework: str, name: str, data_dir: str, steps: int, device: str = "cpu") -> Tuple[Callable, Callable]:
    """(one timed unit of work, final metric) for a framework on a workload's saved data."""
    x, y = np.load(os.path.join(data_dir, "x.npy")), np.load(os.path.join(data_dir, "y.npy"))
    with np.load(os.path.join(data_dir, "weights.npz")) as f:
        weights = [f[f"w{i}"] for i in range(len(f.files))]
    epochs = steps if name == "linreg" else 1
    bs = W.SPECS[name]["batch_size"]
    if framework == "kerasish":
        import kerasish

        kerasish.utils.set_random_seed(0)
        return _keras_like(kerasish, name, x, y, weights, epochs, dict(device=device))
    if framework == "keras3":
        os.environ["KERAS_BACKEND"] = "torch"
        import keras

        if keras.backend.backend() != "torch":
            raise RuntimeError(f"Keras uses the {keras.backend.backend()!r} backend, not torch")
        # Keras 3 on torch picks CUDA itself when it is there; it has no per-model device argument.
        want_cuda = device.startswith("cuda")
        if keras.src.backend.torch.core.DEFAULT_DEVICE.startswith("cuda") != want_cuda:
            raise RuntimeError(f"Keras 3 runs on {keras.src.backend.torch.core.DEFAULT_DEVICE}, not {device}")
        keras.utils.set_random_seed(0)
        return _keras_like(keras, name, x, y, weights, epochs, {})
    net, opt, xt, yt, host, final = _torch_setup(name, x, y, weights, device)
    loss_fn = W.torch_loss(name)
    if framework == "hand":
        def run() -> None:
            for _ in range(epochs):
                W.hand_epoch(net, opt, xt, yt, bs, loss_fn)
        return run, final
    loader = _loader(*host, bs, device)
    if framework == "hand_dataloader":
        def run() -> None:
            for _ in range(epochs):
                W.loader_epoch(net, opt, loader, loss_fn, device)
        return run, final
    if framework == "lightning":
        return _lightning(name, net, opt, loader, epochs, device), final
    raise ValueError(f"Unknown framework {framework!r}; expected one of {FRAMEWORKS}.")


def worker(conn, framework: str, name: str, data_dir: str, steps: int, threads: Optional[int],
           device: str = "cpu") -> None:
    """A worker process: build, then answer "epoch" with seconds and "finish" with RSS and metric."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    try:
        run, final = build_runner(framework, name, data_dir, steps, device)
    except Exception as e:  # reported in the table, so one broken framework does not stop the run
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", None))
    while True:
        cmd = conn.recv()
        if cmd == "epoch":
            try:
                t = time.perf_counter()
                run()
                if device.startswith("cuda"):  # every loop reads its loss once per epoch; this is the same
                    torch.cuda.synchronize()
                conn.send(("time", time.perf_counter() - t))
            except Exception as e:
                conn.send(("error", f"{type(e).__name__}: {e}"))
                return
        else:
            rss = _peak_rss_mb()  # training's peak, before the final metric's forward passes
            conn.send(("done", dict(rss_mb=rss, final=final())))
            return


# --------------------------------------------------------------------------- driver side
def prepare(name: str, n: int, data_dir: str) -> int:
    """Saves the workload's data and kerasish's seed-0 initial weights for the workers; returns n."""
    import kerasish

    x, y = W.load_data(name, n)
    kerasish.utils.set_random_seed(0)
    weights = W.build_model(name, kerasish, device="cpu").get_weights()
    np.save(os.path.join(data_dir, "x.npy"), x)
    np.save(os.path.join(data_dir, "y.npy"), y)
    np.savez(os.path.join(data_dir, "weights.npz"), **{f"w{i}": np.asarray(w) for i, w in enumerate(weights)})
    return x.shape[0]


def installed(framework: str) -> bool:
    mod = REQUIRES.get(framework)
    return mod is None or importlib.util.find_spec(mod) is not None


def bench(name: str, frameworks: List[str], reps: int, n: int, steps: int, threads: Optional[int],
          device: str = "cpu") -> Dict:
    """Runs one workload for all frameworks, interleaved; returns {framework: result dict}."""
    ctx = mp.get_context("spawn")
    results: Dict[str, Dict[str, Any]] = {}
    print(f"({name}: starting {len(frameworks)} workers, {reps} reps)", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix=f"peers-{name}-") as data_dir:
        samples = prepare(name, n, data_dir)
        procs, conns = {}, {}
        for fw in frameworks:
            if not installed(fw):
                results[fw] = dict(status="not installed")
                continue
            here, there = ctx.Pipe()
            p = ctx.Process(target=worker, args=(there, fw, name, data_dir, steps, threads, device), daemon=True)
            p.start()
            there.close()  # so a worker that dies shows as EOF here instead of a hang
            procs[fw], conns[fw] = p, here
            results[fw] = dict(status="ok", times=[])

        def ask(fw: str, cmd: str) -> Any:
            try:
                conns[fw].send(cmd)
                kind, value = conns[fw].recv()
            except (EOFError, OSError, BrokenPipeError) as e:
                kind, value = "error", f"worker exited ({type(e).__name__})"
            if kind == "error":
                results[fw] = dict(status=f"error: {value}")
                conns.pop(fw)
            return value

        for fw in list(conns):  # all build at once; then wait for each
            try:
                kind, value = conns[fw].recv()
            except EOFError:
                kind, value = "error", "worker exited during setup"
            if kind == "error":
                results[fw] = dict(status=f"error: {value}")
                conns.pop(fw)
        for rep in range(-1, reps):  # rep -1 is the untimed warm-up
            alive = [fw for fw in frameworks if fw in conns]
            shift = max(rep, 0) % max(len(alive), 1)
            for fw in alive[shift:] + alive[:shift]:
                seconds = ask(fw, "epoch")
                if rep >= 0 and fw in conns:
                    results[fw]["times"].append(seconds)
        for fw in list(conns):
            end = ask(fw, "finish")
            if fw in conns:
                results[fw].update(end)
        for p in procs.values():
            p.join(timeout=30)
    per = steps if W.SPECS[name]["unit"] == "step" else 1
    for r in results.values():
        if r["status"] == "ok":
            t = [s / per for s in r["times"]]
            r.update(median=statistics.median(t), lo=min(t), hi=max(t))
    base = results.get(BASELINE, {}).get("median")
    for r in results.values():
        if "median" in r and base:
            r["ratio"] = r["median"] / base
    return dict(name=name, unit=W.SPECS[name]["unit"], samples=samples, rows=results)


def _time(v: float, unit: str) -> str:
    return f"{v * 1e6:.1f} us" if unit == "step" else f"{v:.3f} s"


def rows(result: Dict, frameworks: List[str]) -> List[List[str]]:
    """The printable cells of one workload: workload, framework, median, ratio, spread, RSS, final."""
    out = []
    unit = result["unit"]
    for fw in frameworks:
        r = result["rows"][fw]
        if r["status"] != "ok":
            out.append([result["name"], fw, r["status"], "", "", "", ""])
            continue
        spread = f"{_time(r['lo'], unit)}-{_time(r['hi'], unit)}"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "-"
        final = f"w={r['final']:.3f}" if result["name"] == "linreg" else f"acc={r['final']:.3f}"
        out.append([result["name"], fw, _time(r["median"], unit) + f"/{unit}", ratio, spread,
                    f"{r['rss_mb']:.0f}", final])
    return out


HEADER = ["workload", "framework", "median", f"ratio to {BASELINE}", "spread (min-max)", "peak RSS MB", "final"]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version(module: str) -> str:
    if importlib.util.find_spec(module) is None:
        return "not installed"
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        return dist_version(module)
    except PackageNotFoundError:
        return "unknown"


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", default=list(W.SPECS), choices=list(W.SPECS))
    p.add_argument("--frameworks", nargs="+", default=FRAMEWORKS, choices=FRAMEWORKS)
    p.add_argument("--reps", type=int, default=5, help="timed epochs per framework (after one warm-up)")
    p.add_argument("--samples", type=int, default=60000,
                   help="training samples (images; the tweets stop at %d)" % W.TWEETS_MAX)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads in every worker")
    p.add_argument("--linreg-steps", type=int, default=2000, help="steps per timed linreg rep")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table with date, machine, versions")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda: where every framework trains")
    args = p.parse_args(argv)
    if args.reps < 1 or args.samples < 1 or args.linreg_steps < 1:
        p.error(f"--reps, --samples and --linreg-steps must be positive; received {args.reps}, "
                f"{args.samples}, {args.linreg_steps}")
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {args.device}: torch sees no CUDA device here")
    threads = args.threads or torch.get_num_threads()
    gpu = f", training on {torch.cuda.get_device_name(args.device)}" if args.device.startswith("cuda") else ""
    if args.markdown:
        cmd = "python benchmarks/peers.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
        print(f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu_model()} "
              f"({os.cpu_count()} CPUs, {threads} torch threads){gpu}; torch {torch.__version__}, "
              f"keras {version('keras')}, lightning {version('lightning')}; Python {platform.python_version()}.")
        print(f"Command: `{cmd.strip()}`  ")
        print(f"Median of {args.reps} interleaved reps after one warm-up; ratio = framework / {BASELINE} loop; "
              "peak RSS of each framework's own worker process.\n")
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "|".join(["---"] * 2 + ["---:"] * 5) + "|", flush=True)
    else:
        print(f"torch={torch.__version__} device={args.device} threads={threads} reps={args.reps} (medians; ratio = framework / {BASELINE})")
        print(f"{HEADER[0]:12s} {HEADER[1]:16s} {HEADER[2]:>16s} {'ratio':>6s} "
              f"{HEADER[4]:>24s} {'RSS MB':>7s} {HEADER[6]:>10s}", flush=True)
    for name in args.workloads:  # each workload's rows print as soon as it is done
        result = bench(name, args.frameworks, args.reps, args.samples, args.linreg_steps, args.threads, args.device)
        for r in rows(result, args.frameworks):
            if args.markdown:
                print("| " + " | ".join(r) + " |", flush=True)
            elif r[3] == "" and r[2] != "":
                print(f"{r[0]:12s} {r[1]:16s} {r[2]}", flush=True)
            else:
                print(f"{r[0]:12s} {r[1]:16s} {r[2]:>16s} {r[3]:>6s} {r[4]:>24s} {r[5]:>7s} {r[6]:>10s}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
