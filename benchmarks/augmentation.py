"""Throughput of kerasish's batched image augmentation against torchvision applied per image.

The block is Keras's usual one,
`Sequential([RandomFlip(), RandomRotation(0.1), RandomZoom(0.1), RandomContrast(0.2)])`,
run on whole batches (one random transform per image, drawn on the batch's device). Beside
it, the same kinds of operations from `torchvision.transforms.v2` (flips, a rotation of up
to 36 degrees, a zoom of up to 10%, a contrast change of up to 20%) are applied image by
image in a DataLoader `collate_fn` (num_workers=0), the usual torch recipe. Both read
the same float images in [0, 1] through a DataLoader of batch 128 on the CPU.

The pixels are not identical: torchvision fills rotated corners with a constant (it has
no 'reflect' mode), does zoom through a separate affine, and blends contrast towards the
grayscale mean; the work per image is of the same kind.

Each round times one pass over `--batches` batches of each pipeline, interleaved, after
one burn-in round; the table shows the median images per second and the ratio.

Run:
    python benchmarks/augmentation.py                       # 7 rounds of 8 batches of 128 32x32x3 images
    python benchmarks/augmentation.py --rounds 3 --batches 4 --size 64
    python benchmarks/augmentation.py --threads 1            # single-threaded torch
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable, List, Optional, Sequence

import torch
from torch.utils.data import DataLoader, TensorDataset

from kerasish.layers import RandomContrast, RandomFlip, RandomRotation, RandomZoom
from kerasish.models import Sequential


def _torchvision_v2():
    try:
        from torchvision.transforms import v2
    except ImportError:
        raise SystemExit(
            "benchmarks/augmentation.py compares against torchvision.transforms.v2, which is not installed. "
            "Install it with `pip install torchvision`."
        ) from None
    return v2


def kerasish_pipeline(images: torch.Tensor, batch_size: int) -> Callable[[], int]:
    """One pass of batched augmentation over NHWC `images`; returns the image count."""
    block = Sequential([RandomFlip(seed=1), RandomRotation(0.1, seed=2), RandomZoom(0.1, seed=3),
                        RandomContrast(0.2, value_range=(0, 1), seed=4)])
    loader = DataLoader(TensorDataset(images), batch_size=batch_size, num_workers=0)

    def run() -> int:
        seen = 0
        with torch.no_grad():
            for (batch,) in loader:
                out = block(batch, training=True)
                seen += out.shape[0]
        return seen

    return run


def torchvision_pipeline(images: torch.Tensor, batch_size: int) -> Callable[[], int]:
    """One pass over NCHW copies of `images`, each transformed by torchvision in the collate_fn."""
    v2 = _torchvision_v2()
    transform = v2.Compose([
        v2.RandomHorizontalFlip(0.5),
        v2.RandomVerticalFlip(0.5),
        v2.RandomRotation(36.0, interpolation=v2.InterpolationMode.BILINEAR),
        v2.RandomAffine(degrees=0.0, scale=(0.9, 1.1), interpolation=v2.InterpolationMode.BILINEAR),
        v2.ColorJitter(contrast=0.2),
    ])

    def collate(samples: Sequence[tuple]) -> torch.Tensor:
        return torch.stack([transform(image) for (image,) in samples])

    loader = DataLoader(TensorDataset(images.permute(0, 3, 1, 2).contiguous()), batch_size=batch_size,
                        num_workers=0, collate_fn=collate)

    def run() -> int:
        seen = 0
        for batch in loader:
            seen += batch.shape[0]
        return seen

    return run


def _rate(run: Callable[[], int]) -> float:
    start = time.perf_counter()
    count = run()
    return count / (time.perf_counter() - start)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per pipeline (median reported)")
    parser.add_argument("--batches", type=int, default=8, help="batches per round")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    _torchvision_v2()  # fail early with the install hint

    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.batches * args.batch_size, args.size, args.size, 3, generator=generator)
    pipelines = {
        "kerasish (batched layers)": kerasish_pipeline(images, args.batch_size),
        "torchvision v2 (per image, collate)": torchvision_pipeline(images, args.batch_size),
    }
    for run in pipelines.values():  # burn-in: first-call costs, allocator warm-up
        run()
    rates = {name: [] for name in pipelines}
    for _ in range(args.rounds):  # interleaved, so drifting machine load hits both alike
        for name, run in pipelines.items():
            rates[name].append(_rate(run))

    medians = {name: statistics.median(values) for name, values in rates.items()}
    base = medians["torchvision v2 (per image, collate)"]
    print(f"{args.batches} batches of {args.batch_size} {args.size}x{args.size}x3 float images, CPU, "
          f"{torch.get_num_threads()} torch threads, median of {args.rounds} interleaved rounds")
    print(f"{'pipeline':38s} {'images/s':>12s} {'min':>10s} {'max':>10s} {'vs torchvision':>15s}")
    for name, values in rates.items():
        print(f"{name:38s} {medians[name]:12.0f} {min(values):10.0f} {max(values):10.0f} "
              f"{medians[name] / base:14.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
