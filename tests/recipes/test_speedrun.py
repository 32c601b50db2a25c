"""The speed-run recipes: quick runs that train and report, the timing callback, flag checks, one real run."""

from __future__ import annotations

import os

import re

import numpy as np
import pytest
import torch

import kerasish
from kerasish.recipes import cifar_speedrun, fashion_speedrun
from kerasish.recipes.fashion_speedrun import TimeToAccuracy


@pytest.fixture
def offline_fashion(fashion_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(fashion_dir))
    monkeypatch.setenv("KERASISH_HOME", str(tmp_path / "home"))
    return fashion_dir


def test_fashion_quick_stops_at_the_epoch_that_reaches_the_target(offline_fashion, capsys):
    out = fashion_speedrun.main(["--quick", "--target", "0.05", "--epochs", "3"])
    printed = capsys.readouterr().out
    assert out["epochs"] == 1 and len(out["history"]["loss"]) == 1  # stopped after the first epoch
    assert out["test_accuracy"] >= 0.05 and out["time_to_target"] > 0
    line = re.search(r"time_to_5: ([0-9.]+) s \(epochs 1, test accuracy ([0-9.]+)\)", printed)
    assert line and float(line.group(2)) == pytest.approx(out["test_accuracy"], abs=1e-4)
    assert "epoch 1:" in printed and "test accuracy" in printed
    assert kerasish.mixed_precision.global_policy().name == "float32"  # the recipe's policy is undone


def test_fashion_quick_trains_and_reports_a_missed_target(offline_fashion, capsys):
    out = fashion_speedrun.main(["--quick", "--target", "1.0", "--precision", "float32", "--seed", "1"])
    printed = capsys.readouterr().out
    loss = out["history"]["loss"]
    assert len(loss) == 2 and loss[1] < loss[0]
    assert out["time_to_target"] is None and out["precision"] == "float32"
    assert out["history"]["test_accuracy"] == [acc for _, _, acc in out["curve"]]
    assert "time_to_100: not reached in 2 epochs (best test accuracy" in printed


@pytest.mark.parametrize("target", ["0", "1.5", "-0.2"])
def test_bad_target_is_rejected_before_loading_data(target):
    with pytest.raises(ValueError, match=r"--target is a test accuracy in \(0, 1\], received .*--target 0.91"):
        fashion_speedrun.main(["--quick", "--target", target])


def test_bad_widths_are_rejected():
    with pytest.raises(ValueError, match=r"--widths must be positive integers, received \[24, 0, 96\]"):
        fashion_speedrun.main(["--quick", "--widths", "24", "0", "96"])


def test_precision_auto_and_unknown_precision():
    assert fashion_speedrun.resolve_precision("float32", torch.device("cpu")) == "float32"
    expected = "mixed_bfloat16" if fashion_speedrun.native_bfloat16(torch.device("cpu")) else "float32"
    assert fashion_speedrun.resolve_precision("auto", torch.device("cpu")) == expected
    with pytest.raises(ValueError, match="--precision must be one of auto, float32, mixed_bfloat16, received 'fp8'"):
        fashion_speedrun.resolve_precision("fp8", torch.device("cpu"))


class _Model:
    """Scores that depend on the image's left half only, so flipping changes them."""

    stop_training = False

    def predict(self, x, batch_size=None, verbose=0):
        left = x[:, :, : x.shape[2] // 2, 0].sum(dim=(1, 2))
        return torch.stack([left, -left, torch.zeros_like(left)], dim=1).numpy()


def test_time_to_accuracy_averages_the_flipped_predictions_and_stops_once():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, 4, 1, generator=gen)
    y = torch.randint(0, 2, (64,), generator=gen)
    model = _Model()
    plain, scores = model.predict(x), model.predict(x) + model.predict(torch.flip(x, dims=[2]))
    for flip, s in ((False, plain), (True, scores)):
        clock = TimeToAccuracy(x, y, target=0.99, flip_tta=flip)
        clock.set_model(model)
        assert clock.accuracy() == pytest.approx(float((s.argmax(1) == y.numpy()).mean()))
    clock = TimeToAccuracy(x, y, target=0.01)
    clock.set_model(model)
    logs = {}
    clock.on_epoch_end(0, logs)
    assert model.stop_training and clock.reached[0] == 1 and logs["test_accuracy"] == clock.reached[2]
    clock.on_epoch_end(1, {})
    assert clock.reached[0] == 1 and len(clock.curve) == 2  # the first epoch that reached it is kept


def test_fashion_model_config_round_trips():
    model = fashion_speedrun.build_model(flip=True, seed=3)
    assert model.output_shape == (None, 10)
    # type(model) is Functional: kerasish's Model.from_config does not yet route a functional config there.
    rebuilt = type(model).from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    assert rebuilt.count_params() == model.count_params()


def test_synthetic_cifar_is_cifar_shaped_and_seeded():
    (x, y), (xt, _) = cifar_speedrun.synthetic_cifar(64, 16, seed=5)
    assert x.shape == (64, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (64, 1)
    assert xt.shape == (16, 32, 32, 3) and set(np.unique(y)) <= set(range(10))
    (x2, _), _ = cifar_speedrun.synthetic_cifar(64, 16, seed=5)
    assert np.array_equal(x, x2)


def test_cifar_quick_on_synthetic_data_trains_and_reports(capsys):
    out = cifar_speedrun.main(["--data", "synthetic", "--quick", "--device", "cpu", "--learning-rate", "0.05",
                               "--precision", "float32"])
    printed = capsys.readouterr().out
    loss = out["history"]["loss"]
    assert len(loss) == 2 and loss[1] < loss[0]
    assert out["best_test_accuracy"] > 0.2  # chance is 0.1
    assert "data: synthetic" in printed and "widths [8, 32, 32]" in printed
    assert "time_to_94: not reached in 2 epochs" in printed


def test_cifar_rejects_a_bad_width_scale():
    with pytest.raises(ValueError, match=r"--width-scale must be > 0, received -1.0"):
        cifar_speedrun.main(["--data", "synthetic", "--quick", "--width-scale", "-1"])


@pytest.mark.slow
def test_fashion_speedrun_learns_fashion_mnist_in_one_epoch(offline_fashion, capsys):
    # CI's budget: one epoch of the real recipe (about 18 s) must pass 80 % test accuracy (it gives 0.82);
    # the full run to 91 % (about 50 s) is the next test, on request.
    out = fashion_speedrun.main(["--seed", "0", "--epochs", "1", "--target", "0.80"])
    assert out["time_to_target"] is not None and out["test_accuracy"] >= 0.80
    assert re.search(r"time_to_80: [0-9.]+ s \(epochs 1, test accuracy 0\.[89]", capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("KERASISH_FULL_SPEEDRUN"),
                    reason="the full speed run (~75 s) exceeds CI's budget; KERASISH_FULL_SPEEDRUN=1 runs it")
def test_fashion_speedrun_reaches_91_percent(offline_fashion, capsys):
    out = fashion_speedrun.main(["--seed", "0"])
    assert out["time_to_target"] is not None and out["test_accuracy"] >= 0.91
    assert re.search(r"time_to_91: [0-9.]+ s \(epochs \d, test accuracy 0\.9[1-9]", capsys.readouterr().out)
