"""Keras ops: the linalg namespace (being built)."""
