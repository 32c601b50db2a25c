"""Keras's `keras.preprocessing` names: `sequence.pad_sequences` and `text.TextVectorization`."""

from kerasish.preprocessing import sequence, text

__all__ = ["sequence", "text"]
