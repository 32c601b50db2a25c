"""Flags shared by every recipe and the run banner."""

from __future__ import annotations

import argparse
from typing import List, Optional


def parser(description: str, epochs: int, batch_size: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"batch size (default {batch_size})")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    p.add_argument("--quick", action="store_true", help="a few steps only, for smoke tests")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return p


def banner(name: str, device: str, extra: Optional[List[str]] = None) -> None:
    print(f"kerasish recipe: {name} | device: {device}" + ("".join(f" | {e}" for e in extra or [])), flush=True)
