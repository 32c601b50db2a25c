"""Preprocessing layers as a DataLoader's collate_fn (data-side augmentation, as Keras recommends on CPUs)."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import kerasish
from kerasish import layers
from kerasish.layers.preprocessing import collate_with

X = torch.rand(32, 8, 8, 3)
Y = torch.randint(0, 2, (32,))


@pytest.mark.parametrize("workers", [0, 2])
def test_a_loader_augments_each_batch_and_fit_trains_on_it(workers):
    augment = kerasish.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    loader = DataLoader(TensorDataset(X, Y), batch_size=8, num_workers=workers, collate_fn=collate_with(augment))
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(8, 8, 8, 3)] * 4
    assert torch.equal(torch.cat([b[1] for b in batches]), Y)
    assert not torch.allclose(torch.cat([b[0] for b in batches]), X)  # augmented
    model = kerasish.Sequential([layers.Input((8, 8, 3)), layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(loader, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_inference_collate_is_the_identity_for_augmentation_and_applies_rescaling():
    collate = collate_with(kerasish.Sequential([layers.Rescaling(1 / 255), layers.RandomFlip()]), training=False)
    x, y = collate([(X[0] * 255, 1), (X[1] * 255, 0)])
    torch.testing.assert_close(x, X[:2], atol=1e-6, rtol=0)
    assert y.tolist() == [1, 0]


def test_samples_without_labels_are_batched_and_transformed():
    out = collate_with(layers.Rescaling(2.0))([X[0], X[1]])
    torch.testing.assert_close(out, X[:2] * 2)


def test_a_non_callable_is_refused_with_an_example():
    with pytest.raises(TypeError, match=r"collate_with needs a layer or callable.*collate_with\(RandomFlip"):
        collate_with("flip")
