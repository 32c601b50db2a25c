"""TextVectorization: strings to token ids (or bag-of-words vectors), with Keras's arguments.

It runs on the CPU in plain Python: `str.translate` standardises, `str.split` (or any callable)
tokenises, `collections.Counter` counts during `adapt`, and a dict maps tokens to ids. That is
fast enough to adapt to and convert tens of thousands of short texts in a fraction of a second.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import string
from collections import Counter
from itertools import chain, repeat
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch

from kerasish.layers.layer import Layer, Shape
from kerasish.layers.preprocessing.index_lookup import idf_from_counts, order_by_count
from kerasish.layers.unsupported import reject_unsupported
from kerasish.utils.text import did_you_mean

PAD_TOKEN = ""
OOV_TOKEN = "[UNK]"

# Keras strips exactly the ASCII punctuation (apostrophe included) and replaces it with nothing.
# ASCII bytes never occur inside a multi-byte UTF-8 character, so deleting them from the encoded
# bytes is the same as deleting the characters, and bytes.translate is 10x faster than a regex.
_PUNCTUATION = string.punctuation.encode("ascii")
_SEP = "\x00"  # joins a batch for the built-in standardizers (they work character by character)


def _strip_punctuation(text: str) -> str:
    raw = text.encode("utf-8", "surrogatepass").translate(None, _PUNCTUATION)
    return raw.decode("utf-8", "surrogatepass")


_STANDARDIZERS: Dict[str, Callable[[str], str]] = {
    "lower_and_strip_punctuation": lambda s: _strip_punctuation(s.lower()),
    "lower": str.lower,
    "strip_punctuation": _strip_punctuation,
}
_SPLITTERS: Dict[str, Callable[[str], List[str]]] = {"whitespace": str.split, "character": list}
_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
# Keras 2 spellings Keras 3 still accepts (and stores under their new names).
_OUTPUT_MODE_ALIASES = {"binary": "multi_hot", "tf-idf": "tf_idf"}


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while a batch is tokenised.

    Tokenising creates hundreds of thousands of short-lived lists and strings, which makes
    the collector scan the heap again and again without finding a cycle; pausing it cuts
    adapt + convert time by about a third. It is restored (only if it was on) at once.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _callable_name(fn: Callable) -> str:
    """'module.qualname' of a function, method or callable object, for configs."""
    module = getattr(fn, "__module__", None) or getattr(getattr(fn, "__objclass__", None), "__module__", "?")
    return f"{module}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def _resolve(kind: str, value: Any, table: Dict[str, Callable]) -> Optional[Callable]:
    if value is None or callable(value):
        return value
    if isinstance(value, str) and value in table:
        return table[value]
    valid = sorted(table)
    raise ValueError(
        f"Unknown {kind} {value!r}. Valid {kind} values: None, a callable, or one of "
        f"{', '.join(map(repr, valid))}.{did_you_mean(str(value), valid)} A config that names a "
        f"custom callable cannot rebuild it from JSON: pass {kind}=<the callable> again, e.g. "
        f"TextVectorization.from_config({{**config, '{kind}': my_function}})."
    )


def _as_texts(data: Any, arg: str, encoding: str = "utf-8") -> List[str]:
    """Turns a list/tuple/array/iterable of strings (or a (n, 1) array) into a list of str."""
    if isinstance(data, np.ndarray):
        data = data.reshape(-1) if data.ndim == 2 and data.shape[1] == 1 else data
        if data.ndim != 1:
            raise ValueError(
                f"{arg} must be a 1-D batch of strings, received an array of shape {data.shape}. "
                "Pass a list of strings or an array of shape (n,) or (n, 1)."
            )
        data = data.tolist()
    texts = [t.decode(encoding) if isinstance(t, bytes) else t for t in data]
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(
                f"{arg} must hold strings, but item {i} is {t!r} of type {type(t).__name__}. "
                "Pass a list of str (decode bytes, convert numbers with str())."
            )
    return texts


def _texts_from_batches(data: Any, steps: Optional[int], encoding: str) -> List[str]:
    """The strings of `data`: a list/array of strings, or an iterable of batches (a dataset from
    `text_dataset_from_directory`, a DataLoader, a generator) whose elements are string batches
    or `(x, y)` pairs (x is used), read for at most `steps` batches."""
    if isinstance(data, (np.ndarray, list, tuple, str)) or not hasattr(data, "__iter__"):
        return _as_texts(data, "adapt(data)", encoding)
    texts: List[str] = []
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            break
        if isinstance(batch, tuple) and batch:
            batch = batch[0]
        if isinstance(batch, (str, bytes)):
            batch = [batch]
        texts.extend(_as_texts(np.asarray(batch, dtype=object), f"adapt(data) batch {i}", encoding))
    return texts


class TextVectorization(Layer):
    """Maps strings to sequences of token ids (or multi-hot/count vectors), as Keras's layer.

    Texts are standardised (lower-cased, ASCII punctuation removed), split into tokens and
    looked up in a vocabulary learned by `adapt`. In `'int'` mode id 0 is padding (`''`) and
    id 1 is out-of-vocabulary (`'[UNK]'`); learned tokens follow by decreasing frequency, ties
    by descending token (Keras's order, shared with StringLookup). Calling the layer on a list of n strings returns an int64
    tensor of shape (n, length), padded with 0 at the end to the longest text or to
    `output_sequence_length` (longer texts are cut at the end).

    Args:
        max_tokens: the largest vocabulary size, the reserved tokens included (so at most
            `max_tokens - 2` learned tokens in `'int'` mode). Defaults to `None` (no limit).
        standardize: `'lower_and_strip_punctuation'`, `'lower'`, `'strip_punctuation'`, `None`,
            or a callable `str -> str`. Defaults to `'lower_and_strip_punctuation'`.
        split: `'whitespace'`, `'character'`, `None` (the whole text is one token), or a
            callable `str -> iterable of tokens` such as a HuggingFace `tokenizer.tokenize`
            or a spaCy tokenizer (non-str tokens are converted with `str()`).
            Defaults to `'whitespace'`.
        ngrams: `None`, an int n (all n-grams from 1 to n) or a tuple of n-gram sizes; n-grams
            are tokens joined by a space. Defaults to `None`.
        output_mode: `'int'` (id sequences), `'one_hot'` (one vector per text, which must give
            exactly one token, e.g. with `split=None`), `'multi_hot'`, `'count'` or `'tf_idf'`
            (float32 vectors of size `vocabulary_size()`, index 0 for out-of-vocabulary
            tokens; `'tf_idf'` weighs counts by `log(1 + texts / (1 + texts holding the
            token))` learned by `adapt`, the OOV slot by the mean weight). Keras 2's `'binary'`
            and `'tf-idf'` are read as `'multi_hot'` and `'tf_idf'`, as Keras 3 reads them.
            Defaults to `'int'`.
        output_sequence_length: pad or cut `'int'` output to this length. Defaults to `None`.
        pad_to_max_tokens: in `'multi_hot'`/`'count'` mode, make vectors `max_tokens` long even
            when the vocabulary is smaller. Defaults to `False`.
        vocabulary: a list of tokens (the reserved tokens may lead it) to use instead of
            `adapt`. Defaults to `None`.
        idf_weights: with `output_mode='tf_idf'` and `vocabulary`, one weight per token (the
            OOV slot gets their mean unless the list starts with `'[UNK]'`). Defaults to `None`.
        sparse: must be False (kerasish has no sparse tensors). Defaults to `False`.
        ragged: must be False; pad with `output_sequence_length` instead. Defaults to `False`.
        encoding: the text encoding of `bytes` inputs. Defaults to `'utf-8'`.
        **kwargs: `name`, `input_shape`, `trainable`, `dtype`, as for every layer.

    Example:
        >>> vectorizer = TextVectorization(output_sequence_length=4)
        >>> vectorizer.adapt(["The cat sat.", "The dog ran!"])
        >>> vectorizer.get_vocabulary()[:3]
        ['', '[UNK]', 'the']
        >>> vectorizer(["the cat flew"]).tolist()
        [[2, 6, 1, 0]]
    """

    _convert_input_args = False  # as Keras: inputs reach call() in their own dtype

    #: fit/predict pass raw strings to a model that starts with this layer.
    string_input = True


    def __init__(self, max_tokens: Optional[int] = None,
                 standardize: Union[str, Callable[[str], str], None] = "lower_and_strip_punctuation",
                 split: Union[str, Callable[[str], Iterable[Any]], None] = "whitespace",
                 ngrams: Union[int, Sequence[int], None] = None, output_mode: str = "int",
                 output_sequence_length: Optional[int] = None, pad_to_max_tokens: bool = False,
                 vocabulary: Optional[Sequence[str]] = None, idf_weights: Any = None, sparse: bool = False,
                 ragged: bool = False, encoding: str = "utf-8", **kwargs: Any) -> None:
        reject_unsupported("TextVectorization", sparse=sparse, ragged=ragged)
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise ValueError(
                f"TextVectorization: unknown encoding={encoding!r}. Pass a Python codec name such as 'utf-8' "
                "(the default) or 'latin-1'; it decodes bytes inputs."
            ) from None
        super().__init__(**kwargs)
        self.encoding = encoding
        if isinstance(output_mode, str):
            output_mode = _OUTPUT_MODE_ALIASES.get(output_mode, output_mode)
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(
                f"Unknown output_mode {output_mode!r}. Valid output_mode values: "
                f"{', '.join(map(repr, _OUTPUT_MODES))}.{did_you_mean(str(output_mode), _OUTPUT_MODES)}"
            )
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(
                f"TextVectorization: idf_weights=[...] is only used with output_mode='tf_idf'; received "
                f"output_mode={output_mode!r}. Pass output_mode='tf_idf', or drop idf_weights."
            )
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(
                "TextVectorization: output_mode='tf_idf' with a vocabulary needs idf_weights (one per token). "
                "Pass idf_weights=[...], or call adapt(texts) instead of passing vocabulary."
            )
        n_reserved = 2 if output_mode == "int" else 1
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                       or max_tokens <= n_reserved):
            raise ValueError(
                f"max_tokens must be None or an int > {n_reserved} (it counts the reserved "
                f"padding/OOV tokens), received max_tokens={max_tokens!r}. Pass e.g. max_tokens=20000."
            )
        if output_sequence_length is not None and (
                output_mode != "int" or not isinstance(output_sequence_length, int)
                or isinstance(output_sequence_length, bool) or output_sequence_length < 1):
            raise ValueError(
                f"output_sequence_length must be a positive int and needs output_mode='int', "
                f"received output_sequence_length={output_sequence_length!r} with "
                f"output_mode={output_mode!r}. Pass an int such as 100 with output_mode='int'."
            )
        if isinstance(ngrams, int) and not isinstance(ngrams, bool):
            ngram_sizes = tuple(range(1, ngrams + 1))
        elif ngrams is None:
            ngram_sizes = (1,)
        else:
            ngram_sizes = tuple(ngrams) if isinstance(ngrams, (tuple, list)) else ()
        if not ngram_sizes or not all(isinstance(n, int) and n >= 1 for n in ngram_sizes):
            raise ValueError(
                f"ngrams must be None, a positive int or a tuple of positive ints, received "
                f"ngrams={ngrams!r}. Pass ngrams=2 for unigrams and bigrams."
            )
        self.max_tokens = max_tokens
        self.standardize = standardize
        self.split = split
        self.ngrams = list(ngrams) if isinstance(ngrams, (tuple, list)) else ngrams
        self.output_mode = output_mode
        self.output_sequence_length = output_sequence_length
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self._standardize_fn = _resolve("standardize", standardize, _STANDARDIZERS)
        self._split_fn = _resolve("split", split, _SPLITTERS)
        self._ngram_sizes = ngram_sizes
        self._reserved = [PAD_TOKEN, OOV_TOKEN] if output_mode == "int" else [OOV_TOKEN]
        self._idf: Optional[np.ndarray] = None
        self._set_terms([])
        self._adapted = False
        self.built = True  # no weights: nothing depends on the input shape
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ------------------------------------------------------------------ vocabulary
    def _standardized(self, texts: List[str]) -> List[str]:
        fn = self._standardize_fn
        if fn is None:
            return texts
        if isinstance(self.standardize, str):
            joined = _SEP.join(texts)
            if joined.count(_SEP) == len(texts) - 1:  # no text holds the separator itself
                return fn(joined).split(_SEP) if texts else []
        return [fn(t) for t in texts]

    def _tokenize(self, texts: List[str]) -> Iterator[List[str]]:
        """Standardises and splits a batch of texts lazily, adding the n-grams."""
        texts = self._standardized(texts)
        split = self._split_fn
        if split is None:
            rows: Iterator[List[str]] = ([t] for t in texts)
        elif split is str.split:
            rows = map(str.split, texts)
        else:
            rows = (r if not r or isinstance(r[0], str) else [str(x) for x in r]
                    for r in map(list, map(split, texts)))
        return rows if self._ngram_sizes == (1,) else map(self._with_ngrams, rows)

    def _with_ngrams(self, tokens: List[str]) -> List[str]:
        out: List[str] = []
        for n in self._ngram_sizes:
            out += tokens if n == 1 else [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        return out

    def adapt(self, data: Any, batch_size: Optional[int] = None, steps: Optional[int] = None) -> None:
        """Learns the vocabulary from `data`, replacing any previous one.

        Args:
            data: a list, tuple or 1-D array (or (n, 1) array) of strings, or an iterable of
                string batches or `(texts, labels)` batches (a `text_dataset_from_directory`
                dataset, a DataLoader, a generator). No default.
            batch_size: accepted for Keras compatibility; the result does not depend on it.
                Defaults to `None`.
            steps: read at most this many batches of an iterable. Defaults to `None` (all).
        """
        texts = _texts_from_batches(data, steps, self.encoding)
        tf_idf = self.output_mode == "tf_idf"
        documents: Counter = Counter()
        with _gc_paused():
            if tf_idf:
                rows = list(self._tokenize(texts))
                counts = Counter(chain.from_iterable(rows))
                documents.update(chain.from_iterable(map(set, rows)))
            else:
                counts = Counter(chain.from_iterable(self._tokenize(texts)))
        for token in self._reserved:
            counts.pop(token, None)
        terms = order_by_count(counts)
        if self.max_tokens is not None:
            terms = terms[:self.max_tokens - len(self._reserved)]
        idf = None
        if tf_idf:
            learned = idf_from_counts(np.array([documents[t] for t in terms], dtype=np.int64), len(texts))
            mean = learned.mean(dtype=np.float32) if len(learned) else np.float32(0)
            idf = np.concatenate([np.full(len(self._reserved), mean, np.float32), learned])
        self._set_terms(terms, idf)

    def set_vocabulary(self, vocabulary: Sequence[str], idf_weights: Any = None) -> None:
        """Sets the vocabulary; it may start with the reserved tokens (`''`, `'[UNK]'`).

        Args:
            vocabulary: the tokens. No default.
            idf_weights: in `'tf_idf'` mode, one weight per entry of `vocabulary`. Defaults to `None`.

        Raises:
            ValueError: for duplicates, misplaced reserved tokens, more than `max_tokens`, or
                idf weights that are missing, unexpected or of the wrong length.
        """
        if (idf_weights is None) == (self.output_mode == "tf_idf"):
            raise ValueError(
                f"TextVectorization.set_vocabulary: idf_weights are needed exactly when output_mode='tf_idf'; "
                f"received idf_weights={'None' if idf_weights is None else '[...]'} with output_mode="
                f"{self.output_mode!r}. Pass one weight per token in 'tf_idf' mode, none otherwise."
            )
        terms = list(_as_texts(vocabulary, "vocabulary", self.encoding))
        found_reserved = terms[:len(self._reserved)] == self._reserved
        idf = None
        if idf_weights is not None:
            idf = np.asarray(idf_weights, dtype=np.float32)
            if idf.ndim != 1 or len(idf) != len(terms):
                raise ValueError(
                    f"TextVectorization: idf_weights must be 1-D with one weight per vocabulary entry "
                    f"({len(terms)}); received shape {idf.shape}. Pass one weight per token."
                )
            if not found_reserved:
                idf = np.concatenate([np.full(len(self._reserved), idf.mean(), np.float32), idf])
        if found_reserved:
            terms = terms[len(self._reserved):]
        misplaced = [t for t in self._reserved if t in terms]
        duplicates = sorted(t for t, c in Counter(terms).items() if c > 1)
        if misplaced or duplicates:
            raise ValueError(
                f"vocabulary must hold distinct tokens and the reserved tokens {self._reserved} "
                f"only at its start; received duplicates {duplicates[:5]} and misplaced reserved "
                f"tokens {misplaced}. Remove them, or start the list with {self._reserved}."
            )
        if self.max_tokens is not None and len(terms) + len(self._reserved) > self.max_tokens:
            raise ValueError(
                f"vocabulary has {len(terms) + len(self._reserved)} tokens with the reserved ones, "
                f"more than max_tokens={self.max_tokens}. Raise max_tokens or shorten the list."
            )
        self._set_terms(terms, idf)

    def _set_terms(self, terms: List[str], idf: Optional[np.ndarray] = None) -> None:
        self._vocab = self._reserved + terms
        self._lookup = {token: i for i, token in enumerate(self._vocab)}
        self._idf = idf
        self._adapted = True

    def get_vocabulary(self, include_special_tokens: bool = True) -> List[str]:
        """The tokens by id: `['', '[UNK]', most frequent, ...]` in `'int'` mode."""
        return list(self._vocab if include_special_tokens else self._vocab[len(self._reserved):])

    def vocabulary_size(self) -> int:
        """The number of ids, the reserved tokens included."""
        return len(self._vocab)

    # ------------------------------------------------------------------ calling
    def call(self, inputs: Any) -> torch.Tensor:
        if not self._adapted:
            raise ValueError(
                f"TextVectorization {self.name!r} has no vocabulary yet. Call "
                "layer.adapt(texts) first, or pass vocabulary=[...] to the constructor."
            )
        single = isinstance(inputs, (str, bytes))
        texts = _as_texts([inputs] if single else inputs, "inputs", self.encoding)
        with _gc_paused():
            rows = list(self._tokenize(texts))
            lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
            # One C-level pass over every token: dict.get with the OOV id as default.
            flat = list(chain.from_iterable(rows))
            ids = np.fromiter(map(self._lookup.get, flat, repeat(self._reserved.index(OOV_TOKEN))),
                              dtype=np.int64, count=len(flat))
        if self.output_mode == "int":
            out = self._pad(ids, lengths)
        elif self.output_mode == "one_hot":
            out = self._one_hot(ids, lengths, texts)
        else:
            out = self._bag(ids, lengths)
        return out[0] if single else out

    def _one_hot(self, ids: np.ndarray, lengths: np.ndarray, texts: List[str]) -> torch.Tensor:
        if len(lengths) and (lengths != 1).any():
            i = int(np.flatnonzero(lengths != 1)[0])
            raise ValueError(
                f"TextVectorization with output_mode='one_hot' needs exactly one token per text, but text {i} "
                f"({texts[i]!r}) gives {int(lengths[i])}. Pass split=None to treat each text as one token, or use "
                "output_mode='multi_hot' or 'count' for several."
            )
        out = np.zeros((len(lengths), len(self._vocab)), dtype=np.float32)
        out[np.arange(len(lengths)), ids] = 1.0
        return torch.from_numpy(out)

    def _pad(self, ids: np.ndarray, lengths: np.ndarray) -> torch.Tensor:
        length = self.output_sequence_length
        if length is None:
            length = int(lengths.max()) if len(lengths) else 0
        else:
            # Position of each id inside its text; ids past `length` are cut.
            starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
            ids = ids[np.arange(len(ids)) - starts < length]
            lengths = np.minimum(lengths, length)
        out = np.zeros((len(lengths), length), dtype=np.int64)
        out[np.arange(length) < lengths[:, None]] = ids
        return torch.from_numpy(out)

    def _bag(self, ids: np.ndarray, lengths: np.ndarray) -> torch.Tensor:
        size = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else len(self._vocab)
        rows = np.repeat(np.arange(len(lengths)), lengths)
        out = np.zeros((len(lengths), size), dtype=np.float32)
        if self.output_mode == "multi_hot":
            out[rows, ids] = 1.0
        else:
            np.add.at(out, (rows, ids), 1.0)
        if self.output_mode == "tf_idf":
            idf = np.zeros(size, dtype=np.float32)
            idf[:min(size, len(self._idf))] = self._idf[:size]  # padded slots past the vocabulary weigh 0
            out *= idf
        return torch.from_numpy(out)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        size = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else len(self._vocab)
        return (input_shape[0], size)

    # ------------------------------------------------------------------ config
    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(
            max_tokens=self.max_tokens,
            standardize=_callable_name(self.standardize) if callable(self.standardize) else self.standardize,
            split=_callable_name(self.split) if callable(self.split) else self.split,
            ngrams=self.ngrams,
            output_mode=self.output_mode,
            output_sequence_length=self.output_sequence_length,
            pad_to_max_tokens=self.pad_to_max_tokens,
            vocabulary=self.get_vocabulary(include_special_tokens=self._idf is not None) if self._adapted else None,
            idf_weights=None if self._idf is None else self._idf.tolist(),
            encoding=self.encoding,
        )
        return config

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, vocabulary_size={len(self._vocab)}, "
                f"output_mode={self.output_mode!r}")
