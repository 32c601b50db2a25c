"""StringLookup: strings to vocabulary indices (or encoded vectors), as Keras's layer."""

from __future__ import annotations

import codecs
from typing import Any, Dict, List, Optional, Sequence, Union

from kerasish.layers.preprocessing.index_lookup import IndexLookup


class StringLookup(IndexLookup):
    """Maps strings to indices of a vocabulary given or learned by `adapt`, as Keras's layer.

    In `'int'` mode the indices are `[mask (when mask_token is set), OOV indices, vocabulary]`;
    `adapt` orders the vocabulary by count, ties by descending string. It runs on the host
    (CPU); a model that starts with it takes NumPy arrays or lists of Python strings in
    fit/predict (`string_input`), e.g. `Sequential([StringLookup(...), Embedding(...)])`.

    Args:
        max_tokens: the largest number of indices, mask and OOV included. Defaults to `None`.
        num_oov_indices: the number of OOV indices; more than 1 hashes OOV strings among them
            (FarmHash, or SipHash with `salt`); 0 makes OOV inputs an error. Defaults to `1`.
        mask_token: a string that maps to index 0 in `'int'` mode and is dropped in the
            other modes. Defaults to `None`.
        oov_token: the string `invert=True` returns for OOV indices. Defaults to `'[UNK]'`.
        vocabulary: a list/array of strings or the path of a text file (one token per line).
            Defaults to `None`.
        idf_weights: with `output_mode='tf_idf'` and `vocabulary`, one weight per token.
            Defaults to `None`.
        invert: map indices back to strings (a NumPy array of `str`). Defaults to `False`.
        output_mode: `'int'` (int64 indices), `'one_hot'`, `'multi_hot'`, `'count'` or
            `'tf_idf'` (float32 vectors of size `vocabulary_size()`; Keras returns int64 for the
            first three, kerasish float32 so they feed a Dense layer). Defaults to `'int'`.
        pad_to_max_tokens: make encoded vectors `max_tokens` long. Defaults to `False`.
        sparse: must be False (kerasish has no sparse tensors). Defaults to `False`.
        encoding: the text encoding of `bytes` inputs. Defaults to `'utf-8'`.
        salt: an int or pair of ints keying the OOV hash. Defaults to `None`.
        **kwargs: `name`, `dtype`, as for every layer.

    Example:
        >>> layer = StringLookup(vocabulary=["a", "b", "c", "d"])
        >>> layer([["a", "c", "d"], ["d", "z", "b"]]).tolist()
        [[1, 3, 4], [4, 0, 2]]
    """

    _kind = "string"
    #: fit/predict pass raw strings to a model that starts with this layer.
    string_input = True

    def __init__(self, max_tokens: Optional[int] = None, num_oov_indices: int = 1, mask_token: Optional[str] = None,
                 oov_token: str = "[UNK]", vocabulary: Union[Sequence[str], str, None] = None,
                 idf_weights: Any = None, invert: bool = False, output_mode: str = "int",
                 pad_to_max_tokens: bool = False, sparse: bool = False, encoding: str = "utf-8",
                 salt: Any = None, **kwargs: Any) -> None:
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise ValueError(
                f"StringLookup: unknown encoding={encoding!r}. Pass a Python codec name such as 'utf-8' "
                "(the default); it decodes bytes inputs."
            ) from None
        self.encoding = encoding
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
                         oov_token=oov_token, vocabulary=vocabulary, idf_weights=idf_weights, invert=invert,
                         output_mode=output_mode, sparse=sparse, pad_to_max_tokens=pad_to_max_tokens,
                         oov_method="farmhash", salt=salt, **kwargs)

    def _plain_tokens(self, values: List[Any]) -> List[Any]:
        enc = self.encoding
        return [v.decode(enc) if isinstance(v, bytes) else v for v in values]

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config["encoding"] = self.encoding
        return config
