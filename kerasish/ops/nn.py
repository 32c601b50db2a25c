"""Keras ops: the nn namespace (being built)."""
