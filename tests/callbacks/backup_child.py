"""A training script for the BackupAndRestore crash tests, run in a subprocess.

    python tests/callbacks/backup_child.py BACKUP_DIR OUT.safetensors [KILL_EPOCH KILL_BATCH MARKER]

Trains a tiny model with Dropout (so RNG state matters), ReduceLROnPlateau and
EarlyStopping (so callback state matters). With KILL_* it SIGKILLs itself once, at that
0-based epoch and batch, creating MARKER first so the next run goes through.
"""

import json
import os
import signal
import sys

import numpy as np
import torch

from kerasish import Sequential
from kerasish.callbacks import BackupAndRestore, Callback, EarlyStopping, ReduceLROnPlateau
from kerasish.layers import Dense, Dropout
from kerasish.utils import set_random_seed


class KillOnce(Callback):
    def __init__(self, epoch, batch, marker):
        super().__init__()
        self.target, self.marker, self.epoch = (epoch, batch), marker, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.target and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)


def main(argv):
    backup_dir, out = argv[0], argv[1]
    torch.set_num_threads(1)
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype="float32")).astype("float32")
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dropout(0.3), Dense(1)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    callbacks = [BackupAndRestore(backup_dir), ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=0.5),
                 EarlyStopping(monitor="loss", patience=3, min_delta=0.5)]
    if len(argv) > 2:
        callbacks.append(KillOnce(int(argv[2]), int(argv[3]), argv[4]))
    history = model.fit(x, y, epochs=6, batch_size=8, callbacks=callbacks, verbose=0)
    model.save_weights(out)
    with open(out + ".json", "w") as f:
        json.dump({"epoch": history.epoch, "loss": history.history["loss"],
                   "lr": float(model.optimizer.learning_rate)}, f)


if __name__ == "__main__":
    main(sys.argv[1:])
