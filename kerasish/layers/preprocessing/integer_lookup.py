"""IntegerLookup: integer tokens to vocabulary indices (or encoded vectors), as Keras's layer."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from kerasish.layers.preprocessing.index_lookup import IndexLookup


class IntegerLookup(IndexLookup):
    """Maps arbitrary integers to contiguous indices of a vocabulary, as Keras's layer.

    Layout and `adapt` order as StringLookup (ties by descending integer). OOV integers go
    to the OOV indices by `token % num_oov_indices` (`oov_method='floormod'`) or by the
    FarmHash of their decimal text (`'farmhash'`, SipHash with `salt`).

    Args:
        max_tokens: the largest number of indices, mask and OOV included. Defaults to `None`.
        num_oov_indices: the number of OOV indices (0 makes OOV inputs an error). Defaults to `1`.
        mask_token: an integer that maps to index 0 in `'int'` mode. Defaults to `None`.
        oov_token: the integer `invert=True` returns for OOV indices. Defaults to `-1`.
        vocabulary: a list/array of integers or a text file path. Defaults to `None`.
        vocabulary_dtype: must be `'int64'`, as in Keras. Defaults to `'int64'`.
        idf_weights: with `output_mode='tf_idf'` and `vocabulary`, one weight per token.
            Defaults to `None`.
        invert: map indices back to integers. Defaults to `False`.
        output_mode: `'int'`, `'one_hot'`, `'multi_hot'`, `'count'` or `'tf_idf'`
            (float32 vectors; Keras returns int64 for the first three). Defaults to `'int'`.
        sparse: must be False. Defaults to `False`.
        pad_to_max_tokens: make encoded vectors `max_tokens` long. Defaults to `False`.
        oov_method: `'floormod'` or `'farmhash'`. Defaults to `'floormod'`.
        salt: with `'farmhash'`, an int or pair of ints keying the hash. Defaults to `None`.
        **kwargs: `name`, `dtype`, as for every layer.

    Example:
        >>> layer = IntegerLookup(vocabulary=[12, 36, 1138, 42])
        >>> layer(torch.tensor([[12, 1138, 42], [42, 1000, 36]])).tolist()
        [[1, 3, 4], [4, 0, 2]]
    """

    _kind = "int"
    #: Integer tokens reach the layer as they are (fit does not cast them to float).
    integer_input = True

    def __init__(self, max_tokens: Optional[int] = None, num_oov_indices: int = 1, mask_token: Optional[int] = None,
                 oov_token: int = -1, vocabulary: Union[Sequence[int], str, None] = None,
                 vocabulary_dtype: str = "int64", idf_weights: Any = None, invert: bool = False,
                 output_mode: str = "int", sparse: bool = False, pad_to_max_tokens: bool = False,
                 oov_method: str = "floormod", salt: Any = None, **kwargs: Any) -> None:
        if vocabulary_dtype != "int64":
            raise ValueError(
                f"IntegerLookup supports only vocabulary_dtype='int64', as Keras; received "
                f"vocabulary_dtype={vocabulary_dtype!r}. Leave it at the default."
            )
        for name, token in (("mask_token", mask_token), ("oov_token", oov_token)):
            if token is not None and (not isinstance(token, (int, np.integer)) or isinstance(token, bool)):
                raise ValueError(f"IntegerLookup: {name} must be an int or None; received {name}={token!r}.")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=None if mask_token is None else int(mask_token),
                         oov_token=None if oov_token is None else int(oov_token), vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, oov_method=oov_method, salt=salt, **kwargs)

    def _plain_tokens(self, values: List[Any]) -> List[Any]:
        out = []
        for v in values:
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise TypeError(
                    f"IntegerLookup takes integer tokens; received {v!r} of type {type(v).__name__}. "
                    "Use StringLookup for strings, or convert the values to int."
                )
            out.append(int(v))
        return out

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(vocabulary_dtype="int64", oov_method=self.oov_method)
        return config
