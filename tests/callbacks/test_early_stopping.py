import json

import numpy as np
import pytest
import torch

from kerasish.callbacks import EarlyStopping
from tests.callbacks.conftest import drive, tiny_data, tiny_model


def test_patience_zero_stops_at_first_non_improvement():
    assert drive(EarlyStopping(), [1.0, 0.9, 0.95, 0.5]) == [0, 1, 2]


def test_patience_counts_epochs_without_improvement():
    cb = EarlyStopping(patience=2)
    assert drive(cb, [1.0, 0.9, 0.95, 0.96, 0.1]) == [0, 1, 2, 3]
    assert cb.stopped_epoch == 3
    assert cb.best == 0.9 and cb.best_epoch == 1


def test_improvement_resets_patience():
    assert drive(EarlyStopping(patience=2), [1.0, 1.1, 0.9, 1.2, 0.8, 1.3, 1.4]) == [0, 1, 2, 3, 4, 5, 6]


def test_min_delta_ignores_small_improvements():
    # 0.99 and 0.98 improve by less than 0.05, so they do not count.
    assert drive(EarlyStopping(patience=1, min_delta=0.05), [1.0, 0.99, 0.98, 0.5]) == [0, 1]
    assert drive(EarlyStopping(patience=1, min_delta=0.005), [1.0, 0.99, 0.98, 0.5]) == [0, 1, 2, 3]


def test_mode_max_for_accuracy():
    cb = EarlyStopping(monitor="val_accuracy", patience=1)
    assert drive(cb, [0.5, 0.6, 0.55, 0.7], monitor="val_accuracy") == [0, 1, 2]
    assert cb.best == 0.6


def test_baseline_must_be_beaten():
    # As in Keras 3: an improving epoch never stops training, but the wait only restarts
    # once the baseline is beaten, so a run that stalls short of it stops early.
    cb = EarlyStopping(patience=2, baseline=0.5)
    assert drive(cb, [0.9, 0.8, 0.7, 0.6, 0.4]) == [0, 1, 2, 3, 4]
    cb = EarlyStopping(patience=2, baseline=0.5)
    assert drive(cb, [0.9, 0.95, 0.97, 0.99]) == [0, 1]
    # Beating the baseline resets the wait.
    assert drive(EarlyStopping(patience=2, baseline=0.5), [0.4, 0.45, 0.3, 0.35, 0.36]) == [0, 1, 2, 3, 4]


def test_start_from_epoch_ignores_warm_up():
    assert drive(EarlyStopping(start_from_epoch=3), [1.0, 2.0, 3.0, 1.0, 0.9, 1.5, 1.0]) == [0, 1, 2, 3, 4, 5]


def test_missing_monitor_warns_and_keeps_training():
    cb = EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available\. Available metrics are: loss"):
        assert drive(cb, [1.0, 2.0, 3.0], monitor="loss") == [0, 1, 2]


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_restore_best_weights_after_stopping_early():
    model = tiny_model()
    cb = EarlyStopping(patience=1, restore_best_weights=True)
    snapshots = []
    cb.set_model(model)
    cb.on_train_begin({})
    for epoch, value in enumerate([1.0, 0.5, 0.7, 0.8]):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)  # "training" changes the weights every epoch
        snapshots.append(_weights(model))
        cb.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            break
    cb.on_train_end({})
    assert cb.stopped_epoch == 2
    assert all(torch.equal(v, snapshots[1][k]) for k, v in model.state_dict().items())


def test_restore_best_weights_without_stopping_early():
    model = tiny_model()
    cb = EarlyStopping(patience=5, restore_best_weights=True)
    cb.set_model(model)
    cb.on_train_begin({})
    snapshots = []
    for epoch, value in enumerate([1.0, 0.4, 0.6]):
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(2.0)
        snapshots.append(_weights(model))
        cb.on_epoch_end(epoch, {"val_loss": value})
    assert not model.stop_training
    cb.on_train_end({})
    assert all(torch.equal(v, snapshots[1][k]) for k, v in model.state_dict().items())


def test_verbose_prints_the_1_based_epoch(capsys):
    drive(EarlyStopping(patience=1, verbose=1, restore_best_weights=True), [1.0, 1.1, 1.2])
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 1." in out


def test_state_dict_is_json_and_round_trips():
    cb = EarlyStopping(patience=3)
    drive(cb, [1.0, 0.9, 1.0])
    state = cb.state_dict()
    assert json.loads(json.dumps(state)) == {"wait": 1, "stopped_epoch": 0, "best": 0.9, "best_epoch": 1}
    fresh = EarlyStopping(patience=3)
    fresh.load_state_dict(state)
    assert (fresh.wait, fresh.best, fresh.best_epoch) == (1, 0.9, 1)


@pytest.mark.parametrize("arg", ["patience", "start_from_epoch"])
def test_negative_counts_raise(arg):
    with pytest.raises(ValueError, match=rf"{arg} must be an integer >= 0, received {arg}=-1"):
        EarlyStopping(**{arg: -1})


def test_tutorial_line_runs_through_fit():
    # As in the Keras tutorial: EarlyStopping(monitor='val_loss', patience=2) with validation_split=0.2.
    x, y = tiny_data(40)
    y[32:] = -3 * y[32:]  # the validation targets (the last 20%) oppose the training ones
    model = tiny_model()
    early_stopping = EarlyStopping(monitor="val_loss", patience=2)
    history = model.fit(x, y, epochs=30, batch_size=8, validation_split=0.2, callbacks=[early_stopping], verbose=0)
    epochs_run = len(history.history["val_loss"])
    assert early_stopping.stopped_epoch == epochs_run - 1 > 0
    assert epochs_run < 30
    best = int(np.argmin(history.history["val_loss"]))
    assert epochs_run - 1 - best == 2  # stopped exactly `patience` epochs after the best
