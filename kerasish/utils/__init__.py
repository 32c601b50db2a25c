"""Utilities with Keras's names: to_categorical, set_random_seed, pad_sequences, register_keras_serializable ..."""

from kerasish.utils.numerical import normalize, to_categorical
from kerasish.utils.object_registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from kerasish.utils.random import set_random_seed
from kerasish.utils.sequence import pad_sequences
# Loaded on first use (importing kerasish stays fast): name -> module.
_LAZY = {
    "get_file": "file_utils", "hash_file": "file_utils", "validate_file": "file_utils",
    "split_dataset": "dataset_utils", "image_dataset_from_directory": "image_dataset",
    "array_to_img": "image_utils", "img_to_array": "image_utils", "load_img": "image_utils", "save_img": "image_utils",
    "model_to_dot": "model_visualization", "plot_model": "model_visualization",
    "PyDataset": "py_dataset", "Sequence": "py_dataset", "text_dataset_from_directory": "text_dataset",
    "timeseries_dataset_from_array": "timeseries_dataset", "Progbar": "progbar", "plot_history": "plot_history",
    "pack_x_y_sample_weight": "tree", "unpack_x_y_sample_weight": "tree", "get_source_inputs": "source_inputs",
    "enable_interactive_logging": "interactive_logging", "disable_interactive_logging": "interactive_logging",
    "is_interactive_logging_enabled": "interactive_logging", "Config": "config_container",
}
# Keras exports these under both keras.utils and keras.backend; they live in kerasish.backend.
_FROM_BACKEND = ("clear_session", "is_keras_tensor", "standardize_dtype")


# Keras's names for what lives in kerasish.saving (imported on first use).
_FROM_SAVING = ("serialize_keras_object", "deserialize_keras_object")


def __getattr__(name: str):
    if name == "FeatureSpace":  # Keras exports it from keras.utils; it is built of kerasish.layers
        from kerasish.layers.preprocessing.feature_space import FeatureSpace

        globals()[name] = FeatureSpace
        return FeatureSpace
    if name in _FROM_SAVING:
        from kerasish.saving import keras_objects

        value = getattr(keras_objects, name)
        globals()[name] = value
        return value
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"kerasish.utils.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    if name in _FROM_BACKEND:
        from kerasish import backend

        value = getattr(backend, name)
        globals()[name] = value
        return value
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_FROM_SAVING) | set(_FROM_BACKEND) | {"FeatureSpace"})


__all__ = [
    "to_categorical", "normalize", "set_random_seed", "pad_sequences", "register_keras_serializable",
    "get_registered_name", "get_registered_object", "get_custom_objects", "custom_object_scope",
    "CustomObjectScope", "get_file", "hash_file", "validate_file",
    "split_dataset", "image_dataset_from_directory", "text_dataset_from_directory", "timeseries_dataset_from_array",
    "load_img", "img_to_array", "array_to_img", "save_img", "model_to_dot", "plot_model", "PyDataset", "Sequence",
    "Progbar", "plot_history", "serialize_keras_object", "deserialize_keras_object", "clear_session",
    "is_keras_tensor", "standardize_dtype", "pack_x_y_sample_weight", "unpack_x_y_sample_weight", "get_source_inputs",
    "enable_interactive_logging", "disable_interactive_logging", "is_interactive_logging_enabled", "Config",
    "FeatureSpace",
]
