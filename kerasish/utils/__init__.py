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
from kerasish.utils.file_utils import get_file, hash_file, validate_file

__all__ = [
    "to_categorical", "normalize", "set_random_seed", "pad_sequences", "register_keras_serializable",
    "get_registered_name", "get_registered_object", "get_custom_objects", "custom_object_scope",
    "CustomObjectScope", "get_file", "hash_file", "validate_file",
]
