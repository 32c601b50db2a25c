"""CategoryEncoding, and the one-hot / multi-hot / count encoding the lookup layers share."""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch

from kerasish.layers.layer import Layer, Shape
from kerasish.utils.text import did_you_mean

ENCODED_MODES = ("one_hot", "multi_hot", "count")


def check_output_mode(layer: str, output_mode: Any, valid: tuple) -> None:
    """Raises the house-style error for an output_mode outside `valid`."""
    if output_mode not in valid:
        raise ValueError(
            f"{layer} received output_mode={output_mode!r}; expected one of "
            f"{', '.join(map(repr, valid))}.{did_you_mean(str(output_mode), valid)}"
        )


def check_not_sparse(layer: str, sparse: Any) -> None:
    if sparse:
        raise ValueError(
            f"{layer}: sparse=True is not supported by kerasish (it has no sparse tensors, as Keras on the "
            "torch backend). Keep sparse=False; the output is a dense tensor."
        )


def encode(ids: torch.Tensor, output_mode: str, depth: int, count_weights: Optional[torch.Tensor] = None,
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Encodes integer ids of shape (..., n) into vectors of size `depth`, as Keras's layers do.

    `'one_hot'` gives every id its own vector (a trailing axis of size 1 is replaced);
    `'multi_hot'` and `'count'` fold the sample axis (axis 1 for rank >= 2 inputs, the only
    axis for a vector) into one vector that marks or counts the ids present. Ids outside
    `[0, depth)` encode to nothing (a zero row), as Keras's torch backend does for negatives.
    """
    if output_mode == "int":
        return ids
    if ids.dim() == 0:
        ids = ids.unsqueeze(-1)
    ids = ids.long()
    valid = (ids >= 0) & (ids < depth)
    safe = torch.where(valid, ids, torch.zeros_like(ids))
    if output_mode == "one_hot":
        if ids.dim() > 1 and ids.shape[-1] == 1:
            safe, valid = safe.squeeze(-1), valid.squeeze(-1)
        out = torch.nn.functional.one_hot(safe, depth).to(dtype)
        return out * valid.unsqueeze(-1).to(dtype)
    values = valid.to(dtype if count_weights is None else count_weights.dtype)
    if count_weights is not None:
        values = values * count_weights
    if ids.dim() <= 2:
        # Scatter into (rows, depth) directly instead of building the (rows, n, depth) one-hot.
        rows_ids = safe.reshape(1, -1) if ids.dim() == 1 else safe
        rows_vals = values.reshape(1, -1) if ids.dim() == 1 else values
        out = torch.zeros(rows_ids.shape[0], depth, dtype=rows_vals.dtype, device=ids.device)
        out.scatter_add_(1, rows_ids, rows_vals)
        if output_mode == "multi_hot":
            out = (out > 0).to(dtype)
        return out[0] if ids.dim() == 1 else out
    hot = torch.nn.functional.one_hot(safe, depth).to(values.dtype) * values.unsqueeze(-1)
    if output_mode == "multi_hot":
        return hot.amax(dim=1).to(dtype)
    return hot.sum(dim=1)


def encoded_shape(input_shape: Shape, output_mode: str, depth: Optional[int]) -> Shape:
    """The output shape of `encode` for an input shape."""
    input_shape = tuple(input_shape)
    if output_mode == "int":
        return input_shape
    if not input_shape:
        return (depth,)
    if output_mode == "one_hot":
        if len(input_shape) > 1 and input_shape[-1] == 1:
            return input_shape[:-1] + (depth,)
        return input_shape + (depth,)
    if len(input_shape) == 1:
        return (depth,)
    return input_shape[:-1] + (depth,)


class CategoryEncoding(Layer):
    """Encodes integer category ids as one-hot, multi-hot or count vectors, as Keras's layer.

    Args:
        num_tokens: the number of categories; inputs lie in `[0, num_tokens)` (ids outside
            give zero vectors). No default: it must be set.
        output_mode: `'one_hot'` (a vector per id; a trailing axis of 1 is replaced),
            `'multi_hot'` (one vector per sample marking the ids present) or `'count'` (the
            number of times each id occurs, weighted by `count_weights` when given).
            Defaults to `'multi_hot'`.
        sparse: must be False (kerasish has no sparse tensors). Defaults to `False`.
        **kwargs: `name`, `dtype`, `input_shape`, as for every layer.

    Call arguments:
        inputs: integer ids of shape `(batch,)` or `(batch, n)`.
        count_weights: weights of the same shape as `inputs`, only in `'count'` mode.

    Example:
        >>> layer = CategoryEncoding(num_tokens=4, output_mode="count")
        >>> layer(torch.tensor([[0, 1], [0, 0], [1, 2], [3, 1]])).tolist()
        [[1.0, 1.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]
    """

    _convert_input_args = False  # as Keras: inputs reach call() in their own dtype

    #: Integer ids reach the layer as they are (fit does not cast them to float).
    integer_input = True

    def __init__(self, num_tokens: Optional[int] = None, output_mode: str = "multi_hot", sparse: bool = False,
                 **kwargs: Any) -> None:
        check_not_sparse("CategoryEncoding", sparse)
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"  # Keras's old name
        check_output_mode("CategoryEncoding", output_mode, ENCODED_MODES)
        if num_tokens is None:
            raise ValueError(
                "CategoryEncoding needs num_tokens (the number of categories); received num_tokens=None. "
                "Pass num_tokens=..., or use IntegerLookup when the categories are not known in advance."
            )
        if not isinstance(num_tokens, (int, np.integer)) or isinstance(num_tokens, bool) or num_tokens < 1:
            raise ValueError(
                f"CategoryEncoding: num_tokens must be an int >= 1; received num_tokens={num_tokens!r}. "
                "Pass the number of categories, e.g. num_tokens=10."
            )
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = False
        self.built = True

    def call(self, inputs: Any, count_weights: Any = None) -> torch.Tensor:
        ids = torch.as_tensor(inputs)
        dtype = torch.float32 if self._dtype_arg is None else getattr(torch, self._dtype_arg)
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError(
                    f"CategoryEncoding: count_weights is only used with output_mode='count'; received "
                    f"count_weights with output_mode={self.output_mode!r}. Drop count_weights or use 'count'."
                )
            count_weights = torch.as_tensor(count_weights, dtype=dtype, device=ids.device)
            if count_weights.shape != ids.shape:
                raise ValueError(
                    f"CategoryEncoding: count_weights must have the shape of inputs {tuple(ids.shape)}; "
                    f"received shape {tuple(count_weights.shape)}. Pass one weight per input id."
                )
        return encode(ids, self.output_mode, self.num_tokens, count_weights, dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        # Keras 3's CategoryEncoding writes no `sparse` (kerasish refuses sparse=True anyway).
        config.update(num_tokens=self.num_tokens, output_mode=self.output_mode)
        return config
