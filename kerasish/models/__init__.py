"""Models: `from kerasish.models import Sequential, Model`."""

from kerasish.models.model import Model
from kerasish.models.sequential import Sequential

__all__ = ["Model", "Sequential"]
