"""IMDB movie reviews (25,000 train, 25,000 test, labelled 0 negative / 1 positive).

`load_data` follows `keras.datasets.imdb.load_data`'s conventions (word ranks shifted by
`index_from`, `start_char`, `oov_char`, `num_words`, `skip_top`, `maxlen`, the seed-113 shuffle)
and `get_word_index` returns Keras's `imdb_word_index.json`. `load_text` returns the raw reviews
for a text pipeline such as `TextVectorization`.

Why the sequences are rebuilt from text: Keras's `imdb.npz` stores its sequences as NumPy object
arrays, which only a pickle can hold, and kerasish never unpickles downloaded files
(`np.load(allow_pickle=False)` refuses that file). So `load_data` reads the original Stanford
archive `aclImdb_v1.tar.gz`, tokenises each review as Keras's text tools do (lower case,
punctuation except the apostrophe removed, split on whitespace, so `<br />` becomes `br` as in
the Keras data) and maps tokens through Keras's word index. Words missing from the index are
skipped, as Keras documents for its own data. The conventions match Keras; individual sequences
may differ slightly from Keras's file, and the order is the archive's (files sorted by id,
negatives first) shuffled with `seed`, so `load_text()[i]` and `load_data()[i]` (without
`maxlen`) are the same review.

The archive is extracted into the cache once: only members named
`aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt` that are regular files are written, under
names rebuilt from those parts, so no member can write outside the cache (no path traversal,
no links).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from kerasish.datasets import _download

WORD_INDEX_FILE = "imdb_word_index.json"
ARCHIVE_FILE = "aclImdb_v1.tar.gz"
EXTRACTED_FOLDER = "aclImdb"
# Where Keras and Stanford publish the two files. KERASISH_IMDB_URL replaces both (tests).
BASE_URLS = {
    WORD_INDEX_FILE: ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",),
    ARCHIVE_FILE: ("https://ai.stanford.edu/~amaas/data/sentiment/",),
}
URL_ENV = "KERASISH_IMDB_URL"
CHECKSUMS: Dict[str, str] = {
    WORD_INDEX_FILE: "md5:bfafd718b763782e994055a2d397834f",
    ARCHIVE_FILE: "md5:7c2ac02c03563afcf9b574c7e56c153a",
}

_MEMBER = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt")
# Keras's default Tokenizer filters: every ASCII punctuation mark but the apostrophe.
_TO_SPACE = str.maketrans({c: " " for c in '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'})

Texts = Tuple[List[str], np.ndarray]
PathLike = Optional[Union[str, os.PathLike]]


def _fetch(filename: str, path: PathLike, alternatives=()) -> Tuple[Path, Tuple[str, ...]]:
    return _download.fetch(
        "imdb", (filename,), path=path, checksums=CHECKSUMS, alternatives=alternatives,
        base_urls=_download.mirrors(URL_ENV, BASE_URLS[filename]),
    )


def get_word_index(path: PathLike = None) -> Dict[str, int]:
    """Returns Keras's IMDB word index: word -> frequency rank (1 is the most frequent word).

    Add `index_from` (3 by default) to a rank to get the id `load_data` uses for the word.

    Args:
        path: a folder holding `imdb_word_index.json`; when given, nothing else is searched.
            Defaults to `None` (cache, `KERASISH_DATA_PATH`, then download).

    Returns:
        A dict of about 88,000 words.

    Raises:
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.

    Example:
        ```python
        index = kerasish.datasets.imdb.get_word_index()
        index["the"]  # 1
        ```
    """
    folder, _ = _fetch(WORD_INDEX_FILE, path)
    with open(folder / WORD_INDEX_FILE, encoding="utf-8") as f:
        return json.load(f)


def _extract(archive: Path, dest: Path) -> None:
    """Writes the labelled reviews of `archive` under `dest`, through a temporary folder."""
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                m = _MEMBER.fullmatch(member.name)
                if m is None or not member.isfile():
                    continue
                split, label, review_id, rating = m.groups()
                target = tmp / split / label / f"{review_id}_{rating}.txt"
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                target.write_bytes(source.read())
        if not tmp.exists():
            raise ValueError(
                f"{str(archive)!r} holds no review named aclImdb/<train|test>/<pos|neg>/"
                "<id>_<rating>.txt. Expected Stanford's aclImdb_v1.tar.gz; delete the file "
                "or replace it with the original archive."
            )
        try:
            os.replace(tmp, dest)
        except OSError:
            if not dest.is_dir():  # another process finished the same extraction first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _reviews_folder(path: PathLike) -> Path:
    folder, names = _fetch(ARCHIVE_FILE, path, alternatives=[(EXTRACTED_FOLDER,)])
    if names == (EXTRACTED_FOLDER,):
        return folder / EXTRACTED_FOLDER
    extracted = _download.cache_dir("imdb") / EXTRACTED_FOLDER
    if not extracted.is_dir():
        extracted.parent.mkdir(parents=True, exist_ok=True)
        _extract(folder / ARCHIVE_FILE, extracted)
    return extracted


def _read_split(root: Path, split: str) -> Texts:
    texts, labels = [], []
    for label, sub in ((0, "neg"), (1, "pos")):
        folder = root / split / sub
        files = sorted(folder.glob("*.txt"), key=lambda p: int(p.stem.split("_")[0])) if folder.is_dir() else []
        texts += [f.read_text(encoding="utf-8") for f in files]
        labels += [label] * len(files)
    return texts, np.asarray(labels, dtype=np.int64)


def load_text(path: PathLike = None, *, seed: int = 113) -> Tuple[Texts, Texts]:
    """Loads the raw IMDB reviews from Stanford's `aclImdb_v1.tar.gz`.

    Args:
        path: a folder holding `aclImdb_v1.tar.gz` or the extracted `aclImdb` folder; when
            given, nothing else is searched. Defaults to `None` (cache, `KERASISH_DATA_PATH`,
            then download, about 80 MB, extracted once into the cache).
        seed: seed of the shuffle, the same as `load_data`'s, so both list the reviews in
            the same order. Defaults to `113`.

    Returns:
        `(train_texts, train_labels), (test_texts, test_labels)`: lists of strings and int64
        arrays of 0 (negative) / 1 (positive).

    Raises:
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.

    Example:
        ```python
        (texts, labels), _ = kerasish.datasets.imdb.load_text()
        vectorizer = kerasish.layers.TextVectorization(max_tokens=20000)
        vectorizer.adapt(texts)
        ```
    """
    root = _reviews_folder(path)
    rng = np.random.RandomState(seed)
    out = []
    for split in ("train", "test"):
        texts, labels = _read_split(root, split)
        order = np.arange(len(texts))
        rng.shuffle(order)
        out.append(([texts[i] for i in order], labels[order]))
    return out[0], out[1]


def _object_array(seqs: List[List[int]]) -> np.ndarray:
    # np.array(list_of_equal_length_lists, dtype=object) would make a 2-D array.
    arr = np.empty(len(seqs), dtype=object)
    arr[:] = seqs
    return arr


def load_data(path: PathLike = None, num_words: Optional[int] = None, skip_top: int = 0,
              maxlen: Optional[int] = None, seed: int = 113, start_char: Optional[int] = 1,
              oov_char: Optional[int] = 2, index_from: int = 3):
    """Loads the IMDB reviews as integer sequences, with Keras's conventions.

    Word ids are frequency ranks plus `index_from`, so with the defaults 0 is padding, 1 starts
    a review, 2 is out-of-vocabulary and 4 is "the".

    Args:
        path: a folder holding `aclImdb_v1.tar.gz` (or `aclImdb/`) and `imdb_word_index.json`;
            when given, nothing else is searched. Defaults to `None`.
        num_words: keep ids below `num_words`; others become `oov_char`. Defaults to `None`
            (every word but the single rarest, as Keras does).
        skip_top: ids below `skip_top` become `oov_char` too. Defaults to `0`.
        maxlen: drop reviews of `maxlen` ids or more (the start mark included). Defaults to
            `None`.
        seed: seed of the shuffle of each split. Defaults to `113`.
        start_char: id put at the start of every review; `None` for none. Defaults to `1`.
        oov_char: id of cut-out words; `None` drops them instead. Defaults to `2`.
        index_from: offset added to every word rank. Defaults to `3`.

    Returns:
        (tuple): two tuples `(x_train, y_train), (x_test, y_test)` of object arrays of lists of ints
            and int64 labels 0/1.

    Raises:
        ValueError: when `maxlen` is so small that no review of a split is kept.
        DatasetUnavailableError: (an `OSError`) no local copy and the download failed.

    Example:
        ```python
        (x_train, y_train), _ = kerasish.datasets.imdb.load_data(num_words=20000)
        x_train = kerasish.preprocessing.sequence.pad_sequences(x_train, maxlen=200)
        ```
    """
    word_index = get_word_index(path)
    (train_texts, y_train), (test_texts, y_test) = load_text(path, seed=seed)
    prefix = [] if start_char is None else [start_char]
    splits = []
    for texts, labels in ((train_texts, y_train), (test_texts, y_test)):
        seqs = []
        for text in texts:
            tokens = text.lower().translate(_TO_SPACE).split()
            seqs.append(prefix + [word_index[t] + index_from for t in tokens if t in word_index])
        if maxlen:
            keep = [i for i, s in enumerate(seqs) if len(s) < maxlen]
            seqs, labels = [seqs[i] for i in keep], labels[keep]
            if not seqs:
                raise ValueError(
                    f"After filtering for sequences shorter than maxlen={maxlen}, no sequence "
                    "was kept. Increase maxlen, or pass maxlen=None and truncate with "
                    "pad_sequences(..., maxlen=...) instead."
                )
        splits.append((seqs, labels))
    if not num_words:
        num_words = max(max(s) for seqs, _ in splits for s in seqs if s)
    out = []
    for seqs, labels in splits:
        if oov_char is not None:
            seqs = [[w if skip_top <= w < num_words else oov_char for w in s] for s in seqs]
        else:
            seqs = [[w for w in s if skip_top <= w < num_words] for s in seqs]
        out.append((_object_array(seqs), labels))
    return out[0], out[1]
