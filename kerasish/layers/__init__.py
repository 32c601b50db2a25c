"""Keras layers as torch nn.Modules: `from kerasish.layers import Dense, Dropout`."""

from kerasish.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from kerasish.layers.layer import Layer

__all__ = ["Layer", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape"]
