"""Shared fixtures for the callback tests: a tiny compiled model and a hook driver."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pytest
import torch

from kerasish import Sequential
from kerasish.layers import Dense
from kerasish.utils import set_random_seed


def tiny_model(units: int = 4, optimizer: Any = "adam", metrics: Optional[list] = None) -> Sequential:
    model = Sequential([Dense(units, activation="relu", input_shape=(3,)), Dense(1)])
    model.compile(optimizer=optimizer, loss="mse", metrics=metrics, device="cpu")
    return model


def tiny_data(n: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) * 0.5).astype("float32")
    return x, y


def drive(callback: Any, values: Sequence[float], monitor: str = "val_loss", model: Any = None,
          extra: Optional[Dict[str, float]] = None) -> List[int]:
    """Runs on_train_begin, then on_epoch_end with scripted logs until stop_training; returns the epochs run."""
    model = model if model is not None else tiny_model()
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin({})
    ran = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch, {})
        logs = {monitor: value, **(extra or {})}
        callback.on_epoch_end(epoch, logs)
        ran.append(epoch)
        if model.stop_training:
            break
    callback.on_train_end({})
    return ran


@pytest.fixture(autouse=True)
def _seed():
    set_random_seed(0)
    torch.set_num_threads(1)
    yield


@pytest.fixture
def model():
    return tiny_model()


@pytest.fixture
def data():
    return tiny_data()
