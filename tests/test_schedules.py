"""Learning-rate schedules against Keras 3, in optimizers, in fit, saved, resumed, and without host syncs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from kerasish.optimizers import schedules
from tests.keras_parity import assert_close, keras_module
from tests.training.test_step import sync_counter  # noqa: F401 - the fixture

CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[5, 12], values=[1.0, 0.5, 0.1])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, end_learning_rate=0.01, power=2.0,
                             cycle=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5, staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=20)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=20, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=20, warmup_target=0.1, warmup_steps=6)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=4, t_mul=1.0, m_mul=0.5, alpha=0.1)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=3, t_mul=1.5, m_mul=0.9)),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_schedule_values_match_keras(name, kwargs):
    k = keras_module()
    ours, theirs = getattr(schedules, name)(**kwargs), getattr(k.optimizers.schedules, name)(**kwargs)
    steps = range(0, 60)
    np.testing.assert_allclose([ours(s) for s in steps], [float(theirs(s)) for s in steps], rtol=2e-6, atol=1e-8)
    assert ours.get_config() == theirs.get_config()
    again = schedules.deserialize(schedules.serialize(ours))
    assert type(again) is type(ours) and again.get_config() == ours.get_config()


def test_a_keras_serialized_schedule_loads():
    k = keras_module()
    theirs = k.optimizers.schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=3)
    ours = schedules.deserialize(k.optimizers.schedules.serialize(theirs))
    assert [ours(s) for s in range(15)] == pytest.approx([float(theirs(s)) for s in range(15)], rel=1e-6)


@pytest.mark.parametrize("make, match", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), r"ExponentialDecay: decay_steps must be a number > 0"),
    (lambda: schedules.PiecewiseConstantDecay([1, 2], [1.0]), r"one more entry than boundaries"),
    (lambda: schedules.PiecewiseConstantDecay([3, 2], [1.0, 2, 3]), r"boundaries must be increasing"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_target=0.2), r"needs warmup_steps > 0"),
    (lambda: schedules.CosineDecay("0.1", 10), r"initial_learning_rate must be a number"),
    (lambda: kerasish.optimizers.Adam(learning_rate="fast"), r"learning_rate must be a number >= 0, a Learn"),
])
def test_bad_schedules_are_refused_with_the_argument_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_scheduled_rate_cannot_be_set_and_reads_the_current_value():
    opt = kerasish.optimizers.SGD(schedules.ExponentialDecay(0.1, 1, 0.5))
    assert opt.learning_rate == 0.1
    opt.iterations = 2
    assert opt.learning_rate == pytest.approx(0.025)
    with pytest.raises(TypeError, match="created with a learning-rate schedule .* cannot be set"):
        opt.learning_rate = 0.3
    assert kerasish.optimizers.SGD(lambda: 0.25).learning_rate == 0.25  # Keras: a callable takes no arguments


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 2))).astype("float32")
    return x, y


def _mlp(keras):
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)])


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_fit_with_cosine_decay_matches_keras_weights(opt_name):
    k = keras_module()
    x, y = _data()
    theirs, ours = _mlp(k), _mlp(kerasish)
    ours.set_weights(theirs.get_weights())
    for model, keras in ((theirs, k), (ours, kerasish)):
        sched = keras.optimizers.schedules.CosineDecay(0.05, decay_steps=30, warmup_target=0.1, warmup_steps=5)
        model.compile(optimizer=getattr(keras.optimizers, opt_name)(learning_rate=sched), loss="mse")
        model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0)  # 50 steps
    assert ours.optimizer.iterations == 50
    assert_close(ours.get_weights(), theirs.get_weights(), atol=2e-5, rtol=1e-4)
    assert ours.optimizer.learning_rate == pytest.approx(float(theirs.optimizer.learning_rate), rel=1e-5)


def test_a_schedule_adds_no_host_sync_per_step(sync_counter):  # noqa: F811 - the fixture
    x, y = _data()

    def syncs(batch_size):
        model = _mlp(kerasish)
        model.compile(optimizer=kerasish.optimizers.Adam(schedules.CosineDecay(0.01, 100)), loss="mse")
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
        before = sync_counter["n"]
        model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0)
        return sync_counter["n"] - before

    assert syncs(20) == syncs(2)


def test_a_scheduled_optimizer_resumes_exactly_after_save_and_backup(tmp_path):
    x, y = _data()

    def model():
        kerasish.utils.set_random_seed(1)
        m = _mlp(kerasish)
        m.compile(optimizer=kerasish.optimizers.Adam(schedules.ExponentialDecay(0.05, 3, 0.7)), loss="mse")
        return m

    straight = model()
    straight.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    first = model()
    first.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    path = str(tmp_path / "m.kerasish")
    first.save(path)
    resumed = kerasish.saving.load_model(path)
    assert resumed.optimizer.iterations == 10
    assert isinstance(resumed.optimizer.learning_rate_schedule, schedules.ExponentialDecay)
    resumed.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)

    from kerasish.callbacks import BackupAndRestore

    class Kill(kerasish.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    backup = str(tmp_path / "backup")
    killed = model()
    with pytest.raises(KeyboardInterrupt):
        killed.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0,
                   callbacks=[BackupAndRestore(backup), Kill()])
    restarted = model()
    restarted.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=[BackupAndRestore(backup)])
    for a, b in zip(restarted.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
