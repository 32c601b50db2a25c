"""Runnable reproductions of the classic Keras examples: `python -m kerasish.recipes NAME`."""

RECIPES = {
    "linear_regression": "kerasish.recipes.linear_regression",
    "mnist_mlp": "kerasish.recipes.mnist_mlp",
    "mnist_cnn": "kerasish.recipes.mnist_cnn",
    "binary_mlp": "kerasish.recipes.binary_mlp",
    "imdb_rnn": "kerasish.recipes.imdb_rnn",
    "imdb_lstm": "kerasish.recipes.imdb_lstm",
    "transformer_text": "kerasish.recipes.transformer_text",
    "visualize_activations": "kerasish.recipes.visualize_activations",
    "fashion_speedrun": "kerasish.recipes.fashion_speedrun",
    "cifar_speedrun": "kerasish.recipes.cifar_speedrun",
}

__all__ = ["RECIPES"]
