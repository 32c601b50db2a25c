"""A model's own train_step / test_step under torchrun (2 CPU processes, gloo) against one process with
the same global batch: tests/distributed/custom_step_script.py runs both ways (about 10 s: `slow`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.test_distributed import _free_port, _run

SCRIPT = Path(__file__).parent / "distributed" / "custom_step_script.py"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import sys

    single = tmp_path_factory.mktemp("single")
    multi = tmp_path_factory.mktemp("ddp")
    _run([sys.executable, str(SCRIPT), "--out", str(single), "--batch-size", "8"], single)
    _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
          str(SCRIPT), "--out", str(multi), "--batch-size", "4"], multi)
    load = lambda folder, tag: json.loads((folder / f"result_{tag}.json").read_text())  # noqa: E731
    return {"single": load(single, "single"), 0: load(multi, 0), 1: load(multi, 1)}


@pytest.mark.slow
def test_a_custom_step_trains_as_one_process_with_the_global_batch(runs):
    assert runs[0]["world_size"] == runs[1]["world_size"] == 2
    assert runs[0]["weights"] == runs[1]["weights"]
    for a, b in zip(runs[0]["weights"], runs["single"]["weights"]):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.slow
def test_custom_step_logs_are_the_global_ones(runs):
    single = runs["single"]["history"]
    assert runs[0]["history"] == runs[1]["history"]  # the very same numbers on every process
    history = runs[0]["history"]
    assert sorted(history) == sorted(single) == ["last", "loss", "mae", "val_loss", "val_mae"]
    for key in ("loss", "mae", "val_loss", "val_mae", "last"):  # metrics reduced; 'last' a mean of equal halves
        np.testing.assert_allclose(history[key], single[key], atol=1e-5, err_msg=key)


@pytest.mark.slow
def test_untrained_state_follows_rank_0_and_training_starts_from_rank_0(runs):
    # BatchNormalization's moving statistics are not trained by gradients; rank 1 also started elsewhere.
    assert runs[0]["batch_norm_weights"] == runs[1]["batch_norm_weights"]


@pytest.mark.slow
def test_gradients_that_never_reach_grad_stop_fit_with_a_clear_error(runs):
    assert runs["single"]["autograd_error"] is None
    for rank in (0, 1):
        message = runs[rank]["autograd_error"]
        assert message is not None and "The processes' weights differ after this epoch" in message
        assert "torch.autograd.grad" in message and "loss.backward()" in message


@pytest.mark.slow
def test_a_gan_shaped_step_with_two_optimizers_trains_as_one_process(runs):
    single = runs["single"]["two_players"]
    assert runs[0]["two_players"] == runs[1]["two_players"]
    for a, b in zip(runs[0]["two_players"]["weights"], single["weights"]):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for key in ("c_loss", "g_loss"):  # the last batch's losses: the mean of two equal halves' means
        np.testing.assert_allclose(runs[0]["two_players"]["history"][key], single["history"][key], atol=1e-5)


@pytest.mark.slow
def test_super_train_step_logs_are_the_global_ones_and_a_rank0_backward_does_not_hang(runs):
    single = runs["single"]["super_step"]
    assert runs[0]["super_step"] == runs[1]["super_step"]
    np.testing.assert_allclose(runs[0]["super_step"]["history"]["loss"], single["history"]["loss"], atol=1e-5)
    for a, b in zip(runs[0]["super_step"]["weights"], single["weights"]):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.slow
def test_weights_created_inside_the_step_are_refused_with_the_way_out(runs):
    assert runs["single"]["late_error"] is None  # one process: nothing to agree on
    for rank in (0, 1):
        message = runs[rank]["late_error"]
        assert message is not None and "created weights during a distributed fit" in message
        assert "Build every sub-model before fit" in message
