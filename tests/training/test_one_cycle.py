"""fit_one_cycle: fit with a OneCycle callback over every step of the call."""

import numpy as np
import pytest

from kerasish.callbacks import Callback, OneCycle
from kerasish.layers import Dense
from kerasish.models import Sequential
from kerasish.optimizers import SGD
from kerasish.training.one_cycle import fit_one_cycle


def model_and_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True).astype("float32")
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)])
    model.compile(optimizer=SGD(0.05, momentum=0.9), loss="mse", device="cpu")
    return model, x, y


class Rates(Callback):
    def __init__(self):
        super().__init__()
        self.lrs = []

    def on_train_batch_end(self, batch, logs=None):
        self.lrs.append(self.model.optimizer.torch_optimizer.param_groups[0]["lr"])  # the exact rate


def test_the_cycle_spans_every_step_of_the_call_and_keeps_the_users_callbacks():
    model, x, y = model_and_data()
    rates = Rates()
    history = fit_one_cycle(model, x, y, max_lr=0.1, epochs=3, batch_size=8, verbose=0, callbacks=[rates],
                            pct_start=0.5)
    reference = OneCycle(max_lr=0.1, pct_start=0.5)
    np.testing.assert_allclose(rates.lrs, [reference.learning_rate_at(s, 18) for s in range(18)], rtol=1e-12)
    assert max(rates.lrs) == pytest.approx(0.1) and rates.lrs[-1] == pytest.approx(0.1 / 25 / 1e4)
    assert len(history.history["learning_rate"]) == 3 and len(history.history["loss"]) == 3


def test_max_lr_defaults_to_the_optimizers_rate():
    model, x, y = model_and_data()
    rates = Rates()
    fit_one_cycle(model, x, y, epochs=1, batch_size=8, verbose=0, callbacks=[rates], pct_start=0.5)
    assert max(rates.lrs) == pytest.approx(0.05)


def test_a_bad_argument_raises_before_training():
    model, x, y = model_and_data()
    with pytest.raises(ValueError, match="OneCycle: pct_start must be"):
        fit_one_cycle(model, x, y, max_lr=0.1, pct_start=2.0, verbose=0)
    assert model.optimizer.iterations == 0
