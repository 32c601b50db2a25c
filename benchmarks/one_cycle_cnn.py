"""One-cycle training vs the tutorial's constant rate, on the tutorial CNN (Fashion-MNIST).

Trains recipes.mnist_cnn's model (Conv 32/64, MaxPool, Dense 128; Adam, batch 128) from the
same initial weights twice: with Adam's constant 1e-3 for `--epochs` epochs, and with
`OneCycle(max_lr)` for each length in `--cycle-epochs`; prints the test accuracy after
every epoch of every run and the first epoch at which a one-cycle run reaches the constant
run's final accuracy.

Run (Fashion-MNIST from the Debian package `dataset-fashion-mnist`):
    KERASISH_DATA_PATH=/usr/share/datasets/fashion-mnist \
        python benchmarks/one_cycle_cnn.py --train-samples 20000 --epochs 10 --cycle-epochs 4 6
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import kerasish
from kerasish.callbacks import Callback, OneCycle
from kerasish.datasets import fashion_mnist


def build():
    from kerasish.recipes.mnist_cnn import build_model

    return build_model()


class TestAccuracy(Callback):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.curve = x, y, []

    def on_epoch_end(self, epoch, logs=None):
        self.curve.append(float(self.model.evaluate(self.x, self.y, verbose=0, batch_size=512)[1]))


def run(x, y, xt, yt, weights, epochs, one_cycle_lr=None):
    model = build()
    model.set_weights(weights)
    acc = TestAccuracy(xt, yt)
    callbacks = [acc] + ([OneCycle(one_cycle_lr)] if one_cycle_lr else [])
    start = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=True)
    return acc.curve, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--cycle-epochs", type=int, nargs="+", default=[4, 6])
    parser.add_argument("--max-lr", type=float, default=3e-3)
    args = parser.parse_args()
    (x, y), (xt, yt) = fashion_mnist.load_data()
    x = (x[:args.train_samples, ..., None] / 255.0).astype("float32")
    y = y[:args.train_samples]
    xt = (xt[..., None] / 255.0).astype("float32")
    kerasish.utils.set_random_seed(0)
    weights = build().get_weights()
    constant, t = run(x, y, xt, yt, weights, args.epochs)
    print(f"constant Adam 1e-3, {args.epochs} epochs ({t:.0f} s): " + " ".join(f"{a:.4f}" for a in constant))
    target = constant[-1]
    for n in args.cycle_epochs:
        kerasish.utils.set_random_seed(0)
        curve, t = run(x, y, xt, yt, weights, n, one_cycle_lr=args.max_lr)
        reached = next((i + 1 for i, a in enumerate(curve) if a >= target), None)
        print(f"OneCycle(max_lr={args.max_lr}), {n} epochs ({t:.0f} s): " + " ".join(f"{a:.4f}" for a in curve)
              + f"  -> reaches {target:.4f} at epoch {reached}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
