"""One small fit with BackupAndRestore, shared by the exact-resume and fault-injection tests.

    python tests/resume_child.py KIND BACKUP_DIR OUT.safetensors

KIND is the training data: 'arrays' (shuffled arrays), 'loader' (a DataLoader whose
RandomSampler has a seeded torch.Generator), 'loader_global' (a shuffling DataLoader
drawing from torch's global generator) or 'generator' (an endless Python generator
with its own NumPy generator). Every kind runs with `steps_per_epoch` shorter than
one pass of the data, so each epoch continues where the previous one stopped, and the
model has Dropout, so the random-number states matter too. The final weights go to
OUT.safetensors; the tests compare them, bit for bit, with an uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import torch

KINDS = ("arrays", "loader", "loader_global", "generator")
EPOCHS, STEPS, BATCH, SAMPLES = 6, 3, 4, 40  # 10 batches per pass, 3 per epoch: passes end mid-epoch


def data(kind: str):
    """The training data of `kind`, made the same way on every call (as a rerun would)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype="float32")).astype("float32")
    if kind == "arrays":
        return x, y
    if kind in ("loader", "loader_global"):
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        if kind == "loader_global":
            return torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True), None
        sampler = torch.utils.data.RandomSampler(dataset, generator=torch.Generator().manual_seed(7))
        return torch.utils.data.DataLoader(dataset, batch_size=BATCH, sampler=sampler), None
    if kind == "generator":
        def batches():
            draw = np.random.default_rng(1)
            while True:
                idx = draw.integers(0, SAMPLES, size=BATCH)
                yield x[idx], y[idx]
        return batches(), None
    raise ValueError(f"kind must be one of {KINDS}, received {kind!r}")


def fit(kind: str, backup_dir: str, extra_callbacks=(), batch_sleep: float = 0.0):
    """Builds the model from seed 0 and fits it with BackupAndRestore(backup_dir); returns it and the History."""
    from kerasish.callbacks import BackupAndRestore, LambdaCallback
    from kerasish.layers import Dense, Dropout, Input
    from kerasish.layers.layer import reset_names
    from kerasish.models import Sequential
    from kerasish.utils import set_random_seed

    set_random_seed(0)
    reset_names()
    model = Sequential([Input((4,)), Dense(8, activation="relu"), Dropout(0.3), Dense(1)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    x, y = data(kind)
    callbacks = [BackupAndRestore(backup_dir), *extra_callbacks]
    if batch_sleep:
        # Spreads a run over time, so a kill at a random moment lands anywhere in it.
        callbacks.append(LambdaCallback(on_train_batch_end=lambda batch, logs: time.sleep(batch_sleep)))
    kwargs = {} if y is None else {"batch_size": BATCH}
    history = model.fit(x, y, epochs=EPOCHS, steps_per_epoch=STEPS, verbose=0, callbacks=callbacks, **kwargs)
    return model, history


def run(kind: str, backup_dir: str, out: str, batch_sleep: float = 0.0) -> None:
    """A child process's whole job: fit, then save the weights and the epochs it ran."""
    torch.set_num_threads(1)
    model, history = fit(kind, backup_dir, (), batch_sleep)
    model.save_weights(out)
    with open(out + ".json", "w") as f:
        json.dump({"epochs": history.epoch}, f)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run(*sys.argv[1:4])
