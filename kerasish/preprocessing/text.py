"""Text preprocessing: `TextVectorization` (also `kerasish.layers.TextVectorization`)."""

from kerasish.layers.text_vectorization import TextVectorization

__all__ = ["TextVectorization"]
