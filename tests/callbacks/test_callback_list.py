"""The hook-sequence contract: which hooks fit (with validation), evaluate and predict call, in order."""

from kerasish.callbacks import Callback, CallbackList, History
from tests.callbacks.conftest import tiny_data, tiny_model

HOOKS_WITH_INDEX = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                    "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")
HOOKS_WITHOUT = ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                 "on_predict_end")


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []


def _indexed(hook):
    def method(self, index, logs=None):
        self.calls.append((hook, index, tuple(sorted(logs or {}))))
    return method


def _plain(hook):
    def method(self, logs=None):
        self.calls.append((hook, tuple(sorted(logs or {}))))
    return method


for _hook in HOOKS_WITH_INDEX:
    setattr(Recorder, _hook, _indexed(_hook))
for _hook in HOOKS_WITHOUT:
    setattr(Recorder, _hook, _plain(_hook))


def test_fit_with_validation_then_evaluate_then_predict_hook_sequence():
    x, y = tiny_data(10)
    model = tiny_model(metrics=["mae"])
    rec = Recorder()
    # 10 samples, validation_split=0.2: 8 train (2 batches of 4), 2 validation (1 batch).
    model.fit(x, y, batch_size=4, epochs=2, validation_split=0.2, verbose=0, callbacks=[rec])
    model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[rec])  # 3 batches
    model.predict(x, batch_size=5, verbose=0, callbacks=[rec])  # 2 batches

    m = ("loss", "mae")
    epoch_logs = ("loss", "mae", "val_loss", "val_mae")
    expected = [("on_train_begin", ())]
    for epoch in range(2):
        expected += [("on_epoch_begin", epoch, ())]
        for batch in range(2):
            expected += [("on_train_batch_begin", batch, ()), ("on_train_batch_end", batch, m)]
        expected += [("on_test_begin", ()), ("on_test_batch_begin", 0, ()), ("on_test_batch_end", 0, m),
                     ("on_test_end", m)]
        expected += [("on_epoch_end", epoch, epoch_logs)]
    expected += [("on_train_end", epoch_logs)]
    expected += [("on_test_begin", ())]
    for batch in range(3):
        expected += [("on_test_batch_begin", batch, ()), ("on_test_batch_end", batch, m)]
    expected += [("on_test_end", m)]
    expected += [("on_predict_begin", ())]
    for batch in range(2):
        expected += [("on_predict_batch_begin", batch, ()), ("on_predict_batch_end", batch, ("outputs",))]
    expected += [("on_predict_end", ())]
    assert rec.calls == expected


def test_batch_hooks_nobody_overrides_are_skipped():
    cbs = CallbackList([History()])
    assert not cbs.needs("on_train_batch_end")
    cbs.append(Recorder())
    assert cbs.needs("on_train_batch_end")
