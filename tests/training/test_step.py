"""The training step does not synchronise with the host per batch.

On the CPU there is no real sync to detect, so the test counts the calls that would
be one on CUDA (`.item()`, `.tolist()`, `.cpu()`, `.numpy()`, `bool(t)`, `float(t)`,
`int(t)`) during whole `fit` calls, and checks the count does not grow with the
number of batches.

Calls made from inside `torch.optim` are not counted: torch keeps non-capturable
optimizers' `step` counters on the CPU even when training on CUDA, so their
`.item()` reads host memory and is not a device sync (a hand-written loop pays it too).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from kerasish.layers import Dense
from kerasish.models import Sequential

SYNC_METHODS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")


@pytest.fixture
def sync_counter(monkeypatch):
    counts = {"n": 0}
    for name in SYNC_METHODS:
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, __original=original, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if "torch/optim/" not in caller.replace("\\", "/"):
                counts["n"] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    return counts


@pytest.mark.parametrize("metrics", [["accuracy"], ["accuracy", "precision", "recall"]])
def test_fit_host_syncs_do_not_grow_with_batches(sync_counter, metrics):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(640, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")

    def syncs(batch_size):
        model = Sequential([Dense(8, activation="relu", input_shape=(6,)), Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=metrics)
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)  # build + warm up
        before = sync_counter["n"]
        model.fit(x, y, epochs=2, batch_size=batch_size, validation_split=0.25, verbose=0)
        return sync_counter["n"] - before

    few, many = syncs(160), syncs(8)  # 3 vs 60 training batches per epoch
    assert many == few, f"host syncs grew with the number of batches: {few} -> {many}"
    assert few < 40


class KerasGuideStep(Sequential):
    """A train_step written as Keras's torch guide writes it (the metric results returned per step)."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        weights = self.trainable_weights
        self.optimizer.apply([v.grad for v in weights], weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_a_custom_train_step_adds_no_host_sync_per_batch(sync_counter):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(640, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")

    def syncs(batch_size):
        model = KerasGuideStep([Dense(8, activation="relu", input_shape=(6,)), Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
        before = sync_counter["n"]
        history = model.fit(x, y, epochs=2, batch_size=batch_size, validation_split=0.25, verbose=0)
        assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        return sync_counter["n"] - before

    few, many = syncs(160), syncs(8)
    assert many == few, f"host syncs grew with the number of batches: {few} -> {many}"


@pytest.mark.slow
def test_jit_compile_gives_the_same_losses_as_eager():
    import kerasish

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 20)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    losses = {}
    for jit in (False, True):
        kerasish.utils.set_random_seed(0)
        model = Sequential([Dense(32, activation="relu", input_shape=(20,)), Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        losses[jit] = model.fit(x, y, epochs=2, batch_size=64, verbose=0).history["loss"]
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd"])
def test_train_step_never_synchronises_on_cuda(optimizer):
    """With torch's sync debug mode set to 'error', any per-batch host sync in the step raises."""
    from kerasish.training import trainer

    rng = np.random.default_rng(0)
    x = rng.normal(size=(640, 32)).astype("float32")
    y = rng.integers(0, 10, 640)
    model = Sequential([Dense(64, activation="relu", input_shape=(32,)), Dense(10, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cuda")
    data = trainer.prepare(model, x, y, None, 64, True, None, need_y=True)
    model.ensure_optimizer()
    steps = trainer._make_steps(model, data.y_sample, train=True)
    batches = list(data.adapter)
    steps.train_step(*batches[0])  # warm-up: lazy optimizer state, cuBLAS handles
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for batch in batches[1:]:
            steps.train_step(*batch)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.cuda.synchronize()
    assert steps.loss_tracker.count.item() == 640


@pytest.mark.gpu
def test_predict_on_cuda_matches_cpu():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype("float32")
    model = Sequential([Dense(16, activation="relu", input_shape=(8,)), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device="cuda")
    on_gpu = model.predict(x, batch_size=64, verbose=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device="cpu")
    np.testing.assert_allclose(on_gpu, model.predict(x, batch_size=64, verbose=0), atol=1e-5)
