import pytest

from kerasish.callbacks import LearningRateScheduler
from tests.callbacks.conftest import tiny_data, tiny_model


def test_schedule_receives_epoch_and_lr_through_fit():
    x, y = tiny_data()
    model = tiny_model(optimizer="sgd")
    seen = []

    def scheduler(epoch, lr):
        seen.append((epoch, lr))
        return lr if epoch < 1 else lr * 0.5

    history = model.fit(x, y, epochs=3, batch_size=10, verbose=0, callbacks=[LearningRateScheduler(scheduler)])
    assert seen == [(0, pytest.approx(0.01)), (1, pytest.approx(0.01)), (2, pytest.approx(0.005))]
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.005, 0.0025])


def test_one_argument_schedule_and_verbose(capsys):
    model = tiny_model(optimizer="sgd")
    cb = LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1), verbose=1)
    cb.set_model(model)
    cb.on_epoch_begin(1)
    assert model.optimizer.learning_rate == pytest.approx(0.05)
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.05." in capsys.readouterr().out


def test_non_float_output_raises():
    cb = LearningRateScheduler(lambda epoch, lr: "fast")
    cb.set_model(tiny_model())
    with pytest.raises(ValueError, match=r'output of the "schedule" function should be a finite float, received '
                                         r"'fast' of type str at epoch 0"):
        cb.on_epoch_begin(0)


def test_not_callable_raises():
    with pytest.raises(TypeError, match=r"schedule must be a function \(epoch, lr\) -> new learning rate, received 0\.1"):
        LearningRateScheduler(0.1)
