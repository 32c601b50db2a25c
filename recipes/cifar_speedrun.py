"""CIFAR-10 speed run in the spirit of airbench: time to 94 % test accuracy on one GPU.

airbench's shape on kerasish's public API: a stem convolution, then three blocks of
(Conv, MaxPool, BatchNorm, GELU, Conv, BatchNorm, GELU) of widths 64/256/256, global max
pooling and a linear classifier; Nesterov SGD with decoupled weight decay under a linear
warm-up/decay (one-cycle) schedule, label smoothing 0.2, random flips and 2-pixel
translations with flip test-time augmentation (`--no-flip` turns all three off), bfloat16
autocast where the device has it, batch 1024, data resident on the device. It is meant for a
GPU (`--device cuda`); on a CPU it runs, slowly. Its hyperparameters (peak rate 0.4,
momentum 0.85, weight decay 5e-4) are not yet tuned on a GPU and no result is claimed here:
run it where a GPU is lent and report what it prints.

What is timed is as in `fashion_speedrun`: from just before `fit` until the end of the
first epoch whose test accuracy reaches `--target`, the per-epoch test evaluation included,
data loading excluded.

`--data synthetic` trains on locally generated CIFAR-shaped images (10 classes of smooth
colour patterns with noise and shifts), for smoke tests on machines without CIFAR-10.

Run:
    python -m kerasish.recipes cifar_speedrun --device cuda
    python -m kerasish.recipes cifar_speedrun --data synthetic --quick --device cpu
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

import kerasish
from kerasish import datasets, layers, losses, models, optimizers
from kerasish.recipes import _cli
from kerasish.recipes.fashion_speedrun import add_speedrun_flags, check_target, prepare, resolve_precision, run

WIDTHS = (64, 256, 256)


def synthetic_cifar(n_train: int = 5000, n_test: int = 1000, seed: int = 0) -> Tuple[Tuple[np.ndarray, ...], ...]:
    """CIFAR-shaped stand-in data: uint8 images (n, 32, 32, 3), labels (n, 1) in 0-9.

    Each class is a smooth random colour pattern (a 4x4x3 grid upsampled to 32x32); an
    image is its class's pattern shifted by up to 3 pixels, plus Gaussian noise.
    """
    rng = np.random.default_rng(seed)
    templates = np.kron(rng.uniform(40, 215, size=(10, 4, 4, 3)), np.ones((1, 8, 8, 1)))

    def draw(n: int) -> Tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, size=n)
        shifts = rng.integers(-3, 4, size=(n, 2))
        images = np.stack([np.roll(templates[c], tuple(s), axis=(0, 1)) for c, s in zip(labels, shifts)])
        images = images + rng.normal(0, 40, size=images.shape)
        return np.clip(images, 0, 255).astype("uint8"), labels.reshape(-1, 1).astype("uint8")

    return draw(n_train), draw(n_test)


def conv_bn(x: Any, width: int, pool: bool = False) -> Any:
    x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
    if pool:
        x = layers.MaxPooling2D(2)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)  # short runs: faster-moving statistics
    return layers.Activation("gelu")(x)


def build_model(widths: Sequence[int] = WIDTHS, stem: int = 24, label_smoothing: float = 0.2,
                learning_rate: float = 0.4, weight_decay: float = 5e-4, seed: Optional[int] = None,
                augment: bool = True) -> models.Model:
    """airbench-like CNN for (32, 32, 3) images, compiled with Nesterov SGD; outputs logits."""
    inputs = layers.Input((32, 32, 3))
    x = inputs
    if augment:
        x = layers.RandomFlip("horizontal", seed=seed)(x)
        x = layers.RandomTranslation(2 / 32, 2 / 32, fill_mode="reflect", seed=seed)(x)
    x = conv_bn(x, stem)
    for width in widths:
        x = conv_bn(conv_bn(x, width, pool=True), width)
    x = layers.GlobalMaxPooling2D()(x)
    outputs = layers.Dense(10, use_bias=False)(x)
    model = models.Model(inputs, outputs, name="cifar_speedrun")
    model.compile(optimizer=optimizers.SGD(learning_rate, momentum=0.85, nesterov=True, weight_decay=weight_decay),
                  loss=losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing))
    return model


def load_data(data: str, quick: bool, seed: int, device: Any) -> Tuple[Tuple[Any, ...], Tuple[Any, ...]]:
    if data == "synthetic":
        (x_train, y_train), (x_test, y_test) = synthetic_cifar(1024 if quick else 10000, 256 if quick else 2000, seed)
    else:
        (x_train, y_train), (x_test, y_test) = datasets.cifar10.load_data()
        if quick:
            x_train, y_train, x_test, y_test = x_train[:512], y_train[:512], x_test[:256], y_test[:256]
    if x_train.shape[1:] != (32, 32, 3):
        raise ValueError(f"cifar_speedrun expects channels-last images of shape (n, 32, 32, 3), received "
                         f"{x_train.shape}. Call kerasish.config.set_image_data_format('channels_last') first.")
    return prepare(x_train, y_train, x_test, y_test, device)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    p = _cli.parser("CIFAR-10 speed run (airbench-style): time to 94 % test accuracy", epochs=10, batch_size=1024)
    add_speedrun_flags(p, target=0.94, learning_rate=0.4, label_smoothing=0.2, flip=True)
    p.add_argument("--data", default="cifar10", choices=["cifar10", "synthetic"],
                   help="cifar10, or locally generated CIFAR-shaped stand-in images (default cifar10)")
    p.add_argument("--width-scale", type=float, default=None,
                   help="multiply every width (default 1; --quick uses 0.125)")
    args = p.parse_args(argv)
    check_target(args.target)
    scale = args.width_scale if args.width_scale is not None else (0.125 if args.quick else 1.0)
    if not scale > 0:
        raise ValueError(f"--width-scale must be > 0, received {scale!r}. Example: --width-scale 0.5.")
    _cli.setup(args)
    train, test = load_data(args.data, args.quick, args.seed, kerasish.config.default_device())
    if args.quick:
        args.epochs, args.batch_size = min(args.epochs, 2), min(args.batch_size, 128)
    previous = kerasish.mixed_precision.global_policy()
    try:
        widths = [max(1, round(w * scale)) for w in WIDTHS]
        model = build_model(widths, stem=max(1, round(24 * scale)), label_smoothing=args.label_smoothing,
                            learning_rate=args.learning_rate, seed=args.seed, augment=args.flip)
        precision = resolve_precision(args.precision, model.device)
        kerasish.mixed_precision.set_global_policy(precision)
        _cli.banner("cifar_speedrun", model.device,
                    [f"data: {args.data}", f"{len(train[0])} training images", f"widths {widths}",
                     f"precision: {precision}", f"batch {args.batch_size}", f"target {args.target}"])
        return {**run(args, "cifar_speedrun", model, train, test, pct_start=0.23, anneal="linear"),
                "precision": precision}
    finally:
        kerasish.mixed_precision.set_global_policy(previous)


if __name__ == "__main__":
    main()
