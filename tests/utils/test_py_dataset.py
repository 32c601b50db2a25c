import inspect
import random
import threading
import time

import numpy as np
import pytest

import kerasish
from kerasish import layers
from kerasish.utils import PyDataset, Sequence
from kerasish.utils.py_dataset import ShuffledPasses
from tests.keras_parity import keras_module

X = np.random.RandomState(0).rand(50, 3).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")).astype("float32")


class Batches(PyDataset):
    """10-sample batches of X, Y; records its hooks."""

    def __init__(self, batch_size=10, delay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = batch_size
        self.delay = delay
        self.events = []

    def __len__(self):
        return int(np.ceil(len(X) / self.batch_size))

    def __getitem__(self, index):
        if self.delay:
            time.sleep(self.delay * ((index * 7) % 3))  # out-of-order finishing in a pool
        s = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return X[s], Y[s]

    def on_epoch_begin(self):
        self.events.append("begin")

    def on_epoch_end(self):
        self.events.append("end")


def _model():
    kerasish.utils.set_random_seed(1)
    model = kerasish.Sequential([layers.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_iterating_is_one_epoch_with_its_hooks():
    ds = Batches()
    batches = list(ds)
    assert len(batches) == 5 and ds.num_batches == 5
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), X)
    assert ds.events == ["begin", "end"]


@pytest.mark.parametrize("kwargs", [dict(), dict(workers=2), dict(workers=3, max_queue_size=2),
                                    dict(workers=2, use_multiprocessing=True)])
def test_fit_matches_the_same_arrays_and_calls_on_epoch_end_each_epoch(kwargs):
    reference = _model().fit(X, Y, batch_size=10, epochs=3, shuffle=False, verbose=0).history["loss"]
    ds = Batches(delay=0.005 if kwargs else 0.0, **kwargs)
    history = _model().fit(ds, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(history, reference, rtol=1e-6)
    assert ds.events == ["begin", "end"] * 3


def test_evaluate_predict_and_validation_data():
    model = _model()
    ds = Batches(workers=2)
    history = model.fit(ds, validation_data=Batches(), epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    np.testing.assert_allclose(model.evaluate(ds, verbose=0), model.evaluate(X, Y, verbose=0), rtol=1e-5)

    class Inputs(Batches):
        def __getitem__(self, index):
            return super().__getitem__(index)[0]

    np.testing.assert_allclose(model.predict(Inputs(workers=2), verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_endless_dataset_with_steps_per_epoch():
    class Endless(Batches):
        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            return super().__getitem__(index % 5)

    ds = Endless()
    history = _model().fit(ds, epochs=2, steps_per_epoch=7, verbose=0)
    assert len(history.history["loss"]) == 2
    assert "end" not in ds.events  # an endless pass never ends


def test_prefetch_is_bounded_and_in_order():
    handed_out = []
    ahead = []

    class Watched(Batches):
        def __getitem__(self, index):
            ahead.append(index - len(handed_out))
            return index

    ds = Watched(batch_size=1, workers=4, max_queue_size=3)
    for item in ds:
        handed_out.append(item)
    assert handed_out == list(range(50))
    assert max(ahead) <= 3


def test_an_early_stop_shuts_the_pool_down():
    before = threading.active_count()
    ds = Batches(workers=3, delay=0.01)
    for i, _ in enumerate(ds):
        if i == 1:
            break
    del _
    import gc

    gc.collect()
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
    assert ds.events == ["begin"]


def test_signature_matches_keras_and_sequence_is_an_alias():
    keras = keras_module()
    ours = inspect.signature(PyDataset.__init__).parameters
    theirs = inspect.signature(keras.utils.PyDataset.__init__).parameters
    assert [(p.name, p.default) for p in ours.values()] == [(p.name, p.default) for p in theirs.values()]
    assert Sequence is PyDataset


def test_missing_super_init_warns_and_uses_defaults():
    class NoSuper(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return X[:2], Y[:2]

    with pytest.warns(UserWarning, match=r"NoSuper.__init__ should call super\(\).__init__\(\*\*kwargs\)"):
        batches = list(NoSuper())
    assert len(batches) == 1


def test_bad_arguments_and_missing_methods_are_explained():
    with pytest.raises(ValueError, match=r"workers must be an integer >= 0\. Received: workers=-1"):
        Batches(workers=-1)
    with pytest.raises(ValueError, match=r"max_queue_size must be an integer >= 1\. Received: max_queue_size=0"):
        Batches(max_queue_size=0)

    class NoItems(PyDataset):
        def __len__(self):
            return 2

    with pytest.raises(NotImplementedError, match=r"NoItems must define __getitem__\(self, index\)"):
        list(NoItems())

    class NoLength(PyDataset):
        def __getitem__(self, index):
            return index

    with pytest.raises(NotImplementedError, match=r"NoLength must define __len__ .* or a num_batches property"):
        NoLength().num_batches


def test_a_bad_batch_is_named_by_fit():
    class Bad(Batches):
        def __getitem__(self, index):
            x, y = super().__getitem__(index)
            return (x, y, y, y) if index == 2 else (x, y)

    with pytest.raises(ValueError, match=r"Batch 2 from the data iterable is invalid.*4 elements"):
        _model().fit(Bad(), epochs=1, shuffle=False, verbose=0)


def test_shuffled_passes_visit_every_batch_in_a_new_order():
    random.seed(0)
    ds = Batches(batch_size=1, workers=2)
    passes = ShuffledPasses(ds)
    assert len(passes) == 50
    orders = [[int(np.flatnonzero((X == x).all(axis=1))[0]) for x, _ in passes] for _ in range(2)]
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(50))
    assert orders[0] != list(range(50)) and orders[0] != orders[1]
    assert ds.events == ["begin", "end"] * 2


def test_fit_shuffles_the_batch_order_as_keras_does():
    seen = []

    class Recorded(Batches):
        def __getitem__(self, index):
            seen.append(index)
            return super().__getitem__(index)

    _model().fit(Recorded(batch_size=5), epochs=2, verbose=0)  # fit's default shuffle=True
    assert sorted(seen) == sorted(list(range(10)) * 2) and seen != list(range(10)) * 2
