"""Shared helpers for the saving tests: a tiny model, data and a live pickle payload."""

import pickle

import numpy as np
import pytest
import torch

from kerasish import Sequential
from kerasish.layers import Dense, Dropout
from kerasish.utils import set_random_seed


class Payload:
    """Unpickling this creates the file `path`: a stand-in for arbitrary code execution."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def payload_bytes(marker):
    return pickle.dumps(Payload(marker))


def make_model(units=4, metrics=("mae",)):
    model = Sequential([Dense(units, activation="relu", input_shape=(3,)), Dropout(0.1), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=list(metrics), device="cpu")
    return model


def make_data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-1.0], [0.5]], dtype="float32"))


@pytest.fixture(autouse=True)
def _seed():
    set_random_seed(0)
    torch.set_num_threads(1)
    yield
