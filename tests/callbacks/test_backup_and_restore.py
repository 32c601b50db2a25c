import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from kerasish.callbacks import BackupAndRestore, Callback, EarlyStopping, LearningRateScheduler, ReduceLROnPlateau
from kerasish.layers import Dense, Dropout
from kerasish.models import Sequential
from kerasish.saving.weights import tensors_to_bytes
from kerasish.utils import set_random_seed
from tests.callbacks.conftest import tiny_data

CHILD = os.path.join(os.path.dirname(__file__), "backup_child.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Crash(Exception):
    pass


class CrashAt(Callback):
    """Raises at (epoch, batch), standing in for a crash in-process."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.target, self.epoch = (epoch, batch), -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.target:
            raise Crash()


def build():
    set_random_seed(0)
    model = Sequential([Dense(6, activation="relu", input_shape=(3,)), Dropout(0.25), Dense(1)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    return model


def callbacks(backup_dir, *extra):
    return [BackupAndRestore(str(backup_dir)), EarlyStopping(monitor="loss", patience=2, min_delta=0.3),
            ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=0.3), *extra]


def test_resume_in_process_matches_an_uninterrupted_run(tmp_path):
    x, y = tiny_data(32)
    reference = build()
    ref_history = reference.fit(x, y, epochs=6, batch_size=8, verbose=0, callbacks=callbacks(tmp_path / "ref"))

    model = build()
    with pytest.raises(Crash):
        model.fit(x, y, epochs=6, batch_size=8, verbose=0, callbacks=callbacks(tmp_path / "b", CrashAt(3, 1)))
    assert os.path.isfile(tmp_path / "b" / "training_backup.zip")
    model = build()  # a fresh process would rebuild the model from scratch
    history = model.fit(x, y, epochs=6, batch_size=8, verbose=0, callbacks=callbacks(tmp_path / "b"))

    assert history.epoch[0] == 3
    assert history.history["loss"] == ref_history.history["loss"][3:]
    assert model.optimizer.learning_rate == reference.optimizer.learning_rate
    for got, want in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(got, want)
    assert not os.path.exists(tmp_path / "b")  # deleted after the successful end


@pytest.mark.slow  # three subprocesses, each importing torch
def test_sigkill_mid_epoch_then_rerun_equals_uninterrupted_run_bitwise(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    subprocess.run([sys.executable, CHILD, str(tmp_path / "ref"), str(tmp_path / "ref.safetensors")],
                   check=True, env=env, cwd=ROOT, timeout=300)
    args = [sys.executable, CHILD, str(tmp_path / "b"), str(tmp_path / "out.safetensors"), "2", "1",
            str(tmp_path / "killed")]
    first = subprocess.run(args, env=env, cwd=ROOT, timeout=300)
    assert first.returncode == -9  # SIGKILL, mid-epoch 3 (0-based 2)
    assert not os.path.exists(tmp_path / "out.safetensors")
    subprocess.run(args, check=True, env=env, cwd=ROOT, timeout=300)

    with open(tmp_path / "ref.safetensors", "rb") as a, open(tmp_path / "out.safetensors", "rb") as b:
        assert a.read() == b.read()
    ref, out = (json.load(open(tmp_path / f"{n}.safetensors.json")) for n in ("ref", "out"))
    assert out["epoch"][0] == 2 and out["loss"] == ref["loss"][2:] and out["lr"] == ref["lr"]


def test_keeps_backup_when_delete_checkpoint_is_false(tmp_path):
    x, y = tiny_data()
    build().fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(str(tmp_path), delete_checkpoint=False)])
    with zipfile.ZipFile(tmp_path / "training_backup.zip") as zf:
        state = json.loads(zf.read("state.json"))
        assert set(zf.namelist()) == {"state.json", "model.safetensors", "extra.safetensors",
                                      "optimizer.safetensors", "optimizer.json"}
    assert state["next_epoch"] == 2
    # Running again resumes after the last epoch: nothing left to train.
    history = build().fit(x, y, epochs=2, verbose=0,
                          callbacks=[BackupAndRestore(str(tmp_path), delete_checkpoint=False)])
    assert history.epoch == []


def test_backup_holds_no_pickle(tmp_path):
    x, y = tiny_data()
    build().fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(str(tmp_path), delete_checkpoint=False),
                                                       EarlyStopping(monitor="loss", restore_best_weights=True)])
    with zipfile.ZipFile(tmp_path / "training_backup.zip") as zf:
        for name in zf.namelist():
            assert b"\x80\x04" not in zf.read(name)[:2], name
        callbacks_state = json.loads(zf.read("state.json"))["callbacks"]
    assert "1:EarlyStopping" in callbacks_state
    # EarlyStopping's best weights are tensors: stored as safetensors, referred to from the JSON.
    assert all(set(v) == {"__tensor__"} for v in callbacks_state["1:EarlyStopping"]["best_weights"].values())


def test_warns_when_an_epoch_begin_callback_comes_first(tmp_path):
    x, y = tiny_data()
    with pytest.warns(UserWarning, match=r"BackupAndRestore comes after LearningRateScheduler.*Put BackupAndRestore "
                                         r"first"):
        build().fit(x, y, epochs=1, verbose=0,
                    callbacks=[LearningRateScheduler(lambda e, lr: lr), BackupAndRestore(str(tmp_path))])


def test_unreadable_backup_raises(tmp_path):
    (tmp_path / "training_backup.zip").write_bytes(b"PK\x03\x04 truncated")
    x, y = tiny_data()
    with pytest.raises(ValueError, match=r"training_backup\.zip' is unreadable .* Delete it to start training"):
        build().fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(str(tmp_path))])


def test_foreign_file_raises(tmp_path):
    with zipfile.ZipFile(tmp_path / "training_backup.zip", "w") as zf:
        zf.writestr("state.json", json.dumps({"format": "other"}))
        zf.writestr("model.safetensors", tensors_to_bytes({}))
        zf.writestr("extra.safetensors", tensors_to_bytes({}))
    x, y = tiny_data()
    with pytest.raises(ValueError, match=r"is not a kerasish training backup \(format 'other'\)\. Point backup_dir"):
        build().fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(str(tmp_path))])


@pytest.mark.parametrize("kwargs, message", [
    ({"backup_dir": ""}, r"Empty `backup_dir` argument passed, received backup_dir=''"),
    ({"backup_dir": "d", "save_freq": 10}, r"save_freq must be 'epoch' or False, received save_freq=10"),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BackupAndRestore(**kwargs)


def test_ctrl_c_keeps_the_backup_and_the_next_fit_resumes(tmp_path):
    x, y = tiny_data(32)

    class CtrlC(CrashAt):
        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == self.target:
                raise KeyboardInterrupt

    model = build()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[BackupAndRestore(str(tmp_path)), CtrlC(2, 0)])
    assert os.path.isfile(tmp_path / "training_backup.zip")  # fit ran on_train_end, the backup stayed
    history = build().fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[BackupAndRestore(str(tmp_path))])
    assert history.epoch == [2, 3]
    assert not os.path.exists(tmp_path / "training_backup.zip")
