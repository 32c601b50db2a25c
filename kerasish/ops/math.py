"""Keras ops: the math namespace (being built)."""
