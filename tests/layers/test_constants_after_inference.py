"""Layers that cache a constant tensor per dtype and device (a scale, a kernel, a filterbank) must make
it as a normal tensor even when their first call runs inside `predict` (torch.inference_mode): an
inference tensor cannot be saved for backward, so the next `fit` failed with "Inference tensors
cannot be saved for backward"."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers


def _image_model(layer):
    return kerasish.Sequential([kerasish.Input((8, 8, 3)), layers.Conv2D(3, 3, padding="same"), layer,
                                layers.GlobalAveragePooling2D(), layers.Dense(1)])


CASES = {
    "Rescaling with a per-channel scale": lambda: kerasish.Sequential([
        kerasish.Input((4,)), layers.Dense(3), layers.Rescaling(scale=[1.0, 2.0, 3.0]), layers.Dense(1)]),
    "RandomSharpness": lambda: _image_model(layers.RandomSharpness(0.5, value_range=(-10, 10), seed=1)),
    "RandomPerspective": lambda: _image_model(layers.RandomPerspective(scale=0.5, seed=1)),
    "MelSpectrogram": lambda: kerasish.Sequential([
        kerasish.Input((256,)), layers.Dense(256), layers.MelSpectrogram(fft_length=64, sequence_stride=32,
                                                                         sequence_length=64, num_mel_bins=8),
        layers.Flatten(), layers.Dense(1)]),
}


@pytest.mark.parametrize("make", list(CASES.values()), ids=list(CASES))
def test_fit_after_a_first_call_in_inference_mode(make):
    model = make()
    model.compile(optimizer="sgd", loss="mse")
    shape = (4,) + tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    y = np.zeros((4, 1), "float32")
    with torch.inference_mode():  # a first call as predict makes it (training=True: the random layers act)
        model(torch.from_numpy(x), training=True)
    model.predict(x, verbose=0)
    history = model.fit(x, y, epochs=1, batch_size=2, verbose=0).history
    assert np.isfinite(history["loss"]).all()
