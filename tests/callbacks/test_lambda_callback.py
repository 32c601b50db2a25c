import pytest

from kerasish.callbacks import LambdaCallback
from kerasish.callbacks.callback import overrides
from tests.callbacks.conftest import tiny_data, tiny_model


def test_functions_are_called_through_fit():
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, round(logs["loss"], 6) >= 0)),
        on_batch_end=lambda batch, logs: calls.append(("batch", batch)),
        on_train_end=lambda logs: calls.append("train_end"),
    )
    x, y = tiny_data()
    tiny_model().fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[cb])
    assert calls == ["train_begin", ("batch", 0), ("batch", 1), ("epoch_end", 0, True), ("batch", 0), ("batch", 1),
                     ("epoch_end", 1, True), "train_end"]


def test_hooks_not_given_are_not_overridden():
    cb = LambdaCallback(on_epoch_end=lambda epoch, logs: None)
    assert isinstance(cb, LambdaCallback)
    assert overrides(cb, "on_epoch_end")
    assert not overrides(cb, "on_train_batch_end")


def test_other_hooks_by_keyword():
    seen = []
    cb = LambdaCallback(on_test_end=lambda logs: seen.append(logs))
    cb.on_test_end({"loss": 1.0})
    assert seen == [{"loss": 1.0}]


def test_unknown_hook_raises():
    with pytest.raises(TypeError, match=r"unknown hook 'on_epoch_ends'.*Did you mean 'on_epoch_end'\?"):
        LambdaCallback(on_epoch_ends=print)


def test_not_callable_raises():
    with pytest.raises(TypeError, match=r"on_epoch_end must be a function, received 3 of type int"):
        LambdaCallback(on_epoch_end=3)
