import pytest

from kerasish.callbacks import ReduceLROnPlateau
from tests.callbacks.conftest import tiny_data, tiny_model


def run(cb, values, lr=1.0, monitor="val_loss"):
    model = tiny_model(optimizer="sgd")
    model.optimizer.learning_rate = lr
    cb.set_model(model)
    cb.on_train_begin({})
    rates = []
    for epoch, value in enumerate(values):
        logs = {monitor: value}
        cb.on_epoch_end(epoch, logs)
        rates.append(float(model.optimizer.learning_rate))  # the value now: the variable itself follows the rate
        assert logs["learning_rate"] == pytest.approx(rates[-1] if len(rates) < 2 else rates[-2])
    return rates


def test_reduces_after_patience():
    rates = run(ReduceLROnPlateau(factor=0.5, patience=2), [1.0, 1.0, 1.0, 1.0, 1.0])
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_improvement_resets_the_wait_and_min_delta_applies():
    rates = run(ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.1), [1.0, 0.5, 0.45, 0.2])
    assert rates == [1.0, 1.0, 0.5, 0.5]


def test_cooldown_and_min_lr():
    rates = run(ReduceLROnPlateau(factor=0.1, patience=1, cooldown=2, min_lr=0.005), [1.0] * 7)
    # As in Keras, the epoch that ends the cooldown already counts towards patience.
    assert rates == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01, 0.005, 0.005])
    rates = run(ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.005), [1.0] * 5)
    assert rates == pytest.approx([1.0, 0.1, 0.01, 0.005, 0.005])


def test_mode_max_for_accuracy():
    rates = run(ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1), [0.5, 0.6, 0.55],
                monitor="val_accuracy")
    assert rates == [1.0, 1.0, 0.5]


def test_missing_monitor_warns():
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available\. Available metrics are: loss"):
        run(ReduceLROnPlateau(), [1.0], monitor="loss")


def test_verbose(capsys):
    run(ReduceLROnPlateau(factor=0.5, patience=1, verbose=1), [1.0, 1.0])
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.5." in capsys.readouterr().out


def test_factor_at_least_one_raises():
    with pytest.raises(ValueError, match=r"does not support a factor >= 1\.0, received factor=1\.5"):
        ReduceLROnPlateau(factor=1.5)


def test_unknown_argument_raises():
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['patient'\]"):
        ReduceLROnPlateau(patient=3)


def test_state_dict_round_trip():
    cb = ReduceLROnPlateau(factor=0.5, patience=3, cooldown=1)
    run(cb, [1.0, 1.1, 1.2])
    fresh = ReduceLROnPlateau(factor=0.5, patience=3, cooldown=1)
    fresh.load_state_dict(cb.state_dict())
    assert fresh.state_dict() == {"wait": 2, "cooldown_counter": 0, "best": 1.0}


def test_through_fit_records_learning_rate():
    x, y = tiny_data()
    model = tiny_model(optimizer="sgd")
    history = model.fit(x, y, epochs=3, batch_size=10, verbose=0,
                        callbacks=[ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=100.0)])
    # logs get the rate the epoch ran with; the reduction applies from the next epoch.
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005])
    assert model.optimizer.learning_rate == pytest.approx(0.0025)
