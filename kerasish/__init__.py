"""kerasish: Keras's compile/fit/evaluate/predict on real torch modules.

A Keras tutorial runs with only its imports changed::

    from kerasish.models import Sequential
    from kerasish.layers import Dense

`kerasish.callbacks`, `kerasish.recipes` and `kerasish.datasets` load lazily, so
`import kerasish` stays cheap (no TensorBoard, no torchvision).
"""

from __future__ import annotations

import importlib
from typing import Any

from kerasish import (
    activations, backend, config, constraints, initializers, layers, losses, metrics, models, ops, optimizers,
    regularizers, tree, utils,
)
from kerasish.layers import Input, Layer
from kerasish.losses import Loss
from kerasish.metrics import Metric
from kerasish.models import Model, Sequential
from kerasish.ops.dtypes import device_scope as device
from kerasish.variables import Variable

__version__ = "0.1.0"

_LAZY = ("callbacks", "recipes", "datasets", "preprocessing", "saving", "mixed_precision", "distributed", "random",
         "applications")

__all__ = [
    "Sequential", "Model", "Input", "Layer", "Loss", "Metric", "Variable", "layers", "models", "losses", "metrics", "optimizers", "activations",
    "initializers", "regularizers", "constraints", "utils", "config", "ops", "backend", "tree", "device", "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"kerasish.{name}")
        globals()[name] = module
        return module
    if name in ("load_model",):
        from kerasish import saving

        return getattr(saving, name)
    raise AttributeError(f"module 'kerasish' has no attribute {name!r}")
