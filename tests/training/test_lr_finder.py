"""find_learning_rate: the range test's curve and suggestions, exact restoration, the plot, the errors."""

import copy
import math
import random
import sys

import matplotlib
import numpy as np
import pytest
import torch

from kerasish.layers import BatchNormalization, Dense, Dropout
from kerasish.models import Sequential
from kerasish.optimizers import Adam
from kerasish.optimizers.schedules import CosineDecay
from kerasish.training.lr_finder import LearningRateFinderResult, find_learning_rate

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add overhead
    yield
    torch.set_num_threads(threads)


def problem(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10)).astype("float32")
    y = (x @ rng.normal(size=(10, 3))).argmax(1)
    return x, y


def classifier(optimizer="adam", metrics=("accuracy",)):
    model = Sequential([Dense(32, activation="relu", input_shape=(10,)), BatchNormalization(), Dropout(0.2),
                        Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return model


def everything(model):
    """The model's tensors, the optimizer's state, rate and counter, the metrics and the RNGs, copied."""
    opt = model.optimizer
    return {
        "weights": {k: v.clone() for k, v in model.state_dict().items()},
        "optimizer": copy.deepcopy(opt.torch_optimizer.state_dict()),
        "iterations": int(opt.iterations),  # the values now: the variables themselves follow the optimizer
        "lr": float(opt.learning_rate),
        "metrics": [(m.name, copy.deepcopy(m.result())) for m in model.metrics],
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state()[1].copy(),
        "python_rng": random.getstate(),
    }


def assert_same(before, after):
    assert before["weights"].keys() == after["weights"].keys()
    for k in before["weights"]:
        assert torch.equal(before["weights"][k], after["weights"][k]), k
    ob, oa = before["optimizer"], after["optimizer"]
    assert ob["param_groups"] == oa["param_groups"]
    assert ob["state"].keys() == oa["state"].keys()
    for i in ob["state"]:
        for k in ob["state"][i]:
            assert torch.equal(ob["state"][i][k], oa["state"][i][k]), (i, k)
    assert before["iterations"] == after["iterations"] and before["lr"] == after["lr"]
    for (name_b, rb), (name_a, ra) in zip(before["metrics"], after["metrics"]):
        assert name_b == name_a
        if isinstance(rb, dict):
            assert rb.keys() == ra.keys() and all(torch.equal(rb[k], ra[k]) for k in rb)
        else:
            assert torch.equal(rb, ra)
    assert torch.equal(before["torch_rng"], after["torch_rng"])
    assert np.array_equal(before["numpy_rng"], after["numpy_rng"]) and before["python_rng"] == after["python_rng"]


def test_range_test_on_a_small_problem():
    x, y = problem()
    model = classifier()
    result = find_learning_rate(model, x, y, steps=60)
    assert isinstance(result, LearningRateFinderResult)
    assert result.lrs[0] == pytest.approx(1e-7)
    ratios = np.diff(np.log(result.lrs))
    np.testing.assert_allclose(ratios, math.log(1e8) / 59, rtol=1e-9)  # exponential steps from 1e-7 to 10
    assert result.diverged and len(result.lrs) < 60  # 10 is far too large: it stops early
    assert len(result.losses) == len(result.raw_losses) == len(result.lrs)
    lowest = int(np.argmin(result.losses))
    assert result.min_loss_lr == result.lrs[lowest] and result.minimum == pytest.approx(result.min_loss_lr / 10)
    assert result.losses[lowest] < result.losses[0] - 0.1  # it learned something on the way
    assert 1e-4 <= result.suggestion <= result.min_loss_lr
    assert "suggestion=" in repr(result) and "diverged=True" in repr(result)


def test_model_optimizer_metrics_and_rngs_are_restored_bitwise():
    x, y = problem()
    model = classifier(optimizer=Adam(learning_rate=3e-3))
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)  # optimizer moments, iterations, metric totals
    model.train_on_batch(x[:32], y[:32])
    before = everything(model)
    assert before["iterations"] == 9
    find_learning_rate(model, x, y, steps=30, end_lr=100.0)
    assert_same(before, everything(model))


def test_fit_after_the_test_equals_fit_without_it():
    x, y = problem()
    histories, weights = [], []
    for run_test in (False, True):
        torch.manual_seed(0)
        model = classifier()
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        if run_test:
            find_learning_rate(model, x, y, steps=20)
        histories.append(model.fit(x, y, epochs=2, batch_size=64, verbose=0).history)
        weights.append(list(model.state_dict().values()))  # layer names differ between the two models
    assert histories[0] == histories[1]
    for without, with_test in zip(*weights):
        assert torch.equal(without, with_test)


def test_takes_batches_from_an_iterable_and_stops_at_steps():
    x, y = problem(128)
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 128, 32)]  # re-iterated when used up
    model = classifier()
    result = find_learning_rate(model, batches, start_lr=1e-5, end_lr=1e-3, steps=10)
    assert len(result.lrs) == 10 and not result.diverged
    assert result.lrs[-1] == pytest.approx(1e-3)


