"""Reuters newswires (11,228 wires over 46 topics), as `keras.datasets.reuters`.

Keras's `reuters.npz` stores the ragged word-id sequences as NumPy object arrays, which only a
pickle can hold; kerasish reads them with `kerasish.datasets.cifar.load_npz`, whose unpickler
rebuilds NumPy arrays and refuses everything else.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from kerasish.datasets import _download
from kerasish.datasets.cifar import load_npz

FILE = "reuters.npz"
WORD_INDEX_FILE = "reuters_word_index.json"
BASE_URLS = ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",)
# Keras's checksums. KERASISH_REUTERS_URL replaces the mirror (tests, private mirrors).
CHECKSUM = "sha256:d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_CHECKSUM = "md5:4d44cc38712099c9e383dc6e5f11a921"
URL_ENV = "KERASISH_REUTERS_URL"

LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)

PathLike = Union[str, os.PathLike]


def _object_array(seqs: List[List[int]]) -> np.ndarray:
    arr = np.empty(len(seqs), dtype=object)  # always 1-D, even when all lengths are equal
    arr[:] = seqs
    return arr


def load_data(path: PathLike = FILE, num_words: Optional[int] = None, skip_top: int = 0,
              maxlen: Optional[int] = None, test_split: float = 0.2, seed: int = 113,
              start_char: Optional[int] = 1, oov_char: Optional[int] = 2, index_from: int = 3):
    """Loads the Reuters newswires as word-id sequences with Keras's conventions.

    Word ids are frequency ranks plus `index_from`, so with the defaults 0 is padding, 1 starts
    a wire, 2 is out-of-vocabulary and 4 is the most frequent word.

    Args:
        path: a bare file name is the file's name in the cache (`$KERASISH_HOME/datasets/
            reuters/`), also looked for in `KERASISH_DATA_PATH` and downloaded under that name
            if missing; a path with a folder part is read locally only. Defaults to
            `'reuters.npz'`.
        num_words: keep ids below `num_words`; others become `oov_char`. Defaults to `None`
            (every word but the single rarest id, as Keras does).
        skip_top: ids below `skip_top` become `oov_char` too. Defaults to `0`.
        maxlen: drop wires of `maxlen` ids or more (the start mark included). Defaults to
            `None`.
        test_split: share of the wires kept for the test set. Defaults to `0.2`.
        seed: seed of the shuffle before the split. Defaults to `113`.
        start_char: id put at the start of every wire; `None` for none. Defaults to `1`.
        oov_char: id of cut-out words; `None` drops them instead. Defaults to `2`.
        index_from: offset added to every word rank. Defaults to `3`.

    Returns:
        (tuple): two tuples `(x_train, y_train), (x_test, y_test)` of 1-D object arrays of lists of
            ints and the topic labels (0-45, see `get_label_names`).

    Raises:
        ValueError: `test_split` outside [0, 1], or a `maxlen` that keeps no wire.
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.

    Example:
        ```python
        (x_train, y_train), _ = kerasish.datasets.reuters.load_data(num_words=10000)
        ```
    """
    if not 0 <= test_split <= 1:
        raise ValueError(
            f"Invalid `test_split` argument. Received: test_split={test_split!r}. Expected a "
            "fraction in [0, 1]: the share of the wires kept for the test set."
        )
    file = _download.fetch_file("reuters", path, FILE, CHECKSUM, _download.mirrors(URL_ENV, BASE_URLS))
    arrays = load_npz(file)
    xs, labels = arrays["x"], arrays["y"]
    order = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(order)
    prefix = [] if start_char is None else [start_char]
    seqs = [prefix + [int(w) + index_from for w in x] for x in xs[order]]
    labels = labels[order]
    if maxlen:
        keep = [i for i, s in enumerate(seqs) if len(s) < maxlen]
        if not keep:
            raise ValueError(
                f"No wire is shorter than maxlen={maxlen}, so none would be kept. Increase "
                "maxlen, or pass maxlen=None and truncate with pad_sequences(..., maxlen=...)."
            )
        seqs, labels = [seqs[i] for i in keep], labels[np.asarray(keep)]
    if not num_words:
        num_words = max(max(s) for s in seqs if s)
    if oov_char is not None:
        seqs = [[w if skip_top <= w < num_words else oov_char for w in s] for s in seqs]
    else:
        seqs = [[w for w in s if skip_top <= w < num_words] for s in seqs]
    cut = int(len(seqs) * (1 - test_split))
    return (_object_array(seqs[:cut]), labels[:cut]), (_object_array(seqs[cut:]), labels[cut:])


def get_word_index(path: PathLike = WORD_INDEX_FILE) -> Dict[str, int]:
    """Returns Keras's Reuters word index: word -> frequency rank (1 is the most frequent).

    Add `index_from` (3 by default) to a rank to get the id `load_data` uses for the word.

    Args:
        path: a bare file name is the file's name in the cache; a path with a folder part is
            read locally only (see `load_data`). Defaults to `'reuters_word_index.json'`.

    Returns:
        A dict of about 30,000 words.

    Raises:
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.
    """
    file = _download.fetch_file("reuters", path, WORD_INDEX_FILE, WORD_INDEX_CHECKSUM,
                                _download.mirrors(URL_ENV, BASE_URLS))
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def get_label_names() -> Tuple[str, ...]:
    """The 46 topic names, indexed by the labels `load_data` returns (0 is `'cocoa'`)."""
    return LABEL_NAMES
