"""IndexLookup: the vocabulary core shared by StringLookup and IntegerLookup (Keras's semantics).

Index layout, as Keras's: in `'int'` mode with a `mask_token`, index 0 is the mask; then come
`num_oov_indices` out-of-vocabulary indices; then the vocabulary. In the other modes the mask
takes no index (masked inputs are dropped from the encoded vectors). `adapt` counts tokens and
orders them by count, ties by descending token (Keras's order); in `'tf_idf'` mode it also
counts the documents (rows) each token occurs in and sets
`idf = log(1 + num_documents / (1 + document_count))`, the OOV slots getting the mean idf.

The lookup runs on the host with a Python dict (one C-level `map(dict.get, ...)` per batch):
these layers take strings or raw ids from the data pipeline, before the device.
"""

from __future__ import annotations

import os
from collections import Counter
from itertools import repeat
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from kerasish.layers.layer import Shape
from kerasish.layers.preprocessing.base import PreprocessingLayer
from kerasish.layers.preprocessing.category_encoding import check_not_sparse, check_output_mode, encode
from kerasish.layers.preprocessing.hashing import hash_buckets, to_host_array

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_ALIASES = {"binary": "multi_hot", "tf-idf": "tf_idf"}
_MASKED = np.iinfo(np.int64).max  # masked inputs in the encoded modes: outside every vector, so dropped


def idf_from_counts(document_counts: np.ndarray, num_documents: int) -> np.ndarray:
    """Keras's inverse document frequency, computed in float64 and stored as float32."""
    return np.log(1.0 + num_documents / (1.0 + document_counts.astype(np.float64))).astype(np.float32)


