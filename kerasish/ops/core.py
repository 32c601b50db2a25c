"""Keras ops: the core namespace (being built)."""
