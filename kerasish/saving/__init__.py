"""Saving and loading models without pickle: `.kerasish` model files and `.safetensors` weights.

- `save_model(model, 'model.kerasish')` / `load_model('model.kerasish', custom_objects=None)`:
  architecture (JSON), compile settings, weights and optimizer state in one zip.
- `save_weights(model, 'w.safetensors')` / `load_weights(model, 'w.safetensors')`: weights only.
- `@register_keras_serializable(package='Custom')`: lets `load_model` rebuild your own layers
  and models (registered as `'Custom>MyLayer'`); `custom_object_scope({...})` and the
  `custom_objects` argument do the same for one load. `register_serializable` is kerasish's
  older form.

Loading never executes code from a file: classes are found by name in a registry,
tensors are read with safetensors.
"""

from kerasish.saving.model_file import load_model, save_model
from kerasish.saving.weights import load_weights, save_weights
from kerasish.utils.object_registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    register_serializable,
    registered_names,
)

__all__ = [
    "save_model", "load_model", "save_weights", "load_weights", "register_keras_serializable",
    "register_serializable", "registered_names", "get_registered_name", "get_registered_object",
    "get_custom_objects", "custom_object_scope", "CustomObjectScope",
]
