"""Datasets from folders and arrays: Keras's file discovery, splits, and a batched file dataset.

- `index_directory` lists files the way Keras does (class folders in sorted order, files
  sorted within each folder, then one shuffle with `np.random.RandomState(seed)`), so the
  same folder and seed give Keras's file order and Keras's train/validation split.
- `FileDataset` is what `image_dataset_from_directory` and `text_dataset_from_directory`
  return: an iterable of `(x, y)` batches (or `x` alone without labels) backed by a torch
  `DataLoader`, so files are decoded in its workers and fit/evaluate/predict take it as is.
- `split_dataset` cuts arrays or a torch Dataset in two, as Keras does on its torch backend.
"""

from __future__ import annotations

import math
import os
from multiprocessing.pool import ThreadPool
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split

from kerasish.utils.dataset_ops import DatasetOps
from kerasish.utils.interactive_logging import print_msg

LABEL_MODES = ("int", "categorical", "binary", None)


# ----------------------------------------------------------------- argument checks
def check_labels_arg(labels: Any, class_names: Any, label_mode: Any, kind: str) -> None:
    """The checks Keras makes on `labels`, `class_names` and `label_mode` (kind: 'image' or 'text')."""
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                f"labels must be 'inferred' (labels from the class folders), None (no labels) or a list/tuple of "
                f"integer labels, one per {kind} file in the directory. Received: labels={labels!r}."
            )
        if class_names:
            raise ValueError(
                "class_names can only be passed with labels='inferred' (it picks and orders the class folders). "
                f"Received: labels={labels!r} and class_names={class_names!r}. Drop class_names."
            )
    if label_mode not in LABEL_MODES:
        raise ValueError(
            f"label_mode must be one of 'int', 'categorical', 'binary' or None. Received: label_mode={label_mode!r}."
        )


def check_validation_split_arg(validation_split: Any, subset: Any, shuffle: bool, seed: Any) -> None:
    """Keras's checks on validation_split/subset/seed, with the way out in each message."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(
            f"validation_split must be a fraction between 0 and 1 (exclusive). Received: "
            f"validation_split={validation_split!r}. Pass e.g. validation_split=0.2."
        )
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(
            f"subset and validation_split go together: pass both or neither. Received: subset={subset!r}, "
            f"validation_split={validation_split!r}. Pass e.g. validation_split=0.2, subset='training'."
        )
    if subset not in ("training", "validation", "both", None):
        raise ValueError(
            f"subset must be 'training', 'validation', 'both' or None. Received: subset={subset!r}."
        )
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "validation_split with shuffle=True needs a seed, so that the training and validation calls cut the "
            "same shuffled file list and do not overlap. Pass seed=... (any integer)."
        )


# ----------------------------------------------------------------- file discovery
def _files_under(directory: str, follow_links: bool, formats: Tuple[str, ...]) -> List[Tuple[str, str]]:
    """(folder, file name) of every allowed file below `directory`, folders and names sorted."""
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda entry: entry[0]):
        found += [(root, name) for name in sorted(files) if name.lower().endswith(formats)]
    return found


def _index_class_folder(directory: str, follow_links: bool, formats: Tuple[str, ...]) -> List[str]:
    """Paths relative to the parent of `directory`, e.g. 'cats/a.jpg' for directory '.../cats'."""
    base = os.path.basename(directory)
    return [os.path.join(base, os.path.relpath(os.path.join(root, name), directory))
            for root, name in _files_under(directory, follow_links, formats)]


def index_directory(directory: Any, labels: Any, formats: Tuple[str, ...], class_names: Any = None,
                    shuffle: bool = True, seed: Optional[int] = None, follow_links: bool = False,
                    verbose: bool = True) -> Tuple[List[str], Optional[np.ndarray], Optional[List[str]]]:
    """Every file under `directory` whose suffix is in `formats`, with its label.

    Args:
        directory: the folder (class subfolders when `labels="inferred"`).
        labels: "inferred", None, or a list of integer labels in sorted file order.
        formats: allowed suffixes, lower case with the dot (".jpg", ".txt").
        class_names: the class folders to use, in label order. Defaults to `None` (all, sorted).
        shuffle: shuffle the file list once with `np.random.RandomState(seed)`. Defaults to `True`.
        seed: the shuffle's seed. Defaults to `None` (a random one).
        follow_links: walk into symlinked folders. Defaults to `False`.
        verbose: print "Found N files belonging to K classes.". Defaults to `True`.

    Returns:
        `(file_paths, labels, class_names)`: labels an int32 array (None without labels).
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(
            f"directory must be an existing folder. Received: directory={directory!r}, which "
            f"{'is a file' if os.path.exists(directory) else 'does not exist'}. Pass the folder that holds the data."
        )
    if labels == "inferred":
        folders = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(folders):
                raise ValueError(
                    f"class_names must name subfolders of the directory. Found subfolders {folders}; received "
                    f"class_names={list(class_names)!r}. Pass a subset of the subfolder names (in label order)."
                )
            folders = list(class_names)
    else:
        folders = [""]
        if class_names is not None:
            raise ValueError(
                f"class_names can only be passed with labels='inferred'. Received: labels={labels!r} and "
                f"class_names={class_names!r}. Drop class_names."
            )
    # One thread per class folder, as Keras does: listing big folders is I/O bound.
    with ThreadPool(max(1, min(len(folders), 8))) as pool:
        per_folder = pool.map(lambda d: _index_class_folder(os.path.join(directory, d), follow_links, formats),
                              folders)
    filenames = [name for names in per_folder for name in names]
    if labels == "inferred":
        label_array: Optional[np.ndarray] = np.concatenate(
            [np.full(len(names), i, dtype="int32") for i, names in enumerate(per_folder)]
            or [np.zeros(0, dtype="int32")])
        names_out: Optional[List[str]] = folders
    elif labels is None:
        label_array, names_out = None, None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                f"labels has {len(labels)} entries but the directory {directory!r} holds {len(filenames)} "
                f"files with suffixes {formats}. Pass one label per file, in sorted file order."
            )
        label_array = np.asarray(labels)
        names_out = [str(label) for label in sorted(set(labels))]
    if verbose:
        if label_array is None:
            print_msg(f"Found {len(filenames)} files.")
        else:
            print_msg(f"Found {len(filenames)} files belonging to {len(names_out or [])} classes.")
    paths = [os.path.join(directory, name) for name in filenames]
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(paths)
        if label_array is not None:
            np.random.RandomState(seed).shuffle(label_array)
    return paths, label_array, names_out


