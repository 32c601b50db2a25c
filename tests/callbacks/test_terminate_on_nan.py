import numpy as np
import pytest

from kerasish.callbacks import TerminateOnNaN
from tests.callbacks.conftest import tiny_data, tiny_model


def test_stops_at_first_non_finite_batch_loss(capsys):
    x, y = tiny_data(40)
    y[20:] = np.inf  # batch 2 has an infinite target (batches given as a list skip the array checks)
    batches = [(x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)]
    model = tiny_model()
    with pytest.warns(UserWarning, match=r"Epoch 1, batch 2: Invalid loss (nan|inf), terminating training"):
        history = model.fit(batches, epochs=3, verbose=0, callbacks=[TerminateOnNaN()])
    assert len(history.history["loss"]) == 1
    assert "Epoch 1, batch 2: Invalid loss" in capsys.readouterr().out


def test_finite_losses_do_not_stop():
    cb = TerminateOnNaN()
    model = tiny_model()
    cb.set_model(model)
    model.stop_training = False
    cb.on_epoch_begin(0)
    cb.on_train_batch_end(0, {"loss": 1.0})
    assert model.stop_training is False
    with pytest.warns(UserWarning, match=r"Epoch 1, batch 1: Invalid loss nan"):
        cb.on_train_batch_end(1, {"loss": float("nan")})
    assert model.stop_training is True
