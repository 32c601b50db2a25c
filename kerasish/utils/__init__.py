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
from kerasish.utils.dataset_utils import split_dataset
from kerasish.utils.image_dataset import image_dataset_from_directory
from kerasish.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from kerasish.utils.model_visualization import model_to_dot, plot_model
from kerasish.utils.py_dataset import PyDataset, Sequence
from kerasish.utils.text_dataset import text_dataset_from_directory
from kerasish.utils.timeseries_dataset import timeseries_dataset_from_array
from kerasish.utils.progbar import Progbar
from kerasish.utils.plot_history import plot_history

__all__ = [
    "to_categorical", "normalize", "set_random_seed", "pad_sequences", "register_keras_serializable",
    "get_registered_name", "get_registered_object", "get_custom_objects", "custom_object_scope",
    "CustomObjectScope", "get_file", "hash_file", "validate_file",
    "split_dataset", "image_dataset_from_directory", "text_dataset_from_directory", "timeseries_dataset_from_array",
    "load_img", "img_to_array", "array_to_img", "save_img", "model_to_dot", "plot_model", "PyDataset", "Sequence",
    "Progbar", "plot_history",
]
