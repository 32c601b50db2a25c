"""Saving and loading models without pickle, in Keras's formats and kerasish's own.

- `save_model(model, 'model.keras')` / `load_model('model.keras', custom_objects=None)`: Keras 3's
  model file (Keras opens ours, we open Keras's); `'model.kerasish'`: kerasish's zip (JSON +
  safetensors, with the exact torch optimizer state and plain torch modules).
- `save_weights(model, 'w.weights.h5')` / `load_weights(model, 'w.weights.h5', skip_mismatch=False)`:
  Keras 3's HDF5 weights; `'w.safetensors'`: safetensors by state-dict key. `load_weights` also
  reads the weights inside a `.keras` or `.kerasish` file. The suffix picks the format
  (`kerasish.saving.formats`).
- `@register_keras_serializable(package='Custom')`: lets `load_model` rebuild your own layers
  and models (registered as `'Custom>MyLayer'`); `custom_object_scope({...})` and the
  `custom_objects` argument do the same for one load. `register_serializable` is kerasish's
  older form.
- `serialize_keras_object(obj)` / `deserialize_keras_object(config)`: one object's description
  (layer, regularizer, function, ...) in Keras's form, and back (`kerasish.layers.serialize`
  / `deserialize` too).

Loading never executes code from a file: classes are found by name in a registry, tensors are
read with safetensors or h5py, archives are size- and name-checked before anything is parsed.
"""

from kerasish.saving.formats import load_model, load_weights, save_model, save_weights
from kerasish.saving.keras_objects import deserialize_keras_object, serialize_keras_object
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
    "get_custom_objects", "custom_object_scope", "CustomObjectScope", "serialize_keras_object",
    "deserialize_keras_object",
]


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
