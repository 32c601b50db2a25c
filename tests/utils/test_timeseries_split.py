import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import kerasish
from kerasish import layers
from kerasish.utils import split_dataset, timeseries_dataset_from_array
from tests.keras_parity import keras_module

# Keras's timeseries_dataset_from_array needs TensorFlow (format="tf") or grain, neither
# installed, so the oracle here is its documented definition, written out with NumPy:
# window i reads data[start + p_i + k * sampling_rate] for k < sequence_length, its
# target is targets[start + p_i], and p = arange(0, num_windows, sequence_stride).


def _reference(data, targets, length, stride=1, rate=1, start=None, end=None):
    start = start or 0
    end = len(data) if end is None else end
    count = end - start - (length - 1) * rate
    if targets is not None:
        count = min(count, len(targets))
    positions = np.arange(0, count, stride)
    windows = np.stack([data[start + p + np.arange(length) * rate] for p in positions])
    return positions, windows, None if targets is None else targets[start + positions]


def _collect(ds):
    batches = list(ds)
    if isinstance(batches[0], tuple):
        return torch.cat([x for x, _ in batches]).numpy(), torch.cat([y for _, y in batches]).numpy()
    return torch.cat(batches).numpy(), None


@pytest.mark.parametrize("kwargs", [
    dict(length=5),
    dict(length=4, stride=3),
    dict(length=3, rate=2),
    dict(length=4, stride=2, rate=3, start=5, end=40),
    dict(length=6, start=10),
])
@pytest.mark.parametrize("with_targets", [True, False])
def test_windows_and_targets_follow_the_definition(kwargs, with_targets):
    data = np.arange(50 * 2, dtype="float32").reshape(50, 2)
    targets = np.arange(50, dtype="int64") * 10 if with_targets else None
    ds = timeseries_dataset_from_array(
        data, targets, sequence_length=kwargs["length"], sequence_stride=kwargs.get("stride", 1),
        sampling_rate=kwargs.get("rate", 1), batch_size=7, start_index=kwargs.get("start"),
        end_index=kwargs.get("end"))
    positions, windows, expected_targets = _reference(data, targets, **kwargs)
    x, y = _collect(ds)
    np.testing.assert_array_equal(x, windows)
    assert x.dtype == np.float32 and len(ds) == -(-len(positions) // 7)
    if with_targets:
        np.testing.assert_array_equal(y, expected_targets)
        assert y.dtype == np.int64


def test_keras_docstring_examples():
    # "Consider indices [0, 1, ... 98]. With sequence_length=10, sampling_rate=2, sequence_stride=3,
    # shuffle=False, the dataset will yield batches of sequences composed of [0, 2, 4, 6, 8, 10, 12, 14, 16, 18],
    # [3, 5, 7, ...], [6, 8, 10, ...], ... [81, 83, ..., 99]?" - the last full window starts at 81.
    ds = timeseries_dataset_from_array(np.arange(100), None, sequence_length=10, sampling_rate=2, sequence_stride=3)
    x, _ = _collect(ds)
    assert x[0].tolist() == list(range(0, 20, 2)) and x[1].tolist() == list(range(3, 23, 2))
    assert x[-1].tolist() == list(range(81, 100, 2))
    # Predicting the next step: input data[:-10], targets data[10:].
    data = np.arange(100)
    ds = timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10, batch_size=256)
    inputs, targets = next(iter(ds))
    assert inputs[0].tolist() == list(range(10)) and int(targets[0]) == 10
    assert len(inputs) == 81


def test_shuffle_uses_kerass_start_order_and_keeps_windows_with_targets():
    data = np.arange(30, dtype="float32")[:, None]
    targets = np.arange(30)
    ds = timeseries_dataset_from_array(data, targets, sequence_length=4, shuffle=True, seed=3, batch_size=5)
    positions = np.arange(0, 27)
    np.random.RandomState(3).shuffle(positions)  # Keras shuffles its start positions this way
    x, y = _collect(ds)
    np.testing.assert_array_equal(y, positions)
    np.testing.assert_array_equal(x[:, 0, 0], positions)
    x2, y2 = _collect(ds)
    assert sorted(y2.tolist()) == list(range(27)) and not np.array_equal(y2, y)  # a new order next pass
    np.testing.assert_array_equal(x2[:, :, 0], y2[:, None] + np.arange(4))


def test_single_windows_when_batch_size_is_none():
    ds = timeseries_dataset_from_array(np.arange(10), np.arange(10), sequence_length=3, batch_size=None)
    x, y = next(iter(ds))
    assert x.tolist() == [0, 1, 2] and int(y) == 0 and len(ds) == 8


