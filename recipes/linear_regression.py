"""Linear regression with one Dense unit: learn y = 2x from four points.

The classic first Keras example: `Dense(1)` on x = [1, 2, 3, 4], y = 2x, SGD with
learning rate 0.01, 2000 full-batch steps. It prints the learned weight (≈ 2.00),
bias (≈ 0.00) and predictions.

Run:
    python -m kerasish.recipes linear_regression
    python -m kerasish.recipes linear_regression --epochs 500 --device cpu
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

import kerasish
from kerasish.layers import Dense
from kerasish.models import Sequential
from kerasish.recipes import _cli


def build_model() -> Sequential:
    model = Sequential([Dense(units=1, input_shape=[1])])
    model.compile(optimizer=kerasish.optimizers.SGD(learning_rate=0.01), loss="mean_squared_error")
    return model


def load_data():
    xs = np.array([1.0, 2.0, 3.0, 4.0], dtype="float32")
    return xs, 2.0 * xs


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = _cli.parser("Dense(1) learns y = 2x", epochs=2000, batch_size=4).parse_args(argv)
    _cli.setup(args)
    epochs = 50 if args.quick else args.epochs
    model = build_model()
    _cli.banner("linear_regression", str(model.device), [f"{epochs} full-batch steps"])
    xs, ys = load_data()
    history = model.fit(xs, ys, epochs=epochs, batch_size=args.batch_size, verbose=0)
    kernel, bias = model.layers[0].get_weights()
    preds = model.predict(np.array([5.0, 10.0], dtype="float32"), verbose=0).ravel()
    print(f"final loss: {history.history['loss'][-1]:.6f}")
    print(f"learned weight: {kernel.item():.4f}   bias: {bias.item():.4f}   (target 2.0000 and 0.0000)")
    print(f"predictions: x=5 -> {preds[0]:.3f}, x=10 -> {preds[1]:.3f}")
    return {"weight": float(kernel.item()), "bias": float(bias.item()), "loss": history.history["loss"][-1],
            "predictions": preds.tolist()}


if __name__ == "__main__":
    main()
