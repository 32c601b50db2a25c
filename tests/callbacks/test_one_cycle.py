"""OneCycle: torch's OneCycleLR numbers step for step, set per batch with no host sync, resumable."""

import json
import os

import numpy as np
import pytest
import torch

from kerasish.callbacks import BackupAndRestore, Callback, OneCycle
from kerasish.layers import Dense
from kerasish.models import Sequential
from kerasish.optimizers import SGD, Adagrad, Adam, TorchOptimizer
from kerasish.optimizers.schedules import CosineDecay
from kerasish.utils import set_random_seed
from tests.callbacks.conftest import tiny_data, tiny_model
from tests.training.test_step import sync_counter  # noqa: F401 - the fixture


class Recorder(Callback):
    """Reads the rate and momentum the optimizer will use for each batch."""

    def __init__(self):
        super().__init__()
        self.lrs, self.momenta = [], []

    def on_train_batch_begin(self, batch, logs=None):
        group = self.model.optimizer.torch_optimizer.param_groups[0]
        self.lrs.append(group["lr"])  # the exact rate (optimizer.learning_rate is a float32 view of it)
        key = next(k for k in ("betas", "beta_1", "momentum") if k in group)
        self.momenta.append(group[key][0] if key == "betas" else group[key])


def torch_one_cycle(total, momentum_key="momentum", **kwargs):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = (torch.optim.SGD([param], lr=0.1, momentum=0.9) if momentum_key == "momentum"
           else torch.optim.Adam([param], lr=0.1))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, total_steps=total, **kwargs)
    lrs, momenta = [], []
    for step in range(total):
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        momenta.append(group["betas"][0] if momentum_key == "betas" else group["momentum"])
        opt.step()
        if step < total - 1:
            sched.step()
    return lrs, momenta


@pytest.mark.parametrize("anneal,pct_start,total", [("cos", 0.25, 40), ("linear", 0.3, 17), ("cos", 0.5, 7)])
def test_values_equal_torch_one_cycle_lr_at_every_step(anneal, pct_start, total):
    kwargs = dict(max_lr=0.3, pct_start=pct_start, div_factor=10.0, final_div_factor=100.0, base_momentum=0.8,
                  max_momentum=0.9)
    want_lrs, want_momenta = torch_one_cycle(total, anneal_strategy=anneal, **kwargs)
    one_cycle = OneCycle(anneal=anneal, **kwargs)
    got_lrs = [one_cycle.learning_rate_at(s, total) for s in range(total)]
    got_momenta = [one_cycle.momentum_at(s, total) for s in range(total)]
    np.testing.assert_allclose(got_lrs, want_lrs, rtol=1e-12)
    np.testing.assert_allclose(got_momenta, want_momenta, rtol=1e-12)


def test_known_points_of_the_default_cycle():
    one_cycle = OneCycle(max_lr=0.01)
    assert one_cycle.learning_rate_at(0, 100) == pytest.approx(0.01 / 25)
    assert one_cycle.learning_rate_at(24, 100) == 0.01  # the peak ends the warm-up (25% of 100 steps)
    assert one_cycle.momentum_at(24, 100) == pytest.approx(0.85)
    assert one_cycle.learning_rate_at(99, 100) == pytest.approx(0.01 / 25 / 1e4)
    assert one_cycle.momentum_at(0, 100) == pytest.approx(0.95)
    assert one_cycle.momentum_at(99, 100) == pytest.approx(0.95)
    # Halfway through the annealing phase the cosine is at the middle of its range.
    middle = 24 + (99 - 24) / 2
    assert one_cycle.learning_rate_at(middle, 100) == pytest.approx((0.01 + 0.01 / 25 / 1e4) / 2)


@pytest.mark.parametrize("optimizer,key", [
    (lambda: SGD(0.1, momentum=0.9), "momentum"),
    (lambda: Adam(), "betas"),  # Keras's rule keeps beta_1 in the param group
    (lambda: TorchOptimizer(torch.optim.Adam, lr=1e-3), "betas"),  # torch's keeps (beta_1, beta_2)
])
def test_fit_sets_rate_and_momentum_before_every_batch(optimizer, key):
    x, y = tiny_data(40)
    model = tiny_model(optimizer=optimizer())
    recorder = Recorder()
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0,
                        callbacks=[OneCycle(max_lr=0.05), recorder])
    want_lrs, want_momenta = torch_one_cycle(10, key, max_lr=0.05, pct_start=0.25, div_factor=25.0,
                                             final_div_factor=1e4)
    np.testing.assert_allclose(recorder.lrs, want_lrs, rtol=1e-12)
    np.testing.assert_allclose(recorder.momenta, want_momenta, rtol=1e-12)
    assert history.history["learning_rate"] == [pytest.approx(want_lrs[4]), pytest.approx(want_lrs[9])]
    assert model.optimizer.iterations == 10


