"""pandas DataFrames and Series as fit/evaluate/predict inputs, converted as Keras 3 converts them.

Keras slices a DataFrame as the array `df.to_numpy()` and a Series as a one-column array
(`(n,)` → `(n, 1)`); when any column is a float of another width than floatx, the whole frame is
cast to floatx. kerasish converts once, at the entry of the loops, by the same rules; pandas is never
imported (objects are recognised by their module), so it stays an optional dependency. Columns of
strings or objects reach the usual dtype check and its message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasish import config


def _is_pandas(x: Any, name: str) -> bool:
    return type(x).__module__.split(".")[0] == "pandas" and type(x).__name__ == name


def _floatx(array: np.ndarray, float_columns: bool) -> np.ndarray:
    if float_columns:
        return array.astype(config.floatx())
    return array


def convert(x: Any, *, weights: bool = False) -> Any:
    """`x` with every DataFrame/Series in it (top level, list/tuple items, dict values) as a NumPy array.

    Args:
        x: the data.
        weights: True for sample weights: a Series stays one value per sample (n,).
    """
    if _is_pandas(x, "DataFrame"):
        text = [str(c) for c, d in zip(x.columns, x.dtypes.values) if d.kind not in "biuf"]
        if text:
            raise TypeError(
                f"The DataFrame has columns that are not numbers: {text} (dtypes "
                f"{[str(x[c].dtype) for c in x.columns if str(c) in text]}). kerasish trains on numeric columns, "
                "as Keras does. Convert strings to numbers first (e.g. with StringLookup or pandas' "
                "`astype('category').cat.codes`) or drop them: df.drop(columns=[...])."
            )
        floatx = config.floatx()
        non_floatx = any(d.kind == "f" and str(d) != floatx for d in x.dtypes.values)
        return _floatx(x.to_numpy(), non_floatx)
    if _is_pandas(x, "Series"):
        array = x.to_numpy()
        array = _floatx(array, array.dtype.kind == "f" and str(array.dtype) != config.floatx())
        return array if weights else np.expand_dims(array, -1)
    if isinstance(x, (list, tuple)) and any(_is_pandas(v, "DataFrame") or _is_pandas(v, "Series") for v in x):
        return type(x)(convert(v, weights=weights) for v in x)
    if isinstance(x, dict) and any(_is_pandas(v, "DataFrame") or _is_pandas(v, "Series") for v in x.values()):
        return {k: convert(v, weights=weights) for k, v in x.items()}
    return x
