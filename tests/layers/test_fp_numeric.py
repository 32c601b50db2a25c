"""Normalization, Discretization and CategoryEncoding against Keras 3 (torch backend), and adapt's inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kerasish.layers import CategoryEncoding, Discretization, Normalization
from kerasish.layers.preprocessing.base import iterate_batches
from tests.keras_parity import assert_close, keras_module


def _data(shape=(40, 4, 3), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * 3 + 2).astype("float32")


def _round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    again = type(layer).from_config(config)
    assert json.loads(json.dumps(again.get_config())) == config
    return again


# ---------------------------------------------------------------- Normalization
@pytest.mark.parametrize("axis", [-1, None, (1, 2), 1])
def test_normalization_adapt_matches_keras(axis):
    keras = keras_module()
    x = _data()
    theirs, ours = keras.layers.Normalization(axis=axis), Normalization(axis=axis)
    theirs.adapt(x)
    ours.adapt(x)
    assert_close(ours(x), theirs(x), atol=1e-6)
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-6)
    assert [w.dtype for w in ours.get_weights()] == [w.dtype for w in theirs.get_weights()]


def test_normalization_invert_and_given_statistics_match_keras():
    keras = keras_module()
    x = _data((10, 3))
    for kwargs in ({"mean": [1.0, 2.0, 3.0], "variance": [4.0, 5.0, 6.0]},
                   {"mean": 3.0, "variance": 2.0, "invert": True}, {"axis": None, "mean": 1.5, "variance": 0.25}):
        assert_close(Normalization(**kwargs)(x), keras.layers.Normalization(**kwargs)(x), atol=1e-6)
    theirs, ours = keras.layers.Normalization(invert=True), Normalization(invert=True)
    theirs.adapt(x)
    ours.adapt(x)
    assert_close(ours(x), theirs(x), atol=1e-5)


def test_given_statistics_and_boundaries_are_config_not_weights_as_in_keras():
    keras = keras_module()
    ours, theirs = Normalization(mean=[1.0, 2.0], variance=[3.0, 4.0]), keras.layers.Normalization(mean=[1.0, 2.0],
                                                                                                  variance=[3.0, 4.0])
    x = np.ones((2, 2), "float32")
    ours(x), theirs(x)
    assert ours.get_weights() == [] and len(theirs.get_weights()) == 0 and list(ours.state_dict()) == []
    assert Discretization(bin_boundaries=[0.0, 1.0]).get_weights() == []


def test_normalization_adapt_streams_batches_from_a_loader_a_generator_and_a_dataset():
    x = _data((50, 3))
    whole = Normalization()
    whole.adapt(x)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.zeros(50)),
                                         batch_size=7)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x))
    for data, kwargs in ((loader, {}), ((x[i:i + 9] for i in range(0, 50, 9)), {}), (dataset, {"batch_size": 8}),
                         (x, {"batch_size": 16})):
        layer = Normalization()
        layer.adapt(data, **kwargs)
        assert layer.is_adapted
        assert_close(layer.get_weights()[:2], whole.get_weights()[:2], atol=1e-5)


def test_adapt_steps_reads_only_that_many_batches():
    x = _data((30, 2))
    layer = Normalization()
    layer.adapt((x[i:i + 10] for i in range(0, 30, 10)), steps=1)
    assert_close(layer.get_weights()[0], x[:10].mean(axis=0), atol=1e-6)
    assert len(list(iterate_batches(x, batch_size=4, steps=3))) == 3


def test_normalization_config_round_trip_and_state_in_the_state_dict():
    layer = Normalization(axis=(1, 2), invert=True, name="norm")
    layer.adapt(_data((8, 2, 3)))
    assert set(layer.state_dict()) == {"mean", "variance", "count"}
    again = _round_trip(layer)
    assert again.axis == (1, 2) and again.invert
    given = _round_trip(Normalization(mean=[1.0, 2.0], variance=[3.0, 4.0]))
    assert_close(given(np.ones((1, 2), "float32")), [[0.0, -0.5]], atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"mean": 1.0}, "needs mean and variance together"),
    ({"mean": [1.0, 2.0], "variance": [1.0]}, "same shape"),
    ({"axis": None, "mean": [1.0, 2.0], "variance": [1.0, 2.0]}, "rank 1, more than the 0 kept axes"),
    ({"axis": "last"}, "expected None, an int or a tuple of ints"),
])
def test_normalization_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Normalization(**kwargs)


def test_normalization_adapt_errors():
    with pytest.raises(ValueError, match="has nothing to learn"):
        Normalization(mean=0.0, variance=1.0).adapt(np.zeros((2, 1)))
    layer = Normalization()
    layer.adapt(np.zeros((4, 3), "float32"))
    with pytest.raises(ValueError, match=r"received a batch of shape \(4, 2\)"):
        layer.adapt(np.zeros((4, 2), "float32"))
    with pytest.raises(ValueError, match="axis must lie in"):
        Normalization(axis=3).adapt(np.zeros((4, 2), "float32"))
    with pytest.raises(ValueError, match="data with no batches"):
        Normalization().adapt(iter([]))
    with pytest.raises(ValueError, match="batch_size=0"):
        Normalization().adapt(np.zeros((4, 2)), batch_size=0)
    with pytest.raises(TypeError, match="neither an array nor iterable"):
        Normalization().adapt(object())


# ---------------------------------------------------------------- Discretization
@pytest.mark.parametrize("n, num_bins, epsilon, batch_size", [
    (20, 4, 0.01, None), (1000, 5, 0.01, None), (3000, 10, 0.001, 256), (50, 3, 0.5, 7)])
def test_discretization_adapt_matches_keras_boundaries_exactly(n, num_bins, epsilon, batch_size):
    keras = keras_module()
    x = _data((n, 3), seed=n)
    theirs = keras.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    # Keras's adapt() needs TensorFlow for its type checks; its own state updates do not.
    theirs.reset_state()
    for start in range(0, n, batch_size or n):
        theirs.update_state(x[start:start + (batch_size or n)])
    theirs.finalize_state()
    ours = Discretization(num_bins=num_bins, epsilon=epsilon)
    ours.adapt(x, batch_size=batch_size)
    assert ours.bin_boundaries == theirs.bin_boundaries
    assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("output_mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_output_modes_match_keras(output_mode):
    keras = keras_module()
    x = _data((6, 3))
    for inputs in (x, x[:, :1], x[:, 0]):
        theirs = keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.5], output_mode=output_mode)(inputs)
        ours = Discretization(bin_boundaries=[0.0, 1.0, 2.5], output_mode=output_mode)(inputs)
        assert tuple(ours.shape) == tuple(theirs.shape) and str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        assert_close(ours, theirs)


def test_discretization_config_round_trip_keeps_learned_boundaries():
    layer = Discretization(num_bins=3)
    layer.adapt(np.arange(30, dtype="float32"))
    again = _round_trip(layer)
    assert again.bin_boundaries == layer.bin_boundaries and again.num_bins == 3
    assert again(np.array([0.0, 29.0], "float32")).tolist() == [0, 2]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs num_bins or bin_boundaries"),
    ({"num_bins": 3, "bin_boundaries": [0.0]}, "not both"),
    ({"num_bins": -1}, "num_bins must be an int >= 0"),
    ({"num_bins": 2, "epsilon": 0.0}, r"epsilon must lie in \(0, 1\]"),
    ({"num_bins": 2, "output_mode": "onehot"}, "Did you mean 'one_hot'"),
    ({"num_bins": 2, "sparse": True}, "sparse=True is not supported"),
])
def test_discretization_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Discretization(**kwargs)


def test_discretization_refuses_adapt_with_boundaries_and_calls_before_adapt():
    with pytest.raises(ValueError, match="was given bin_boundaries"):
        Discretization(bin_boundaries=[1.0]).adapt(np.zeros(3))
    with pytest.raises(ValueError, match="has no bin boundaries yet"):
        Discretization(num_bins=2)(np.zeros(3, "float32"))


# ---------------------------------------------------------------- CategoryEncoding
@pytest.mark.parametrize("output_mode", ["one_hot", "multi_hot", "count"])
def test_category_encoding_matches_keras(output_mode):
    keras = keras_module()
    x = np.array([[0, 1, 3], [2, 2, 2], [3, 0, 1]])
    for inputs in (x, x[:, :1], x[:, 0], np.array(2)):
        theirs = keras.layers.CategoryEncoding(4, output_mode=output_mode)(inputs)
        ours = CategoryEncoding(4, output_mode=output_mode)(inputs)
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert_close(ours, theirs)
    weights = np.array([[0.5, 1.0, 2.0], [1.0, 1.0, 1.0], [3.0, 3.0, 3.0]], "float32")
    if output_mode == "count":
        assert_close(CategoryEncoding(4, output_mode="count")(x, count_weights=weights),
                     keras.layers.CategoryEncoding(4, output_mode="count")(x, count_weights=weights))


def test_category_encoding_config_and_errors():
    layer = _round_trip(CategoryEncoding(num_tokens=5, output_mode="count"))
    assert layer.num_tokens == 5 and layer.compute_output_shape((None, 3)) == (None, 5)
    with pytest.raises(ValueError, match="needs num_tokens"):
        CategoryEncoding()
    with pytest.raises(ValueError, match="num_tokens must be an int >= 1"):
        CategoryEncoding(0)
    with pytest.raises(ValueError, match="expected one of 'one_hot', 'multi_hot', 'count'"):
        CategoryEncoding(3, output_mode="int")
    with pytest.raises(ValueError, match="only used with output_mode='count'"):
        CategoryEncoding(3)(np.array([[1]]), count_weights=np.array([[1.0]]))
    with pytest.raises(ValueError, match="must have the shape of inputs"):
        CategoryEncoding(3, output_mode="count")(np.array([[1, 2]]), count_weights=np.array([[1.0]]))