def test_no_host_sync_per_step(sync_counter):  # noqa: F811
    x, y = tiny_data(240)

    def syncs(batch_size):
        model = tiny_model(optimizer=SGD(0.1, momentum=0.9))
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)  # build and warm up
        before = sync_counter["n"]
        model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0, callbacks=[OneCycle(max_lr=0.05)])
        return sync_counter["n"] - before

    few, many = syncs(120), syncs(4)  # 2 vs 60 batches per epoch
    assert many == few, f"host syncs grew with the number of batches: {few} -> {many}"


class Crash(Exception):
    pass


class CrashAt(Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.target, self.epoch = (epoch, batch), -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.target:
            raise Crash()


def test_resumed_run_equals_uninterrupted_run_bitwise(tmp_path):
    x, y = tiny_data(32)

    def build():
        set_random_seed(0)
        model = Sequential([Dense(6, activation="relu", input_shape=(3,)), Dense(1)])
        model.compile(optimizer=SGD(0.1, momentum=0.9), loss="mse", device="cpu")
        return model

    reference = build()
    ref = reference.fit(x, y, epochs=5, batch_size=8, verbose=0,
                        callbacks=[BackupAndRestore(str(tmp_path / "ref")), OneCycle(max_lr=0.1)])
    model = build()
    with pytest.raises(Crash):
        model.fit(x, y, epochs=5, batch_size=8, verbose=0,
                  callbacks=[BackupAndRestore(str(tmp_path / "b")), OneCycle(max_lr=0.1), CrashAt(3, 1)])
    model = build()  # as a fresh process would
    recorder = Recorder()
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0,
                        callbacks=[BackupAndRestore(str(tmp_path / "b")), OneCycle(max_lr=0.1), recorder])

    assert history.epoch[0] == 3
    assert recorder.lrs[0] == OneCycle(max_lr=0.1).learning_rate_at(12, 20)  # step 12 of 20, not step 0
    assert history.history["loss"] == ref.history["loss"][3:]
    assert history.history["learning_rate"] == ref.history["learning_rate"][3:]
    for got, want in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(got, want)
    assert not os.path.exists(tmp_path / "b")


def test_a_second_fit_continues_the_cycle_and_warns_past_its_end():
    x, y = tiny_data(16)
    model = tiny_model(optimizer=SGD(0.1, momentum=0.9))
    one_cycle, recorder = OneCycle(max_lr=0.1, total_steps=6), Recorder()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[one_cycle, recorder])
    with pytest.warns(UserWarning, match="cycle of 6 steps is over"):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[one_cycle, recorder])
    want = [one_cycle.learning_rate_at(s, 6) for s in (0, 1, 2, 3, 4, 5, 5, 5)]
    np.testing.assert_allclose(recorder.lrs, want, rtol=1e-12)


def test_refuses_an_optimizer_with_a_schedule():
    x, y = tiny_data(16)
    model = tiny_model(optimizer=Adam(learning_rate=CosineDecay(0.01, decay_steps=10)))
    with pytest.raises(ValueError, match=r"with a learning-rate schedule \(CosineDecay\).*Compile with a number"):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[OneCycle(max_lr=0.01)])


def test_refuses_cycling_an_optimizer_without_momentum():
    x, y = tiny_data(16)
    model = tiny_model(optimizer=Adagrad())
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[OneCycle(max_lr=0.01)])
    one_cycle = OneCycle(max_lr=0.01, cycle_momentum=False)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[one_cycle])
    assert model.optimizer.learning_rate == one_cycle.learning_rate_at(3, 4)  # set before the last of 4 batches


def test_needs_total_steps_when_the_data_has_no_length():
    x, y = tiny_data(16)
    model = tiny_model()
    batches = ((x[i:i + 4], y[i:i + 4]) for i in range(0, 16, 4))
    with pytest.raises(ValueError, match=r"Pass OneCycle\(total_steps=...\)"):
        model.fit(batches, epochs=1, verbose=0, callbacks=[OneCycle(max_lr=0.01)])


@pytest.mark.parametrize("kwargs,message", [
    ({"max_lr": 0}, "max_lr must be a number > 0"),
    ({"max_lr": "fast"}, "received max_lr='fast'"),
    ({"max_lr": 0.1, "total_steps": 0}, "total_steps must be a positive integer or None"),
    ({"max_lr": 0.1, "pct_start": 1.5}, "pct_start must be a number >= 0.0 and <= 1.0"),
    ({"max_lr": 0.1, "anneal": "cosine"}, r"anneal must be one of \['cos', 'linear'\]"),
    ({"max_lr": 0.1, "base_momentum": 2}, "base_momentum must be"),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OneCycle(**kwargs)


def test_config_round_trips_through_json():
    one_cycle = OneCycle(max_lr=0.2, total_steps=50, pct_start=0.3, anneal="linear", cycle_momentum=False)
    config = json.loads(json.dumps(one_cycle.get_config()))
    assert OneCycle.from_config(config).get_config() == one_cycle.get_config()