def test_plot_marks_the_suggestion_and_saves_a_png(tmp_path):
    import matplotlib.pyplot as plt

    x, y = problem()
    result = find_learning_rate(classifier(), x, y, steps=60)
    path = tmp_path / "lr_find.png"
    ax = result.plot(path=path)
    try:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert ax.get_xscale() == "log"
        marked = [line for line in ax.get_lines() if list(line.get_xdata()) == [result.suggestion]]
        assert len(marked) == 1 and "steepest descent" in marked[0].get_label()
        assert any("minimum / 10" in text.get_text() for text in ax.get_legend().get_texts())
    finally:
        plt.close(ax.figure)
    fig, own_ax = plt.subplots()
    try:
        assert result.plot(ax=own_ax) is own_ax
    finally:
        plt.close(fig)


def test_plot_errors(tmp_path, monkeypatch):
    result = LearningRateFinderResult(lrs=[1e-3, 1e-2, 1e-1], losses=[1.0, 0.5, 2.0], raw_losses=[1.0, 0.5, 2.0],
                                      suggestion=1e-2, min_loss_lr=1e-2, minimum=1e-3, diverged=True)
    with pytest.raises(ValueError, match=r"Cannot save the plot as 'xyz'.*path='lr_find.png'"):
        result.plot(path=tmp_path / "curve.xyz")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"needs matplotlib.*pip install 'kerasish\[plot\]'"):
        result.plot()


def test_a_curve_that_never_falls_has_no_steepest_suggestion():
    x, y = problem(64)
    model = classifier()
    result = find_learning_rate(model, x, y, start_lr=1e-9, end_lr=1e-8, steps=5, smoothing=0.0)
    assert len(result.lrs) == 5
    assert result.suggestion is None or result.suggestion <= result.min_loss_lr


@pytest.mark.parametrize("kwargs,message", [
    ({"start_lr": 0}, "start_lr must be a number > 0, received start_lr=0"),
    ({"end_lr": 1e-8}, "end_lr must be a number > start_lr=1e-07"),
    ({"steps": 2}, "steps must be an integer >= 3"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"smoothing": 1.0}, r"smoothing must be a number in \[0, 1\)"),
    ({"diverge_factor": 1}, "diverge_factor must be a number > 1"),
])
def test_bad_arguments_raise_before_any_training(kwargs, message):
    x, y = problem(64)
    model = classifier()
    with pytest.raises(ValueError, match=message):
        find_learning_rate(model, x, y, **kwargs)
    assert model.optimizer.iterations == 0


def test_refuses_an_uncompiled_model_and_a_scheduled_optimizer():
    x, y = problem(64)
    model = Sequential([Dense(3, input_shape=(10,))])
    with pytest.raises(RuntimeError, match=r"compile your model before calling find_learning_rate\(\)"):
        find_learning_rate(model, x, y)
    model = classifier(optimizer=Adam(learning_rate=CosineDecay(1e-3, decay_steps=100)))
    with pytest.raises(ValueError, match=r"created with a schedule \(CosineDecay\).*constant rate"):
        find_learning_rate(model, x, y)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_tutorial_mlp_on_fashion_mnist(fashion_dir, monkeypatch, tmp_path, optimizer):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))
    from kerasish.datasets import fashion_mnist
    from kerasish.utils import to_categorical

    (train_images, train_labels), _ = fashion_mnist.load_data()
    train_images = train_images.reshape((60000, 28 * 28)).astype("float32") / 255
    train_labels = to_categorical(train_labels)
    network = Sequential([Dense(512, activation="relu", input_shape=(28 * 28,)), Dense(10, activation="softmax")])
    network.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    before = everything(network)  # the test runs before training, as fastai's lr_find does

    result = find_learning_rate(network, train_images, train_labels, batch_size=128)

    assert_same(before, everything(network))
    tutorial_rate = 1e-3  # the tutorial's optimizer at Keras's default rate
    print(f"{optimizer}: {result}")
    assert tutorial_rate / 10 <= result.suggestion <= tutorial_rate * 10, result
    ax = result.plot(path=tmp_path / "fashion_mnist_lr_find.png")
    plt.close(ax.figure)
    assert (tmp_path / "fashion_mnist_lr_find.png").read_bytes()[:4] == b"\x89PNG"
