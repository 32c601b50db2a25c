"""Models: `from kerasish.models import Sequential, Model, load_model, clone_model`."""

from typing import Any

from kerasish.models.cloning import clone_model
from kerasish.models.functional import Functional
from kerasish.models.model import Model
from kerasish.models.sequential import Sequential
from kerasish.utils.object_registration import register_builtin as _register_builtin

# Saved configs name models by class; load_model finds these in this table
# (kerasish.saving never imports kerasish.models).
_register_builtin(Model, Sequential, Functional)

# Keras's names for the saving functions; kerasish.saving itself loads on first use.
_FROM_SAVING = {"load_model": "kerasish.saving.formats", "save_model": "kerasish.saving.formats",
                "model_from_json": "kerasish.saving.serialization"}

__all__ = ["Model", "Sequential", "clone_model", "load_model", "save_model", "model_from_json"]


def __getattr__(name: str) -> Any:
    if name in _FROM_SAVING:
        import importlib

        value = getattr(importlib.import_module(_FROM_SAVING[name]), name)
        globals()[name] = value
        return value
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
