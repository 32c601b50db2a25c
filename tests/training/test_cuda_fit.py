"""A whole `fit` / `evaluate` / `predict` on CUDA under `torch.cuda.set_sync_debug_mode("error")`.

torch raises on any synchronising CUDA call it detects while the mode is "error" (it calls the mode a
prototype: `predict`'s final `torch.cuda.synchronize` is not reported). kerasish's intended reads
(the epoch logs, a progress-bar refresh, the first batch's label check, a compiled graph's first
call) are labelled (`kerasish.utils.host_sync.labelled_sync`) and exempt; anything else, in the
per-batch path or around it, raises here. Where a test counts the labelled reads, their number must
not grow with the number of batches (mixed_float16: one more per step, its loss-scaling decision). Needs a GPU (marked `gpu`, skipped without one); CPU tests of the labelling
itself are in tests/utils/test_host_sync.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from kerasish.utils import host_sync

pytestmark = pytest.mark.gpu


def _data(n, kind="flat"):
    rng = np.random.default_rng(0)
    if kind == "image":
        return rng.normal(size=(n, 16, 16, 3)).astype("float32"), rng.integers(0, 10, n)
    return rng.normal(size=(n, 32)).astype("float32"), rng.integers(0, 10, n)


def _mlp(**compile_kwargs):
    model = kerasish.Sequential([kerasish.Input((32,)), layers.Dense(64, activation="relu"),
                                 layers.Dropout(0.2), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  device="cuda", **compile_kwargs)
    return model


def _under_error_mode(fn):
    """Runs fn with sync debug mode 'error'; returns how many labelled reads it made."""
    torch.cuda.synchronize()
    before = host_sync.labelled_count()
    torch.cuda.set_sync_debug_mode("error")
    try:
        fn()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return host_sync.labelled_count() - before


def _labelled_reads_per_size(make_fit):
    """Labelled reads of the same fit on 10 and on 40 batches per epoch (both under 'error' mode)."""
    return [_under_error_mode(make_fit(n)) for n in (320, 1280)]


def test_a_whole_fit_with_validation_and_metrics_never_syncs_unlabelled():
    def make(n):
        x, y = _data(n)
        model = _mlp()
        return lambda: model.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, verbose=0)

    few, many = _labelled_reads_per_size(make)
    assert few == many, f"labelled reads grew with the batches: {few} -> {many}"


def test_a_custom_train_step_fit_never_syncs_unlabelled():
    class CustomModel(kerasish.Model):
        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            self.zero_grad()
            loss.backward()
            trainable = list(self.trainable_weights)
            with torch.no_grad():
                self.optimizer.apply([v.value.grad for v in trainable], trainable)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    def make(n):
        x, y = _data(n)
        inputs = kerasish.Input((32,))
        model = CustomModel(inputs, layers.Dense(10, activation="softmax")(layers.Dense(64, activation="relu")(inputs)))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cuda")
        return lambda: model.fit(x, y, batch_size=32, epochs=2, verbose=0)

    few, many = _labelled_reads_per_size(make)
    assert few == many


def test_a_compiled_step_fit_never_syncs_unlabelled():
    x, y = _data(1280)
    model = _mlp(jit_compile=True)
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # compiles outside the check
    _under_error_mode(lambda: model.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, verbose=0))
    assert not model.__dict__.get("_jit_compile_failures"), "the compiled step fell back to eager"
    assert model.compile_time_s > 0


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_fit_never_syncs_unlabelled(policy):
    def make(n):
        x, y = _data(n)
        kerasish.mixed_precision.set_global_policy(policy)
        try:
            model = _mlp()
        finally:
            kerasish.mixed_precision.set_global_policy("float32")

        def run():
            kerasish.mixed_precision.set_global_policy(policy)
            try:
                model.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, verbose=0)
            finally:
                kerasish.mixed_precision.set_global_policy("float32")
        return run

    few, many = _labelled_reads_per_size(make)
    if policy == "mixed_bfloat16":
        assert few == many
    else:  # loss scaling reads its overflow flag once per step (labelled): 30 more steps in 2 epochs
        assert many - few == 2 * (30 - 8)


def test_a_convnet_with_batch_norm_and_dropout_never_syncs_unlabelled():
    x, y = _data(640, "image")
    model = kerasish.Sequential([kerasish.Input((16, 16, 3)), layers.Conv2D(16, 3, activation="relu"),
                                 layers.BatchNormalization(), layers.MaxPooling2D(), layers.Flatten(),
                                 layers.Dropout(0.3), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cuda")
    _under_error_mode(lambda: model.fit(x, y, batch_size=32, epochs=2, validation_split=0.25, verbose=0))


def test_evaluate_and_predict_never_sync_unlabelled():
    x, y = _data(640)
    model = _mlp()
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)
    out = {}
    _under_error_mode(lambda: out.update(results=model.evaluate(x, y, batch_size=32, verbose=0),
                                         predictions=model.predict(x, batch_size=32, verbose=0)))
    assert out["predictions"].shape == (640, 10) and len(out["results"]) == 2


def test_a_fit_on_a_dataloader_never_syncs_unlabelled():
    from torch.utils.data import DataLoader, TensorDataset

    def make(n):
        x, y = _data(n)
        loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=32, pin_memory=True)
        model = _mlp()
        return lambda: model.fit(loader, epochs=2, verbose=0)

    few, many = _labelled_reads_per_size(make)
    assert few == many  # its labels are checked per batch on the host, before the copy: no device read


@pytest.mark.parametrize("return_sequences", [False, True])
def test_a_masked_lstm_syncs_only_where_labelled(return_sequences):
    """Packing reads the sequence lengths on the host once per call (labelled); nothing else syncs."""
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, (320, 12))
    ids[:, 8:] = 0  # padding, masked by mask_zero
    y = rng.integers(0, 2, 320).astype("float32")
    head = [layers.GlobalAveragePooling1D()] if return_sequences else []
    model = kerasish.Sequential([kerasish.Input((12,), dtype="int64"), layers.Embedding(50, 8, mask_zero=True),
                                 layers.LSTM(8, return_sequences=return_sequences), *head,
                                 layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", device="cuda")
    reads = _under_error_mode(lambda: model.fit(ids, y, batch_size=32, epochs=1, verbose=0))
    assert reads >= 10  # one per batch, from the packing