def training_or_validation_split(samples: List[str], labels: Optional[np.ndarray], validation_split: Any,
                                 subset: Optional[str]) -> Tuple[List[str], Optional[np.ndarray]]:
    """Keras's cut: the last `int(validation_split * n)` samples are validation, the rest training."""
    if not validation_split:
        return samples, labels
    num_val = int(validation_split * len(samples))
    if subset == "training":
        print_msg(f"Using {len(samples) - num_val} files for training.")
        keep = slice(0, len(samples) - num_val)
    else:
        print_msg(f"Using {num_val} files for validation.")
        keep = slice(len(samples) - num_val, len(samples))
    return samples[keep], None if labels is None else labels[keep]


def encode_labels(labels: Optional[np.ndarray], label_mode: Optional[str], num_classes: int) -> Optional[np.ndarray]:
    """Labels as Keras yields them: int32, float32 one-hot (categorical) or float32 (n, 1) (binary)."""
    if labels is None or label_mode is None:
        return None
    labels = np.asarray(labels)
    if label_mode == "binary":
        return labels.astype("float32")[:, None]
    if label_mode == "categorical":
        bad = labels[(labels < 0) | (labels >= num_classes)] if labels.size else labels
        if bad.size:
            raise ValueError(
                f"label_mode='categorical' one-hot encodes labels 0..{num_classes - 1} ({num_classes} classes), but "
                f"labels holds {int(bad[0])}. Pass labels numbered from 0 without gaps, or use label_mode='int'."
            )
        return np.eye(num_classes, dtype="float32")[labels.astype("int64")]
    return labels.astype("int32")


# ----------------------------------------------------------------- the returned dataset
class _DecodedFiles(Dataset):
    """One decoded file (and the index of its label): what the DataLoader's workers run."""

    def __init__(self, paths: List[str], load: Callable[[str], Any]) -> None:
        self.paths = paths
        self.load = load

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tuple[Any, int]:
        return self.load(self.paths[index]), index


