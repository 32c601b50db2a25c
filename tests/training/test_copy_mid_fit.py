"""A copy or pickle of a model taken from a callback during fit (a best-model snapshot) is a model at
rest: it does not carry the running fit's step state, so it compiles, trains and saves on its own."""

import copy
import io
import pickle

import numpy as np
import torch

import kerasish
from kerasish import layers


class Snapshot(kerasish.callbacks.Callback):
    def __init__(self, batch):
        super().__init__()
        self.batch = batch
        self.copy = self.pickled = self.saved = self.expected = None

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.batch:
            self.copy = copy.deepcopy(self.model)
            self.pickled = pickle.dumps(self.model)
            buf = io.BytesIO()
            torch.save(self.model, buf)
            self.saved = buf.getvalue()
            self.expected = self.model.predict(X[:4], verbose=0)


X = np.random.default_rng(0).random((32, 3)).astype("float32")
Y = np.random.default_rng(1).integers(0, 2, 32)


def test_a_copy_taken_mid_fit_is_a_model_at_rest():
    model = kerasish.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    snap = Snapshot(batch=1)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[snap])
    for twin in (snap.copy, pickle.loads(snap.pickled), torch.load(io.BytesIO(snap.saved), weights_only=False)):
        assert not [k for k in twin.__dict__ if k.startswith("_active_") or k == "_layer_metrics_cache"]
        np.testing.assert_allclose(twin.predict(X[:4], verbose=0), snap.expected, rtol=1e-6)
        twin.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")  # refused while a fit runs
        history = twin.fit(X, Y, batch_size=8, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    # The original's fit went on untouched by the copies.
    assert not [k for k in model.__dict__ if k.startswith("_active_")]
