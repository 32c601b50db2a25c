"""MNIST MLP: Dense(512, relu) -> Dense(10, softmax) with RMSprop, 5 epochs, batch 128.

The first example of "Deep Learning with Python" (and Keras's MNIST MLP), with only the
imports changed. Labels are one-hot (`to_categorical`), the loss categorical
cross-entropy. `--dataset fashion_mnist` trains on Fashion-MNIST (offline with the
Debian package dataset-fashion-mnist and KERASISH_DATA_PATH=/usr/share/datasets/fashion-mnist).

Run:
    python -m kerasish.recipes mnist_mlp
    python -m kerasish.recipes mnist_mlp --dataset fashion_mnist --epochs 5
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from kerasish import datasets, layers, models
from kerasish.recipes import _cli
from kerasish.utils import to_categorical


def build_model() -> models.Sequential:
    network = models.Sequential()
    network.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
    network.add(layers.Dense(10, activation="softmax"))
    network.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return network


def load_data(dataset: str = "mnist", quick: bool = False):
    (train_images, train_labels), (test_images, test_labels) = getattr(datasets, dataset).load_data()
    if quick:
        train_images, train_labels, test_images, test_labels = (
            train_images[:1024], train_labels[:1024], test_images[:512], test_labels[:512])
    train_images = train_images.reshape((len(train_images), 28 * 28)).astype("float32") / 255
    test_images = test_images.reshape((len(test_images), 28 * 28)).astype("float32") / 255
    return (train_images, to_categorical(train_labels, 10)), (test_images, to_categorical(test_labels, 10))


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = _cli.parser("MNIST MLP (Dense 512 relu -> Dense 10 softmax)", epochs=5, batch_size=128,
                       dataset="mnist").parse_args(argv)
    _cli.setup(args)
    (x_train, y_train), (x_test, y_test) = load_data(args.dataset, args.quick)
    model = build_model()
    epochs = 1 if args.quick else args.epochs
    _cli.banner("mnist_mlp", model.device, [f"dataset: {args.dataset}", f"{len(x_train)} training images"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=args.batch_size, validation_split=0.1
                        if args.checkpoint else 0.0, callbacks=_cli.callbacks(args, "mnist_mlp"))
    seconds = time.perf_counter() - start
    test_loss, test_acc = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    print(f"test loss: {test_loss:.4f}   test accuracy: {test_acc:.4f}   training time: {seconds:.1f}s")
    _cli.report_outputs(args, history)
    return {"test_loss": test_loss, "test_accuracy": test_acc, "seconds": seconds, "history": history.history}


if __name__ == "__main__":
    main()
