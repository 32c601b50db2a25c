"""Keras ops: the numpy namespace (being built)."""
