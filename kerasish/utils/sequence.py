"""pad_sequences: lists of variable-length sequences to one padded array, as Keras does it."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from kerasish.utils.text import did_you_mean

_SIDES = ("pre", "post")


def _check_side(arg: str, value: Any) -> None:
    if value not in _SIDES:
        raise ValueError(
            f"{arg} must be 'pre' or 'post', received {arg}={value!r}."
            f"{did_you_mean(str(value), _SIDES)} 'pre' acts on the start of each sequence "
            "(Keras's default), 'post' on its end."
        )


def pad_sequences(sequences: Sequence[Sequence[Any]], maxlen: Optional[int] = None,
                  dtype: Any = "int32", padding: str = "pre", truncating: str = "pre",
                  value: Any = 0.0) -> np.ndarray:
    """Pads (and cuts) sequences to a common length, with `keras.utils.pad_sequences`'s rules.

    Each sequence longer than `maxlen` is cut: `truncating='pre'` drops its first values,
    `'post'` its last ones. Each shorter one is filled with `value`: `padding='pre'` in
    front, `'post'` after it. Sequences may hold scalars or equal-shaped arrays (the result
    then has shape `(n, maxlen) + item_shape`).

    Args:
        sequences: a list of sequences (lists, tuples, arrays). No default.
        maxlen: the common length. Defaults to `None` (the longest sequence's length).
        dtype: dtype of the result; use `object` for strings of any length.
            Defaults to `'int32'`.
        padding: `'pre'` or `'post'`: where to pad. Defaults to `'pre'`.
        truncating: `'pre'` or `'post'`: where to cut. Defaults to `'pre'`.
        value: the padding value. Defaults to `0.0`.

    Returns:
        A NumPy array of shape `(len(sequences), maxlen)` (plus any item shape).

    Raises:
        ValueError: for a `padding`/`truncating` other than 'pre'/'post', a negative
            `maxlen`, a non-iterable item, items of different shapes, or a string `value`
            with a non-string `dtype`.

    Example:
        >>> sequence = [[1], [2, 3], [4, 5, 6]]
        >>> pad_sequences(sequence).tolist()
        [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
        >>> pad_sequences(sequence, padding='post').tolist()
        [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
        >>> pad_sequences(sequence, maxlen=2).tolist()
        [[0, 1], [2, 3], [5, 6]]
    """
    _check_side("padding", padding)
    _check_side("truncating", truncating)
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            f"sequences must be a list of sequences, received a {type(sequences).__name__} "
            "without a length. Pass a list such as [[1, 2], [3]] (use list(...) on a generator)."
        )
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer))
                            or maxlen < 0):
        raise ValueError(
            f"maxlen must be None or a non-negative int, received maxlen={maxlen!r}. "
            "Pass e.g. maxlen=200, or None to use the longest sequence's length."
        )
    lengths, item_shape = [], None
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(
                f"sequences must hold sequences, but item {i} is {s!r} of type "
                f"{type(s).__name__}. Wrap single values in a list: [[1], [2, 3]]."
            )
        lengths.append(len(s))
        if item_shape is None and len(s):
            item_shape = np.asarray(s).shape[1:]
    item_shape = item_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    maxlen = int(maxlen)
    is_text = np.dtype(dtype).kind in "US" if dtype is not object else True
    if isinstance(value, str) and not is_text:
        raise ValueError(
            f"value={value!r} is a string but dtype={dtype!r} is not. Pass dtype=object "
            "(strings of any length) or a numeric padding value."
        )
    out = np.full((len(lengths), maxlen) + tuple(item_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, s in enumerate(sequences):
        if not lengths[i]:
            continue
        cut = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if cut.shape[1:] != tuple(item_shape):
            raise ValueError(
                f"Item {i} of sequences holds values of shape {cut.shape[1:]}, but earlier "
                f"items hold values of shape {tuple(item_shape)}. Give every value the same shape."
            )
        if padding == "post":
            out[i, :len(cut)] = cut
        else:
            out[i, maxlen - len(cut):] = cut
    return out
