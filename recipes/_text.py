"""Text data for the sentiment recipes: the IMDB reviews or any labelled CSV."""

from __future__ import annotations

import argparse
import csv
from typing import List, Tuple

import numpy as np

from kerasish.layers import TextVectorization

Split = Tuple[List[str], np.ndarray]


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", default=None, help="train on a CSV of labelled texts instead of IMDB")
    p.add_argument("--text-column", default="text", help="CSV column holding the text (default text)")
    p.add_argument("--label-column", default="label", help="CSV column holding the label (default label)")
    p.add_argument("--positive", default="positive", help="label value meaning positive (default positive)")
    p.add_argument("--negative", default="negative", help="label value meaning negative (default negative)")
    p.add_argument("--vocab-size", type=int, default=20000, help="vocabulary size (default 20000)")
    p.add_argument("--hidden", type=int, default=256, help="recurrent units (default 256)")
    p.add_argument("--maxlen", type=int, default=None, help="tokens kept per text (default 200 IMDB, 48 CSV)")


def read_csv(path: str, text_column: str, label_column: str, positive: str, negative: str,
             seed: int = 0) -> Tuple[Split, Split]:
    """Rows labelled `positive` (1) or `negative` (0); others are dropped; 80/20 split after a seeded shuffle."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path} has no column(s) {missing}; its columns are {reader.fieldnames}. "
                "Pass --text-column and --label-column."
            )
        texts, labels = [], []
        for row in reader:
            if row[label_column] in (positive, negative):
                texts.append(row[text_column])
                labels.append(1 if row[label_column] == positive else 0)
    if not texts:
        raise ValueError(f"No rows of {path} have label {positive!r} or {negative!r} in column {label_column!r}. "
                         "Pass --positive/--negative with the CSV's label values.")
    order = np.random.default_rng(seed).permutation(len(texts))
    texts = [texts[i] for i in order]
    y = np.asarray(labels, dtype="float32")[order]
    cut = int(0.8 * len(texts))
    return (texts[:cut], y[:cut]), (texts[cut:], y[cut:])


def load(args: argparse.Namespace) -> Tuple[Split, Split, str]:
    if args.csv:
        train, test = read_csv(args.csv, args.text_column, args.label_column, args.positive, args.negative,
                               args.seed)
        source = f"csv: {args.csv}"
    else:
        from kerasish.datasets import imdb

        (tr_x, tr_y), (te_x, te_y) = imdb.load_text()
        train, test = (list(tr_x), np.asarray(tr_y, "float32")), (list(te_x), np.asarray(te_y, "float32"))
        source = "IMDB reviews"
    if args.quick:
        train, test = (train[0][:512], train[1][:512]), (test[0][:256], test[1][:256])
    return train, test, source


def vectorize(args: argparse.Namespace, train: Split, test: Split) -> Tuple[np.ndarray, np.ndarray, int]:
    """Vocabulary from the training texts (`--vocab-size`), texts to padded ids (post-padding)."""
    maxlen = args.maxlen or (48 if args.csv else 200)
    layer = TextVectorization(max_tokens=args.vocab_size, output_sequence_length=maxlen)
    layer.adapt(train[0])
    return layer(train[0]).numpy(), layer(test[0]).numpy(), layer.vocabulary_size()