def order_by_count(counts: Counter) -> List[Any]:
    """Tokens by decreasing count, ties by decreasing token (Keras's lexsort order)."""
    return [token for token, _ in sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


class IndexLookup(PreprocessingLayer):
    """Maps tokens to indices through a vocabulary; the base of StringLookup and IntegerLookup.

    Subclasses set `_kind` ('string' or 'int') and convert inputs with `_host_values`.
    The arguments are those of StringLookup / IntegerLookup (see there).
    """

    _convert_input_args = False  # as Keras: inputs reach call() in their own dtype

    _kind = "string"

    def __init__(self, max_tokens: Optional[int], num_oov_indices: int, mask_token: Any, oov_token: Any,
                 vocabulary: Any = None, idf_weights: Any = None, invert: bool = False, output_mode: str = "int",
                 sparse: bool = False, pad_to_max_tokens: bool = False, oov_method: str = "floormod",
                 salt: Any = None, **kwargs: Any) -> None:
        layer = type(self).__name__
        check_not_sparse(layer, sparse)
        output_mode = _ALIASES.get(output_mode, output_mode)
        check_output_mode(layer, output_mode, OUTPUT_MODES)
        if max_tokens is not None and (not isinstance(max_tokens, (int, np.integer)) or max_tokens <= 1):
            raise ValueError(
                f"{layer}: max_tokens must be None or an int > 1 (it counts the mask and OOV indices); "
                f"received max_tokens={max_tokens!r}. Pass e.g. max_tokens=20000."
            )
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(
                f"{layer}: pad_to_max_tokens=True needs max_tokens; received max_tokens=None. "
                "Pass max_tokens=..., or pad_to_max_tokens=False."
            )
        if not isinstance(num_oov_indices, (int, np.integer)) or num_oov_indices < 0:
            raise ValueError(
                f"{layer}: num_oov_indices must be an int >= 0; received num_oov_indices={num_oov_indices!r}. "
                "Pass 1 (the default) for one OOV index, or more to hash OOV tokens into several."
            )
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(
                f"{layer} received oov_method={oov_method!r}; expected 'floormod' or 'farmhash'. "
                "'farmhash' spreads OOV integers evenly; strings always use FarmHash."
            )
        if salt is not None:
            if self._kind == "int" and oov_method != "farmhash":
                raise ValueError(
                    f"{layer}: salt is only used with oov_method='farmhash'; received salt={salt!r} with "
                    f"oov_method={oov_method!r}. Pass oov_method='farmhash' too, or drop salt."
                )
            if isinstance(salt, (list, tuple)) and len(salt) == 2 and all(isinstance(s, int) for s in salt):
                salt = [int(salt[0]), int(salt[1])]
            elif isinstance(salt, int) and not isinstance(salt, bool):
                salt = [salt, salt]
            else:
                raise ValueError(f"{layer} received salt={salt!r}; expected an int or a pair of ints, e.g. salt=7.")
        if invert and output_mode != "int":
            raise ValueError(
                f"{layer}: invert=True maps indices back to tokens, so output_mode must be 'int'; received "
                f"output_mode={output_mode!r}. Use output_mode='int' with invert=True."
            )
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(
                f"{layer}: idf_weights are only used with output_mode='tf_idf'; received output_mode="
                f"{output_mode!r}. Pass output_mode='tf_idf', or drop idf_weights."
            )
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(
                f"{layer}: output_mode='tf_idf' with a vocabulary needs idf_weights (one per token). "
                "Pass idf_weights=[...], or call adapt(data) instead of passing vocabulary."
            )
        super().__init__(**kwargs)
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.invert = bool(invert)
        self.output_mode = output_mode
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.oov_method = oov_method
        self.salt = salt
        self._has_input_vocabulary = vocabulary is not None
        self._tokens: List[Any] = []
        self._index: Dict[Any, int] = {}
        self._idf: Optional[np.ndarray] = None
        self.built = True
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ------------------------------------------------------------------ layout
    def _oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self) -> int:
        return self._oov_start() + self.num_oov_indices

    def vocabulary_size(self) -> int:
        """The number of indices: mask and OOV indices plus the vocabulary."""
        return len(self._tokens) + self._token_start()

    def get_vocabulary(self, include_special_tokens: bool = True) -> List[Any]:
        """The token of each index (`include_special_tokens=False` drops the mask and OOV ones)."""
        specials = [self.oov_token] * self._token_start()
        if self.mask_token is not None and self.output_mode == "int":
            specials[0] = self.mask_token
        return (specials if include_special_tokens else []) + list(self._tokens)

    # ------------------------------------------------------------------ vocabulary
    def _read_vocabulary_file(self, path: str) -> List[Any]:
        if not os.path.isfile(path):
            raise ValueError(
                f"{type(self).__name__}: vocabulary file {path!r} does not exist. Pass the path of a text file "
                "with one token per line, or a list of tokens."
            )
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        return [int(t) for t in lines] if self._kind == "int" else lines

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Sets the vocabulary (a list/array of tokens or a text file path) and, in 'tf_idf' mode, idf weights.

        The list may start with the special tokens in index order (`[mask, oov, ...]`).

        Raises:
            ValueError: for an empty or repeated vocabulary, misplaced special tokens, more than
                `max_tokens` indices, or idf weights that are missing or of the wrong length.
        """
        layer = type(self).__name__
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{layer}.set_vocabulary: output_mode='tf_idf' needs idf_weights=[...], one per token.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(
                f"{layer}.set_vocabulary: idf_weights are only used with output_mode='tf_idf'; this layer has "
                f"output_mode={self.output_mode!r}. Drop idf_weights."
            )
        if isinstance(vocabulary, str):
            if self.output_mode == "tf_idf":
                raise ValueError(
                    f"{layer}: output_mode='tf_idf' cannot load its vocabulary from a file (the idf weights must "
                    "match it). Pass the vocabulary as a list together with idf_weights."
                )
            vocabulary = self._read_vocabulary_file(vocabulary)
        vocab = self._plain_tokens(to_host_array(vocabulary).reshape(-1).tolist())
        if not vocab:
            raise ValueError(f"{layer}: cannot set an empty vocabulary; received {vocabulary!r}. Pass some tokens.")
        start = self._token_start()
        specials = [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices
        found_specials = vocab[:start] == specials
        tokens = vocab[start:] if found_specials else vocab
        repeated = sorted({t for t, c in Counter(tokens).items() if c > 1}, key=str)
        if repeated:
            raise ValueError(
                f"{layer}: the vocabulary repeats the tokens {repeated[:10]}. Pass each token once."
            )
        for name, token in (("mask_token", self.mask_token), ("oov_token", self.oov_token if self.invert else None)):
            if token is not None and token in tokens:
                raise ValueError(
                    f"{layer}: the vocabulary holds {name}={token!r} at index {vocab.index(token)}. Leave the mask "
                    f"and OOV tokens out, or put them first in exactly this order: {specials}."
                )
        if self.max_tokens is not None and start + len(tokens) > self.max_tokens:
            raise ValueError(
                f"{layer}: the vocabulary needs {start + len(tokens)} indices (mask and OOV included), more than "
                f"max_tokens={self.max_tokens}. Raise max_tokens or pass fewer tokens."
            )
        idf = None
        if idf_weights is not None:
            weights = np.asarray(idf_weights, dtype=np.float32)
            if weights.ndim != 1 or len(weights) != len(vocab):
                raise ValueError(
                    f"{layer}: idf_weights must be 1-D with one weight per vocabulary entry ({len(vocab)}); "
                    f"received shape {weights.shape}. Pass one weight per token."
                )
            if not found_specials:
                # The special indices get the mean weight, as in Keras.
                weights = np.concatenate([np.full(start, weights.mean(), np.float32), weights])
            idf = weights
        self._set_tokens(tokens, idf)
        self._has_input_vocabulary = True

    def _set_tokens(self, tokens: List[Any], idf: Optional[np.ndarray] = None) -> None:
        self._tokens = list(tokens)
        start = self._token_start()
        self._index = {t: i for i, t in enumerate(self._tokens, start)}
        self._reverse = {i: t for t, i in self._index.items()}
        if idf is not None and self.pad_to_max_tokens and self.max_tokens is not None:
            idf = np.concatenate([idf, np.zeros(self.max_tokens - len(idf), np.float32)])
        self._idf = idf
        self._is_adapted = True

    def _plain_tokens(self, values: List[Any]) -> List[Any]:
        """Tokens as Python str / int (subclasses decode bytes or check integers)."""
        return values

    # ------------------------------------------------------------------ adapt
    def adapt(self, data: Any, batch_size: Optional[int] = None, steps: Optional[int] = None) -> None:
        """Learns the vocabulary (and idf weights in 'tf_idf' mode) from `data`, replacing the previous one.

        A whole array or list of rank 1 counts each element as one document; a batch of
        rank 1 from an iterable is one document, as in Keras.

        Raises:
            ValueError: when the layer was given a fixed vocabulary.
        """
        if self._has_input_vocabulary:
            raise ValueError(
                f"Cannot adapt {type(self).__name__} {self.name!r}: it was given a fixed vocabulary (vocabulary= "
                "or set_vocabulary). Create a new layer without vocabulary= to learn one from data."
            )
        if isinstance(data, (list, tuple, np.ndarray, torch.Tensor)):
            data = to_host_array(data)
            if data.ndim <= 1:
                data = data.reshape(-1, 1)
        super().adapt(data, batch_size, steps)

    def reset_state(self) -> None:
        self._counts: Counter = Counter()
        self._doc_counts: Counter = Counter()
        self._num_documents = 0

    def update_state(self, data: Any) -> None:
        values = to_host_array(data)
        if values.ndim < 2:
            values = values.reshape(1, -1)
        rows = [self._plain_tokens(row) for row in values.reshape(values.shape[0], -1).tolist()]
        for row in rows:
            self._counts.update(row)
        if self.output_mode == "tf_idf":
            for row in rows:
                self._doc_counts.update(set(row))
            self._num_documents += len(rows)

    def finalize_state(self) -> None:
        counts = self._counts
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                counts.pop(special, None)
        tokens = order_by_count(counts)
        if self.max_tokens:
            tokens = tokens[:self.max_tokens - self._token_start()]
        idf = None
        if self.output_mode == "tf_idf":
            learned = idf_from_counts(np.array([self._doc_counts[t] for t in tokens], dtype=np.int64),
                                      self._num_documents)
            pad = learned.mean(dtype=np.float32) if len(learned) else np.float32(0)
            idf = np.concatenate([np.full(self._token_start(), pad, np.float32), learned])
        self._set_tokens(tokens, idf)
        self.reset_state()

    # ------------------------------------------------------------------ calling
    def _oov_ids(self, values: np.ndarray) -> np.ndarray:
        n = self.num_oov_indices
        if self._kind == "int" and self.oov_method != "farmhash":
            return np.mod(values.astype(np.int64), n)
        return hash_buckets(values, n, self.salt)

    def _lookup(self, flat: List[Any]) -> np.ndarray:
        default = -1 if self.num_oov_indices != 1 else self._oov_start()
        ids = np.fromiter(map(self._index.get, flat, repeat(default)), dtype=np.int64, count=len(flat))
        masked = None
        if self.mask_token is not None:
            masked = np.fromiter((v == self.mask_token for v in flat), dtype=bool, count=len(flat))
            ids[masked] = 0 if self.output_mode == "int" else _MASKED
        if self.num_oov_indices == 0:
            missing = ids == -1
            if missing.any():
                bad = [flat[i] for i in np.flatnonzero(missing)[:5]]
                raise ValueError(
                    f"{type(self).__name__} {self.name!r} has num_oov_indices=0, but the inputs hold tokens that are "
                    f"not in the vocabulary: {bad}. Set num_oov_indices=1 (or more), or add them to the vocabulary."
                )
        elif self.num_oov_indices > 1:
            missing = np.flatnonzero(ids == -1)
            if missing.size:
                oov_values = np.empty(missing.size, dtype=object if self._kind == "string" else np.int64)
                oov_values[:] = [flat[i] for i in missing]
                ids[missing] = self._oov_ids(oov_values) + self._oov_start()
        return ids

    def _invert(self, values: np.ndarray) -> Any:
        flat = values.reshape(-1).astype(np.int64).tolist()
        out = [self._reverse.get(i, self.oov_token) for i in flat]
        if self.mask_token is not None:
            out = [self.mask_token if i == 0 else t for i, t in zip(flat, out)]
        if self._kind == "int":
            return torch.tensor(out, dtype=torch.int64).reshape(values.shape)
        arr = np.empty(len(out), dtype=object)
        arr[:] = out
        return arr.reshape(values.shape)

    def call(self, inputs: Any) -> Any:
        if not self._is_adapted:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} has no vocabulary yet. Call layer.adapt(data) first, or "
                "pass vocabulary=[...] to the constructor."
            )
        values = to_host_array(inputs)
        scalar = values.ndim == 0
        if scalar:
            values = values.reshape(1)
        if self.invert:
            out = self._invert(values)
            return out[0] if scalar else out
        ids = self._lookup(self._plain_tokens(values.reshape(-1).tolist())).reshape(values.shape)
        ids_t = torch.from_numpy(ids)
        if self.output_mode == "int":
            return ids_t[0] if scalar else ids_t
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        if self.output_mode != "tf_idf":
            return encode(ids_t, self.output_mode, depth)
        counts = encode(ids_t, "count", depth)
        return counts * torch.from_numpy(self._idf)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        if self.output_mode == "one_hot" and not (len(input_shape) > 1 and input_shape[-1] == 1):
            return input_shape + (depth,)
        return input_shape[:-1] + (depth,)

    # ------------------------------------------------------------------ config
    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        vocab = self.get_vocabulary() if self._is_adapted else None
        idf = None
        if self._idf is not None:
            idf = self._idf[:self.vocabulary_size()].tolist()
        config.update(
            max_tokens=self.max_tokens, num_oov_indices=self.num_oov_indices, mask_token=self.mask_token,
            oov_token=self.oov_token, vocabulary=vocab, idf_weights=idf, invert=self.invert,
            output_mode=self.output_mode, sparse=self.sparse, pad_to_max_tokens=self.pad_to_max_tokens,
            salt=self.salt,
        )
        return config
