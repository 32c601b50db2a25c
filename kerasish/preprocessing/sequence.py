"""`from kerasish.preprocessing.sequence import pad_sequences`, as in Keras."""

from kerasish.utils.sequence import pad_sequences

__all__ = ["pad_sequences"]
