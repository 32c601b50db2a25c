"""kerasish: Keras's compile/fit/evaluate/predict on real torch modules.

A Keras tutorial runs with only its imports changed::

    from kerasish.models import Sequential
    from kerasish.layers import Dense

Every subpackage and top-level name (`kerasish.layers`, `kerasish.Model`, ...) loads on first
use (PEP 562), so `import kerasish` costs little more than `import torch`: no layers, models,
TensorBoard or torchvision until something asks for them. Loading a saved model imports the
packages that define kerasish's own classes first (see `_import_builtin_classes`).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, List

from kerasish import config
from kerasish.utils.object_registration import add_builtin_loader as _add_builtin_loader

__version__ = "0.1.0"

_SUBPACKAGES = (
    "activations", "backend", "config", "constraints", "initializers", "layers", "losses", "metrics", "models",
    "ops", "optimizers", "regularizers", "tree", "utils",
    # Rarely needed at startup: TensorBoard, torchvision, h5py and friends stay unloaded until used.
    "callbacks", "recipes", "datasets", "preprocessing", "saving", "mixed_precision", "distributed", "random",
    "applications", "distillation",
)

# Top-level names -> (module, attribute).
_NAMES = {
    "Sequential": ("kerasish.models", "Sequential"),
    "Model": ("kerasish.models", "Model"),
    "Input": ("kerasish.layers", "Input"),
    "Layer": ("kerasish.layers", "Layer"),
    "Loss": ("kerasish.losses", "Loss"),
    "Metric": ("kerasish.metrics", "Metric"),
    "Variable": ("kerasish.variables", "Variable"),
    "device": ("kerasish.ops.dtypes", "device_scope"),
    "load_model": ("kerasish.saving", "load_model"),
    # Keras 3's top-level aliases of names that live in a namespace.
    "DTypePolicy": ("kerasish.mixed_precision", "DTypePolicy"),
    "Initializer": ("kerasish.initializers", "Initializer"),
    "InputSpec": ("kerasish.layers.input_spec", "InputSpec"),
    "KerasTensor": ("kerasish.ops.keras_tensor", "KerasTensor"),
    "Optimizer": ("kerasish.optimizers", "Optimizer"),
    "Regularizer": ("kerasish.regularizers", "Regularizer"),
    "RematScope": ("kerasish.layers.rematerialization", "RematScope"),
    "remat": ("kerasish.layers.rematerialization", "remat"),
    "name_scope": ("kerasish.layers.name_scope", "name_scope"),
}

__all__ = [
    "Sequential", "Model", "Input", "Layer", "Loss", "Metric", "Variable", "layers", "models", "losses", "metrics",
    "optimizers", "activations", "initializers", "regularizers", "constraints", "utils", "config", "ops",
    "backend", "tree", "device", "__version__", "DTypePolicy", "Initializer", "InputSpec", "KerasTensor",
    "Optimizer", "Regularizer", "RematScope", "remat", "name_scope",
    "callbacks", "recipes", "datasets", "preprocessing", "saving", "mixed_precision", "distributed", "random",
    "applications", "distillation",
]


def _import_builtin_classes() -> None:
    # kerasish.layers, kerasish.models, kerasish.optimizers and kerasish.distillation register their classes
    # (by class name) when imported; a saved config may name any of them, so the first lookup imports them all.
    for package in ("kerasish.layers", "kerasish.models", "kerasish.optimizers", "kerasish.distillation"):
        importlib.import_module(package)


_add_builtin_loader(_import_builtin_classes)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        module, attr = _NAMES[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBPACKAGES or (
        name.isidentifier() and not name.startswith("_") and importlib.util.find_spec(f"kerasish.{name}") is not None
    ):
        # Any other module of the package (kerasish.training, kerasish.variables ...) also resolves
        # as an attribute, as it did when `import kerasish` loaded them all.
        value = importlib.import_module(f"kerasish.{name}")
    else:
        from kerasish.utils.keras_names import missing_attribute

        raise missing_attribute(__name__, name, __all__)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