class FileDataset(DatasetOps):
    """Batches of decoded files: `(x, y)` with labels, `x` alone without.

    Iterating starts a torch `DataLoader` pass (reshuffled each pass when `shuffle`, with a
    generator seeded by `seed`), so `fit`, `evaluate` and `predict` take it like any iterable.
    `map`, `take` and `prefetch` work as the tutorials use them (see `dataset_ops`).

    Attributes:
        class_names: the class names in label order (None without labels).
        file_paths: the files in this dataset, in their indexed (seed-shuffled) order.
    """

    def __init__(self, paths: List[str], labels: Optional[np.ndarray], class_names: Optional[List[str]],
                 load: Callable[[str], Any], stack: Callable[[List[Any]], Any], batch_size: Optional[int],
                 shuffle: bool, seed: Optional[int], num_workers: int) -> None:
        self.file_paths = list(paths)
        self.class_names = class_names
        self._labels = None if labels is None else torch.from_numpy(np.ascontiguousarray(labels))
        self._files = _DecodedFiles(self.file_paths, load)
        self._stack = stack
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_workers = num_workers
        self._generator = torch.Generator()
        self._generator.manual_seed(int(seed) if seed is not None else int(np.random.randint(2 ** 31)))

    def _collate(self, items: List[Tuple[Any, int]]) -> Any:
        xs = self._stack([x for x, _ in items])
        if self._labels is None:
            return xs
        return xs, self._labels[torch.tensor([i for _, i in items])]

    def _collate_one(self, item: Tuple[Any, int]) -> Any:
        return self._collate([item])[0] if self._labels is None else tuple(p[0] for p in self._collate([item]))

    def __len__(self) -> int:
        """Batches per pass (samples when batch_size is None)."""
        n = len(self.file_paths)
        return n if self.batch_size is None else math.ceil(n / self.batch_size)

    def __iter__(self) -> Any:
        loader = DataLoader(
            self._files, batch_size=self.batch_size, shuffle=self.shuffle,
            generator=self._generator if self.shuffle else None, num_workers=self.num_workers,
            collate_fn=self._collate if self.batch_size is not None else self._collate_one,
            persistent_workers=False,
        )
        return iter(loader)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} files={len(self.file_paths)} batch_size={self.batch_size} "
                f"class_names={self.class_names}>")


