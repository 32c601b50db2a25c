"""Runnable reproductions of the classic Keras examples: `python -m kerasish.recipes NAME`."""

RECIPES = {
    "linear_regression": "kerasish.recipes.linear_regression",
}

__all__ = ["RECIPES"]
