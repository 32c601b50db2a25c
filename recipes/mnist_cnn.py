"""MNIST CNN: two 3x3 convolutions (32, 64) with max-pooling, Dense 128, softmax 10; Adam, batch 128.

The convnet of "Deep Learning with Python" / the TensorFlow CNN tutorial, imports
changed only. Images are fed channels-last, shape (n, 28, 28, 1), as in Keras; the
model has 225,034 parameters.

Run:
    python -m kerasish.recipes mnist_cnn --epochs 3
    python -m kerasish.recipes mnist_cnn --dataset fashion_mnist      # 10 epochs, the tutorial's setting
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from kerasish import datasets, layers, models
from kerasish.recipes import _cli


def build_model() -> models.Sequential:
    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(128, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def load_data(dataset: str = "mnist", quick: bool = False):
    (train_images, train_labels), (test_images, test_labels) = getattr(datasets, dataset).load_data()
    if quick:
        train_images, train_labels, test_images, test_labels = (
            train_images[:512], train_labels[:512], test_images[:256], test_labels[:256])
    train_images = train_images.reshape((len(train_images), 28, 28, 1)).astype("float32") / 255
    test_images = test_images.reshape((len(test_images), 28, 28, 1)).astype("float32") / 255
    return (train_images, train_labels.astype("int64")), (test_images, test_labels.astype("int64"))


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = _cli.parser("MNIST CNN (Conv 32/64, MaxPool, Dense 128)", epochs=10, batch_size=128,
                       dataset="mnist").parse_args(argv)
    _cli.setup(args)
    (x_train, y_train), (x_test, y_test) = load_data(args.dataset, args.quick)
    model = build_model()
    _cli.banner("mnist_cnn", model.device, [f"dataset: {args.dataset}", f"{len(x_train)} training images"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=1 if args.quick else args.epochs, batch_size=args.batch_size,
                        validation_split=0.1 if args.checkpoint else 0.0,
                        callbacks=_cli.callbacks(args, "mnist_cnn"))
    seconds = time.perf_counter() - start
    test_loss, test_acc = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    print(f"test loss: {test_loss:.4f}   test accuracy: {test_acc:.4f}   training time: {seconds:.1f}s")
    _cli.report_outputs(args, history)
    return {"test_loss": test_loss, "test_accuracy": test_acc, "seconds": seconds, "history": history.history}


if __name__ == "__main__":
    main()
