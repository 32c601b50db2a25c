"""Flags shared by every recipe, the run banner, and the logging/checkpoint callbacks."""

from __future__ import annotations

import argparse
import os
import time
import warnings
from typing import Any, List, Optional

import kerasish


def parser(description: str, epochs: int, batch_size: int, dataset: Optional[str] = None) -> argparse.ArgumentParser:
    """The common flags: --epochs --batch-size --device --logdir --checkpoint --quick --seed [--dataset]."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"batch size (default {batch_size})")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    p.add_argument("--logdir", default=None,
                   help="TensorBoard log folder (default runs/<recipe>/<timestamp>; 'none' disables)")
    p.add_argument("--checkpoint", default=None, help="save the best model (lowest val_loss) to this .kerasish file")
    p.add_argument("--quick", action="store_true", help="a few batches only, for smoke tests")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if dataset is not None:
        p.add_argument("--dataset", default=dataset, choices=["mnist", "fashion_mnist"],
                       help=f"image dataset (default {dataset})")
    return p


def setup(args: argparse.Namespace) -> None:
    kerasish.utils.set_random_seed(args.seed)
    kerasish.config.set_device(args.device)


def banner(name: str, device: Any, extra: Optional[List[str]] = None) -> None:
    if not kerasish.distributed.is_main_process():  # under torchrun: print once
        return
    print(f"kerasish recipe: {name} | device: {device}" + "".join(f" | {e}" for e in extra or []), flush=True)


def logdir_for(args: argparse.Namespace, name: str) -> Optional[str]:
    if args.logdir and args.logdir.lower() == "none":
        return None
    return args.logdir or os.path.join("runs", name, time.strftime("%Y%m%d-%H%M%S"))


def callbacks(args: argparse.Namespace, name: str, monitor: str = "val_loss") -> List[Any]:
    """TensorBoard (unless --logdir none or tensorboard is missing) and ModelCheckpoint (with --checkpoint)."""
    from kerasish import callbacks as cb

    out: List[Any] = []
    logdir = logdir_for(args, name)
    args.resolved_logdir = None
    if logdir:
        try:
            out.append(cb.TensorBoard(log_dir=logdir))
            args.resolved_logdir = logdir
        except ImportError as e:
            warnings.warn(f"TensorBoard logging is off: {e}", stacklevel=2)
    if args.checkpoint:
        out.append(cb.ModelCheckpoint(args.checkpoint, monitor=monitor, save_best_only=True))
    return out


def report_outputs(args: argparse.Namespace, history: Any = None) -> None:
    """Prints where the TensorBoard logs and the checkpoint went; with `history`, also saves
    the History plot (loss and metrics per epoch) as `history.png` next to the TensorBoard logs."""
    if not kerasish.distributed.is_main_process():
        return
    logdir = getattr(args, "resolved_logdir", None)
    if logdir:
        print(f"TensorBoard logs: {logdir}   (view: tensorboard --logdir {logdir})")
        if history is not None and getattr(history, "history", None):
            print(save_history_plot(history, os.path.join(logdir, "history.png")))
    if args.checkpoint:
        print(f"best checkpoint: {args.checkpoint}")


def save_history_plot(history: Any, path: str) -> str:
    """Writes `plot_history(history)` to `path`; returns the line to print (also when matplotlib is missing)."""
    try:
        from kerasish.utils.plot_history import plot_history

        fig = plot_history(history)
    except ImportError:
        return 'History plot: not saved, matplotlib is not installed (pip install "kerasish[plot]").'
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"History plot: {path}"
