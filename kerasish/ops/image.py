"""Keras ops: the image namespace (being built)."""
