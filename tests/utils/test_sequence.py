"""pad_sequences (Keras's documented examples and errors) and to_categorical's examples."""

from __future__ import annotations

import numpy as np
import pytest

from kerasish.preprocessing.sequence import pad_sequences as from_preprocessing
from kerasish.utils import pad_sequences, to_categorical

SEQUENCE = [[1], [2, 3], [4, 5, 6]]


def test_keras_documented_examples():
    assert pad_sequences(SEQUENCE).tolist() == [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
    assert pad_sequences(SEQUENCE, value=-1).tolist() == [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
    assert pad_sequences(SEQUENCE, padding="post").tolist() == [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    assert pad_sequences(SEQUENCE, maxlen=2).tolist() == [[0, 1], [2, 3], [5, 6]]
    assert pad_sequences(SEQUENCE).dtype == np.int32


def test_truncating_post_keeps_the_start():
    assert pad_sequences(SEQUENCE, maxlen=2, truncating="post").tolist() == [[0, 1], [2, 3], [4, 5]]
    out = pad_sequences(SEQUENCE, maxlen=4, padding="post", truncating="post")
    assert out.tolist() == [[1, 0, 0, 0], [2, 3, 0, 0], [4, 5, 6, 0]]


def test_dtype_empty_sequences_and_maxlen_zero():
    out = pad_sequences([[0.5, 1.5], []], dtype="float32", value=-1.0)
    assert out.dtype == np.float32 and out.tolist() == [[0.5, 1.5], [-1.0, -1.0]]
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)
    assert pad_sequences([]).shape == (0, 0)


def test_item_shapes_and_strings():
    out = pad_sequences([np.ones((2, 3)), np.ones((1, 3))], dtype="float32")
    assert out.shape == (2, 2, 3) and out[1, 0].tolist() == [0, 0, 0]
    words = pad_sequences([["a"], ["b", "c"]], dtype=object, value="")
    assert words.tolist() == [["", "a"], ["b", "c"]]


def test_preprocessing_reexport_is_the_same_function():
    assert from_preprocessing is pad_sequences


@pytest.mark.parametrize("arg", ["padding", "truncating"])
def test_bad_side_names_the_argument_and_the_closest_value(arg):
    with pytest.raises(ValueError, match=f"{arg} must be 'pre' or 'post', received {arg}='pots'. Did you mean 'post'"):
        pad_sequences(SEQUENCE, **{arg: "pots"})


def test_bad_maxlen():
    with pytest.raises(ValueError, match=r"maxlen must be None or a non-negative int, received maxlen=-1"):
        pad_sequences(SEQUENCE, maxlen=-1)
    with pytest.raises(ValueError, match="received maxlen='3'"):
        pad_sequences(SEQUENCE, maxlen="3")


def test_non_sequences_are_rejected():
    with pytest.raises(ValueError, match="sequences must be a list of sequences, received a generator"):
        pad_sequences(s for s in SEQUENCE)
    with pytest.raises(ValueError, match="item 1 is 5 of type int. Wrap single values in a list"):
        pad_sequences([[1], 5])


def test_mixed_item_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"Item 1 of sequences holds values of shape \(2,\)"):
        pad_sequences([np.ones((2, 3)), np.ones((1, 2))], dtype="float32")


def test_string_value_needs_a_string_dtype():
    with pytest.raises(ValueError, match="value='x' is a string but dtype='int32' is not. Pass dtype=object"):
        pad_sequences(SEQUENCE, value="x")


def test_to_categorical_keras_examples():
    a = to_categorical([0, 1, 2, 3], num_classes=4)
    np.testing.assert_array_equal(a, np.eye(4, dtype="float32"))
    b = to_categorical(np.array([[1], [0]]), num_classes=3)
    assert b.shape == (2, 3) and b.tolist() == [[0, 1, 0], [1, 0, 0]]
    assert to_categorical([2, 0]).shape == (2, 3)
