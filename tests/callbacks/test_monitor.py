import pytest

from kerasish.callbacks import MonitorCallback


@pytest.mark.parametrize("monitor, mode", [
    ("val_loss", "min"), ("loss", "min"), ("val_mae", "min"), ("accuracy", "max"), ("val_accuracy", "max"),
    ("val_binary_accuracy", "max"), ("auc", "max"), ("val_precision", "max"), ("recall", "max"),
    ("val_f1_score", "max"),
])
def test_auto_mode_is_inferred_from_the_name(monitor, mode):
    assert MonitorCallback(monitor=monitor).mode_resolved == mode


def test_explicit_mode_wins():
    assert MonitorCallback(monitor="val_accuracy", mode="min").mode_resolved == "min"


def test_min_delta_sign_is_ignored_and_applies_in_the_right_direction():
    low = MonitorCallback(monitor="loss", min_delta=-0.1)
    assert low.is_improvement(0.85, 1.0)
    assert not low.is_improvement(0.95, 1.0)
    high = MonitorCallback(monitor="accuracy", min_delta=0.1)
    assert high.is_improvement(0.75, 0.6)
    assert not high.is_improvement(0.65, 0.6)
    assert high.is_improvement(0.0, None)


def test_missing_monitor_warns_with_available_keys():
    cb = MonitorCallback(monitor="val_loss")
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available\. Available metrics are: loss, mae"):
        assert cb.get_monitor_value({"loss": 1.0, "mae": 2.0}) is None


def test_bad_mode_raises():
    with pytest.raises(ValueError, match=r"mode must be 'auto', 'min' or 'max', received mode='minimum'"):
        MonitorCallback(mode="minimum")


def test_bad_monitor_raises():
    with pytest.raises(ValueError, match=r"monitor must be the name of a logged value.*received monitor=None"):
        MonitorCallback(monitor=None)


def test_bad_min_delta_raises():
    with pytest.raises(ValueError, match=r"min_delta must be a number, received min_delta='0.1'"):
        MonitorCallback(min_delta="0.1")


def test_state_dict_round_trip():
    cb = MonitorCallback(baseline=0.5)
    assert cb.state_dict() == {"best": 0.5}
    other = MonitorCallback()
    other.load_state_dict({"best": 0.25})
    assert other.best == 0.25
