"""text_dataset_from_directory: batches of Python strings (and labels) from a folder of .txt files.

Files are found and split exactly as Keras does (`kerasish.utils.dataset_utils`). A
batch of texts is a 1-D NumPy object array of `str`, the form kerasish's
`TextVectorization` reads (Keras yields tf.string tensors of bytes).
"""

from __future__ import annotations

import functools
from typing import Any, List, Optional, Sequence

import numpy as np

from kerasish.utils import dataset_utils


def read_text(path: str, max_length: Optional[int] = None) -> str:
    """The file's text (UTF-8), cut to its first `max_length` characters."""
    with open(path, "r", encoding="utf-8") as f:
        text = f.read() if max_length is None else f.read(max_length)
    return text


def _stack(texts: List[str]) -> np.ndarray:
    batch = np.empty(len(texts), dtype=object)
    batch[:] = texts
    return batch


def text_dataset_from_directory(
    directory: Any,
    labels: Any = "inferred",
    label_mode: Optional[str] = "int",
    class_names: Optional[Sequence[str]] = None,
    batch_size: Optional[int] = 32,
    max_length: Optional[int] = None,
    shuffle: bool = True,
    seed: Optional[int] = None,
    validation_split: Optional[float] = None,
    subset: Optional[str] = None,
    follow_links: bool = False,
    verbose: bool = True,
    *,
    num_workers: int = 0,
) -> Any:
    """Batches of texts (and labels) from a folder with one subfolder of .txt files per class.

    Args:
        directory: the folder.
        labels: "inferred" (from the subfolders), None (texts only), or a list of integer
            labels, one per .txt file in sorted path order. Defaults to `"inferred"`.
        label_mode: "int" (int32), "categorical" (float32 one-hot), "binary" (float32 of
            shape (batch, 1), 2 classes), or None (no labels). Defaults to `"int"`.
        class_names: the subfolders to use, in label order (labels="inferred" only).
            Defaults to `None` (all, sorted).
        batch_size: texts per batch, or None for single texts. Defaults to `32`.
        max_length: keep at most this many characters of each text. Defaults to `None`.
        shuffle: shuffle the files (once when indexed, then every pass). Defaults to `True`.
        seed: seed of the shuffles. Defaults to `None`.
        validation_split: fraction of files kept for validation. Defaults to `None`.
        subset: "training", "validation" or "both" (with validation_split). Defaults to `None`.
        follow_links: walk into symlinked subfolders. Defaults to `False`.
        verbose: print the number of files and classes found. Defaults to `True`.
        num_workers: DataLoader worker processes reading files (kerasish only). Defaults to `0`.

    Returns:
        A `FileDataset` of `(texts, labels)` batches, texts a 1-D object array of `str`
        (with `class_names` and `file_paths`), or `[train, validation]` for subset="both".

    Raises:
        ValueError: for bad arguments, an empty folder or a label/file count mismatch.

    Example:
        >>> import tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> for name in ("neg", "pos"):
        ...     os.makedirs(os.path.join(root, name))
        ...     _ = open(os.path.join(root, name, "0.txt"), "w").write(f"a {name} review")
        >>> texts, labels = next(iter(text_dataset_from_directory(root, shuffle=False, verbose=False)))
        >>> list(texts), labels.tolist()
        (['a neg review', 'a pos review'], [0, 1])
    """
    dataset_utils.check_labels_arg(labels, class_names, label_mode, "text")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"max_length must be a positive integer or None. Received: max_length={max_length!r}.")
    load = functools.partial(read_text, max_length=max_length)
    return dataset_utils.directory_datasets(
        directory, labels, label_mode, class_names, (".txt",), load, _stack, batch_size, shuffle, seed,
        validation_split, subset, follow_links, verbose, num_workers, kind="text")
