"""Utilities with Keras's names: to_categorical, set_random_seed, pad_sequences ..."""

from kerasish.utils.numerical import normalize, to_categorical
from kerasish.utils.random import set_random_seed
from kerasish.utils.sequence import pad_sequences

__all__ = ["to_categorical", "normalize", "set_random_seed", "pad_sequences"]
