"""Discretization: buckets continuous values by boundaries, given or learned as quantiles by `adapt`.

`adapt` follows Keras's approximate quantile summary step for step, so the learned boundaries
equal Keras's: each batch is sorted and thinned to about `1 / epsilon` evenly spaced values with
weights; summaries are merged by a weighted sort and compressed by interpolating cumulative
weights; the final boundaries interpolate the summary at `1 / num_bins` steps. Like Keras's,
they are approximate: with more than `1 / epsilon` values a batch's thinning and the
compression of merged batches lose precision, and the result depends on how data is batched.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import torch

from kerasish.layers.layer import Shape
from kerasish.layers.preprocessing.base import PreprocessingLayer
from kerasish.layers.preprocessing.category_encoding import check_not_sparse, check_output_mode, encode

_MODES = ("int", "one_hot", "multi_hot", "count")


def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    """A (2, k) summary of one batch: every `step`-th sorted value and its weight `step`."""
    values = np.sort(values.reshape(-1))
    step = max(values.size * epsilon, 1)
    kept = values[int(step - 1)::int(step)]
    return np.stack([kept, np.full_like(kept, step)])


def _compress(summary: np.ndarray, epsilon: float) -> np.ndarray:
    """Resamples a summary at cumulative-weight fractions epsilon, 2 * epsilon, ..., 1."""
    if summary.shape[1] * epsilon < 1:
        return summary
    fractions = epsilon + np.arange(0.0, 1.0, epsilon)
    cumulative = summary[1].cumsum()
    positions = cumulative / cumulative[-1]
    values = np.interp(fractions, positions, summary[0])
    new_cumulative = np.interp(fractions, positions, cumulative)
    weights = np.diff(new_cumulative, prepend=0.0)
    return np.stack((values, weights)).astype("float32")


def _merge(a: np.ndarray, b: np.ndarray, epsilon: float) -> np.ndarray:
    merged = np.concatenate((a, b), axis=1)
    return _compress(merged[:, np.argsort(merged[0])], epsilon)


class Discretization(PreprocessingLayer):
    """Maps each value to the index of its bucket (`bins[i-1] <= x < bins[i]`), as Keras's layer.

    Args:
        bin_boundaries: a sorted list of boundaries; values below the first go to bucket 0,
            values at or above the last to bucket `len(bin_boundaries)`. Defaults to `None`
            (then `num_bins` and `adapt`).
        num_bins: the number of buckets `adapt` learns (as approximate quantiles).
            Defaults to `None`.
        epsilon: the error tolerance of the quantile summary (about `1 / epsilon` values are
            kept per batch). Defaults to `0.01`.
        output_mode: `'int'` (bucket ids, int32 as Keras), `'one_hot'`, `'multi_hot'` or `'count'`
            (float32 vectors of size `num_bins`). Defaults to `'int'`.
        sparse: must be False (kerasish has no sparse tensors). Defaults to `False`.
        **kwargs: `name`, `dtype`, as for every layer.

    Example:
        >>> layer = Discretization(bin_boundaries=[0.0, 1.0, 2.0])
        >>> layer(torch.tensor([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])).tolist()
        [[0, 2, 3, 1], [1, 3, 2, 1]]
    """

    def __init__(self, bin_boundaries: Optional[List[float]] = None, num_bins: Optional[int] = None,
                 epsilon: float = 0.01, output_mode: str = "int", sparse: bool = False, **kwargs: Any) -> None:
        check_not_sparse("Discretization", sparse)
        super().__init__(**kwargs)
        check_output_mode("Discretization", output_mode, _MODES)
        if num_bins is not None and (not isinstance(num_bins, (int, np.integer)) or num_bins < 0):
            raise ValueError(
                f"Discretization: num_bins must be an int >= 0; received num_bins={num_bins!r}. "
                "Pass the number of buckets, e.g. num_bins=4."
            )
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(
                f"Discretization takes num_bins or bin_boundaries, not both; received num_bins={num_bins!r} "
                f"and bin_boundaries={bin_boundaries!r}. Pass bin_boundaries to fix the buckets, or num_bins "
                "to learn them with adapt()."
            )
        if num_bins is None and bin_boundaries is None:
            raise ValueError(
                "Discretization needs num_bins or bin_boundaries; received neither. Pass "
                "bin_boundaries=[...] or num_bins=... and call adapt(data)."
            )
        if not 0 < float(epsilon) <= 1:
            raise ValueError(
                f"Discretization: epsilon must lie in (0, 1]; received epsilon={epsilon!r}. Pass e.g. 0.01."
            )
        self.num_bins = num_bins
        self.epsilon = float(epsilon)
        self.output_mode = output_mode
        self.sparse = False
        self.bin_boundaries: Optional[List[float]] = None
        self._set_boundaries(bin_boundaries)
        self.built = True

    def _set_boundaries(self, boundaries: Optional[List[float]]) -> None:
        self.bin_boundaries = None if boundaries is None else [float(b) for b in boundaries]
        values = [] if boundaries is None else self.bin_boundaries
        # A plain tensor (config, not a weight): Keras's layer holds no weights either.
        self._boundaries = torch.tensor(values, dtype=torch.float32)
        self._is_adapted = boundaries is not None

    # ------------------------------------------------------------------ adapt
    def adapt(self, data: Any, batch_size: Optional[int] = None, steps: Optional[int] = None) -> None:
        """Learns `num_bins` quantile boundaries from `data` (see the base class for `data`)."""
        if self.num_bins is None:
            raise ValueError(
                f"Discretization {self.name!r} was given bin_boundaries, so adapt() has nothing to learn. "
                "Create it with num_bins=... instead to learn the boundaries from data."
            )
        super().adapt(data, batch_size, steps)

    def reset_state(self) -> None:
        self._summary = np.array([[], []], dtype="float32")

    def update_state(self, data: Any) -> None:
        if isinstance(data, torch.Tensor):
            data = data.detach().cpu().numpy()
        values = np.asarray(data).astype("float32")
        self._summary = _merge(_summarize(values, self.epsilon), self._summary, self.epsilon)

    def finalize_state(self) -> None:
        self._set_boundaries(_compress(self._summary, 1.0 / self.num_bins)[0, :-1].tolist())

    # ------------------------------------------------------------------ calling
    def call(self, inputs: Any) -> torch.Tensor:
        if self.bin_boundaries is None:
            raise ValueError(
                f"Discretization {self.name!r} has no bin boundaries yet. Call layer.adapt(data) first, or "
                "pass bin_boundaries=[...] to the constructor."
            )
        x = torch.as_tensor(inputs)
        if self._boundaries.device != x.device:
            self._boundaries = self._boundaries.to(x.device)
        bounds = self._boundaries
        ids = torch.bucketize(x.to(bounds.dtype) if x.dtype != bounds.dtype else x, bounds, right=True)
        if self.output_mode == "int":
            return ids.to(torch.int32)  # Keras's dtype for bucket ids
        return encode(ids, self.output_mode, len(self.bin_boundaries) + 1)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins
        if self.output_mode == "one_hot":
            if len(input_shape) > 1 and input_shape[-1] == 1:
                return tuple(input_shape[:-1]) + (depth,)
            return tuple(input_shape) + (depth,)
        if len(input_shape) >= 2:
            return (input_shape[0],) + tuple(input_shape[2:]) + (depth,)
        return (depth,)

    def get_config(self) -> Dict[str, Any]:
        config = self._keras_plain_config(super().get_config())  # Keras's Discretization takes no `trainable`
        config.update(bin_boundaries=self.bin_boundaries, num_bins=self.num_bins, epsilon=self.epsilon,
                      output_mode=self.output_mode, sparse=self.sparse)
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Discretization":
        # An adapted layer's config holds both num_bins and the learned boundaries, which the
        # constructor refuses together: build with num_bins, then restore the boundaries.
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            config = dict(config)
            boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer._set_boundaries(boundaries)
            return layer
        return cls(**config)
