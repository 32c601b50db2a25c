"""Saving and loading models without pickle: `.kerasish` model files and `.safetensors` weights.

- `save_model(model, 'model.kerasish')` / `load_model('model.kerasish')`: architecture (JSON),
  compile settings, weights and optimizer state in one zip.
- `save_weights(model, 'w.safetensors')` / `load_weights(model, 'w.safetensors')`: weights only.
- `register_serializable`: lets `load_model` rebuild your own classes.

Loading never executes code from a file: classes are found by name in a registry,
tensors are read with safetensors.
"""

from kerasish.saving.model_file import load_model, save_model
from kerasish.saving.serialization import register_serializable, registered_names
from kerasish.saving.weights import load_weights, save_weights

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "register_serializable", "registered_names"]