def directory_datasets(directory: Any, labels: Any, label_mode: Any, class_names: Any, formats: Tuple[str, ...],
                       load: Callable[[str], Any], stack: Callable[[List[Any]], Any], batch_size: Optional[int],
                       shuffle: bool, seed: Optional[int], validation_split: Any, subset: Any,
                       follow_links: bool, verbose: bool, num_workers: int, kind: str) -> Any:
    """The shared body of image/text_dataset_from_directory after their own argument checks."""
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None. Received: batch_size={batch_size!r}.")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0 (0 decodes in the main process). "
                         f"Received: num_workers={num_workers!r}.")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    check_validation_split_arg(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, label_array, names = index_directory(directory, labels, formats, class_names=class_names,
                                                shuffle=shuffle, seed=seed, follow_links=follow_links,
                                                verbose=verbose)
    if label_mode == "binary" and len(names or []) != 2:
        raise ValueError(
            f"label_mode='binary' needs exactly 2 classes; found class_names={names}. Use label_mode='int' or "
            "'categorical' for more classes."
        )
    encoded = encode_labels(label_array, label_mode, len(names or []))

    def make(subset_name: Optional[str], shuffled: bool, empty_what: str) -> FileDataset:
        part_paths, part_labels = training_or_validation_split(paths, encoded, validation_split, subset_name)
        if not part_paths:
            raise ValueError(
                f"No {empty_what} found in directory {os.fspath(directory)!r}. Allowed suffixes: {formats}. "
                "Check the path (class subfolders hold the files when labels='inferred') and validation_split."
            )
        return FileDataset(part_paths, part_labels, names, load, stack, batch_size, shuffled, seed, num_workers)

    if subset == "both":
        return [make("training", shuffle, f"training {kind} files"),
                make("validation", False, f"validation {kind} files")]
    return make(subset, shuffle, f"{kind} files")


# ----------------------------------------------------------------- split_dataset
def _as_torch_dataset(dataset: Any) -> Dataset:
    if isinstance(dataset, Dataset):
        return dataset
    if isinstance(dataset, np.ndarray):
        parts = [dataset]
    elif isinstance(dataset, torch.Tensor):
        return TensorDataset(dataset)
    elif isinstance(dataset, (list, tuple)):
        parts = list(dataset)
    else:
        raise TypeError(
            "split_dataset: dataset must be a torch.utils.data.Dataset, a NumPy array or tensor, or a list/tuple of "
            f"arrays of the same length. Received: dataset of type {type(dataset).__name__}."
        )
    tensors = []
    for i, part in enumerate(parts):
        if isinstance(part, torch.Tensor):
            tensors.append(part)
            continue
        array = np.asarray(part)
        if array.dtype.kind in ("U", "S", "O"):
            raise TypeError(
                f"split_dataset: array {i} has dtype {array.dtype}, which torch cannot hold. Split numeric arrays "
                "(encode strings first), or wrap your data in a torch Dataset."
            )
        tensors.append(torch.from_numpy(np.ascontiguousarray(array)))
    if len({int(t.shape[0]) for t in tensors}) > 1:
        raise ValueError(
            "split_dataset: the arrays have different lengths "
            f"{[int(t.shape[0]) for t in tensors]}; expected one length (samples on the first axis)."
        )
    return TensorDataset(*tensors)


def _split_sizes(left_size: Any, right_size: Any, total: int) -> Tuple[int, int]:
    """Keras's rules: ints are sample counts, floats fractions; one may be None (the rest)."""
    for name, value in (("left_size", left_size), ("right_size", right_size)):
        if value is not None and type(value) not in (int, float):
            raise TypeError(
                f"split_dataset: {name} must be an int (samples), a float in (0, 1) (fraction) or None. "
                f"Received: {name}={value!r} of type {type(value).__name__}."
            )
    if left_size is None and right_size is None:
        raise ValueError(
            "split_dataset: pass left_size or right_size (or both). Received: left_size=None and right_size=None."
        )
    for name, value in (("left_size", left_size), ("right_size", right_size)):
        bad = (type(value) is int and not 0 < value < total) or (type(value) is float and not 0 < value < 1)
        if bad:
            raise ValueError(
                f"split_dataset: {name} must be a positive int smaller than the dataset's length {total}, or a "
                f"float in (0, 1). Received: {name}={value!r}."
            )
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError(
            f"split_dataset: left_size + right_size is more than 1 (received {left_size} + {right_size}). "
            "Make the two fractions sum to at most 1."
        )
    left = round(left_size * total) if type(left_size) is float else left_size
    right = round(right_size * total) if type(right_size) is float else right_size
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(
            f"split_dataset: left_size + right_size = {left + right} samples, more than the dataset's {total}. "
            "Make them sum to at most the dataset's length."
        )
    for side, size in (("left", left), ("right", right)):
        if size == 0:
            raise ValueError(
                f"split_dataset: with a dataset of {total} samples, left_size={left_size!r} and "
                f"right_size={right_size!r} leave the {side} side empty. Adjust the sizes."
            )
    return int(left), int(right)


def split_dataset(dataset: Any, left_size: Any = None, right_size: Any = None, shuffle: bool = False,
                  seed: Optional[int] = None) -> Tuple[Subset, Subset]:
    """Splits a dataset into a left and a right part (e.g. train and test).

    The same split as Keras on its torch backend: arrays become a `TensorDataset`
    (each item a tuple of tensors) and `torch.utils.data.random_split` cuts it, shuffled
    by a torch generator seeded with `seed`.

    Args:
        dataset: a torch `Dataset`, a NumPy array or tensor, or a list/tuple of arrays of one length.
        left_size: samples (int) or fraction (float in (0, 1)) on the left; None: the rest.
            Defaults to `None`.
        right_size: samples or fraction on the right; None: the rest. Defaults to `None`.
        shuffle: shuffle before cutting. Defaults to `False`.
        seed: seed of the shuffle. Defaults to `None` (a random one).

    Returns:
        `(left, right)`: two `torch.utils.data.Subset`s.

    Raises:
        TypeError: for an unsupported dataset or size type.
        ValueError: for sizes out of range, summing past the length, or leaving a side empty.

    Example:
        >>> left, right = split_dataset(np.arange(10.0), left_size=0.8)
        >>> len(left), len(right)
        (8, 2)
    """
    data = _as_torch_dataset(dataset)
    left, right = _split_sizes(left_size, right_size, len(data))  # type: ignore[arg-type]
    if not shuffle:
        # Keras's torch backend still shuffles here (random_split with torch's global
        # generator); its docs and its TensorFlow path keep the order, and so does kerasish.
        return Subset(data, list(range(left))), Subset(data, list(range(left, left + right)))
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    rest = len(data) - left - right  # type: ignore[arg-type]
    # Sizes that leave samples out: Keras's torch path fails inside random_split; its TF path
    # drops them, as here (a third, unused part).
    parts = random_split(data, [left, right] + ([rest] if rest else []), generator=generator)
    return parts[0], parts[1]


def stack_arrays(items: Sequence[Any]) -> torch.Tensor:
    """Stacks per-sample tensors into one batch tensor."""
    return torch.stack(list(items))