def test_fit_takes_a_timeseries_dataset():
    series = np.sin(np.arange(200) / 5.0).astype("float32")[:, None]
    ds = timeseries_dataset_from_array(series[:-5], series[5:, 0], sequence_length=5, batch_size=32)
    model = kerasish.Sequential([layers.Input(shape=(5, 1)), layers.Flatten(), layers.Dense(1)])
    model.compile(optimizer=kerasish.optimizers.Adam(0.05), loss="mse")
    history = model.fit(ds, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(start_index=-1), r"start_index must be 0 or greater\. Received: start_index=-1"),
    (dict(start_index=20), r"start_index must be lower than the length of data \(20\)"),
    (dict(start_index=5, end_index=3), r"end_index must be higher than start_index"),
    (dict(end_index=20), r"end_index must be lower than the length of data \(20\); leave it None"),
    (dict(sampling_rate=0), r"sampling_rate must be a positive integer\. Received: sampling_rate=0"),
    (dict(sampling_rate=20), r"sampling_rate must be lower than the length of data \(20\)"),
    (dict(sequence_stride=25), r"sequence_stride must be lower than the length of data \(20\)"),
    (dict(sequence_length=0), r"sequence_length must be a positive integer\. Received: sequence_length=0"),
    (dict(batch_size=0), r"batch_size must be a positive integer\. Received: batch_size=0"),
])
def test_timeseries_bad_arguments_are_explained(kwargs, message):
    args = dict(sequence_length=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        timeseries_dataset_from_array(np.arange(20), None, **args)


# ----------------------------------------------------------------- split_dataset
@pytest.mark.parametrize("sizes", [dict(left_size=0.8), dict(right_size=3), dict(left_size=5, right_size=0.75)])
def test_shuffled_split_matches_keras(sizes):
    keras = keras_module()
    x = np.arange(40, dtype="float32").reshape(20, 2)
    y = np.arange(20)
    ours = split_dataset((x, y), shuffle=True, seed=7, **sizes)
    theirs = keras.utils.split_dataset((x, y), shuffle=True, seed=7, **sizes)
    for a, b in zip(ours, theirs):
        assert len(a) == len(b)
        assert list(a.indices) == list(b.indices)
        for i in range(len(a)):
            assert all(torch.equal(p, q) for p, q in zip(a[i], b[i]))


def test_unshuffled_split_keeps_the_order():
    # Keras's torch backend shuffles even with shuffle=False (random_split with torch's global
    # generator); its documentation and TensorFlow path keep the order, which kerasish follows.
    left, right = split_dataset(np.arange(10.0), left_size=0.7)
    assert [float(left[i][0]) for i in range(len(left))] == list(range(7))
    assert [float(right[i][0]) for i in range(len(right))] == [7.0, 8.0, 9.0]


def test_split_sizes_and_inputs_match_keras():
    keras = keras_module()
    data = np.zeros((10, 3), dtype="float32")
    for kwargs in (dict(left_size=0.26), dict(right_size=0.35), dict(left_size=0.65)):
        ours = split_dataset(data, shuffle=True, seed=0, **kwargs)
        theirs = keras.utils.split_dataset(data, shuffle=True, seed=0, **kwargs)
        assert (len(ours[0]), len(ours[1])) == (len(theirs[0]), len(theirs[1]))
    left, right = split_dataset(TensorDataset(torch.arange(6)), right_size=2, shuffle=True, seed=1)
    assert sorted([int(left[i][0]) for i in range(4)] + [int(right[i][0]) for i in range(2)]) == list(range(6))
    # Sizes that leave samples out: Keras's torch backend fails in random_split, kerasish drops them.
    with pytest.raises(ValueError):
        keras.utils.split_dataset(data, left_size=3, right_size=5, shuffle=True, seed=0)
    left, right = split_dataset(data, left_size=3, right_size=5, shuffle=True, seed=0)
    assert (len(left), len(right)) == (3, 5) and set(left.indices).isdisjoint(right.indices)
    listed, _ = split_dataset([np.arange(4), np.arange(4) * 2], left_size=2)
    assert [(int(a), int(b)) for a, b in listed] == [(0, 0), (1, 2)]


def test_split_feeds_fit():
    x = np.random.RandomState(0).rand(40, 3).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    train, test = split_dataset((x, y), left_size=0.75, shuffle=True, seed=0)
    model = kerasish.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(train, batch_size=10, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(model.evaluate(test, verbose=0))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(), ValueError, r"pass left_size or right_size \(or both\)"),
    (dict(left_size="half"), TypeError, r"left_size must be an int .*Received: left_size='half' of type str"),
    (dict(left_size=10), ValueError, r"left_size must be a positive int smaller than the dataset's length 10"),
    (dict(right_size=1.0), ValueError, r"right_size must be a positive int .*or a float in \(0, 1\)"),
    (dict(left_size=0.6, right_size=0.6), ValueError, r"left_size \+ right_size is more than 1"),
    (dict(left_size=6, right_size=6), ValueError, r"left_size \+ right_size = 12 samples, more than the dataset's 10"),
    (dict(left_size=0.01), ValueError, r"leave the left side empty"),
])
def test_split_bad_sizes_are_explained(kwargs, error, message):
    with pytest.raises(error, match=message):
        split_dataset(np.arange(10.0), **kwargs)


def test_split_bad_datasets_are_explained():
    with pytest.raises(TypeError, match=r"dataset must be a torch.utils.data.Dataset.*Received: dataset of type dict"):
        split_dataset({"x": np.arange(4)}, left_size=2)
    with pytest.raises(ValueError, match=r"the arrays have different lengths \[4, 3\]"):
        split_dataset((np.arange(4), np.arange(3)), left_size=2)
    with pytest.raises(TypeError, match=r"array 0 has dtype <U1, which torch cannot hold"):
        split_dataset(np.array(list("abcd")), left_size=2)
