"""kerasish.distributed: helpers in one process, and fit/evaluate/predict under torchrun with 2 CPU processes.

The torchrun tests launch tests/distributed/ddp_script.py twice: once alone with a batch of 8 (the
reference) and once with `torch.distributed.run --nproc_per_node=2` (gloo) and a batch of 4 per process,
the same global batch. Both runs take about 10 s together, hence the `slow` mark (CI runs them).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kerasish import distributed

SCRIPT = Path(__file__).parent / "distributed" / "ddp_script.py"


# --------------------------------------------------------------------- one process
def test_single_process_defaults():
    assert distributed.world_size() == 1
    assert distributed.rank() == 0
    assert distributed.is_main_process()
    assert not distributed.is_distributed()
    distributed.barrier()  # a no-op without a process group
    assert distributed.any_rank(True) and not distributed.any_rank(False)


def test_unknown_strategy_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown distribution strategy 'horovod'.*'auto', 'ddp', 'none'"):
        distributed.set_strategy("horovod")
    assert distributed.strategy() == "auto"


def test_ddp_strategy_without_torchrun_says_how_to_launch(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    distributed.set_strategy("ddp")
    try:
        with pytest.raises(ValueError, match=r"not launched by torchrun.*torchrun --nproc_per_node=N"):
            distributed.setup("cpu")
    finally:
        distributed.set_strategy("auto")


def test_setup_outside_torchrun_keeps_the_device(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert distributed.setup("cpu") == "cpu"
    assert distributed.setup(None) is None


def _as_two_processes(monkeypatch, rank):
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed, "rank", lambda: rank)


@pytest.mark.parametrize("n", [16, 13, 3])
def test_train_batches_split_each_global_batch(monkeypatch, n):
    order = torch.randperm(n)
    parts = []
    for r in (0, 1):
        _as_two_processes(monkeypatch, r)
        parts.append(distributed.train_batches(order, 3))
        assert len(parts[-1]) == distributed.train_steps(n, 3)
    # Global batch i (both processes' batch i) = batch i of one process with a batch of 6.
    padded = torch.cat([order, order[: (-n) % 2]])
    for i, (a, b) in enumerate(zip(*parts)):
        assert len(a) == len(b)
        assert torch.equal(torch.cat([a, b]), padded[i * 6:(i + 1) * 6])


def test_shards_cover_every_sample_once(monkeypatch):
    ranges = []
    for r in (0, 1):
        _as_two_processes(monkeypatch, r)
        ranges.append(distributed.shard_range(7))
    assert ranges == [(0, 4), (4, 7)]
    with pytest.raises(ValueError, match="received 1 samples for 2 processes"):
        distributed.shard_range(1)


def test_wrap_and_unwrap_in_a_group_of_one(tmp_path):
    import torch.distributed as dist
    from kerasish import Sequential
    from kerasish.layers import Dense

    model = Sequential([Dense(2, input_shape=(3,))])
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        assert not distributed.is_distributed()  # a group of one changes nothing
        wrapped = distributed.wrap(model)
        assert distributed.unwrap(wrapped) is model
        x = torch.ones(4, 3)
        assert torch.equal(wrapped(x), model(x))
    finally:
        dist.destroy_process_group()


# --------------------------------------------------------------------- torchrun, 2 processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, out):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=out)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    single = tmp_path_factory.mktemp("single")
    multi = tmp_path_factory.mktemp("ddp")
    _run([sys.executable, str(SCRIPT), "--out", str(single), "--batch-size", "8"], single)
    stdout = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                   f"--master_port={_free_port()}", str(SCRIPT), "--out", str(multi), "--batch-size", "4"], multi)
    load = lambda folder, tag: json.loads((folder / f"result_{tag}.json").read_text())  # noqa: E731
    return {"single": load(single, "single"), 0: load(multi, 0), 1: load(multi, 1), "dir": multi, "stdout": stdout}


@pytest.mark.slow
def test_both_ranks_end_with_identical_weights(runs):
    assert runs[0]["world_size"] == runs[1]["world_size"] == 2
    assert runs[0]["weights"] == runs[1]["weights"]
    assert runs[0]["dataset_fit"]["weights"] == runs[1]["dataset_fit"]["weights"]  # the Dataset path too
    for a, b in zip(runs[0]["weights"], runs["single"]["weights"]):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.slow
def test_epoch_logs_equal_a_one_process_run_with_the_global_batch(runs):
    single = runs["single"]["history"]
    for rank in (0, 1):
        history = runs[rank]["history"]
        # iou: a metric kept in add_variable state (a confusion matrix), summed across processes
        assert sorted(history) == sorted(single) == ["accuracy", "iou", "loss", "val_accuracy", "val_iou", "val_loss"]
        for key in single:
            np.testing.assert_allclose(history[key], single[key], atol=1e-5, err_msg=key)
    assert runs[0]["history"] == runs[1]["history"]  # reduced: the very same numbers on every rank


@pytest.mark.slow
def test_only_rank_0_writes_files_and_prints(runs):
    written = runs["dir"] / "files_0"
    assert sorted(p.name for p in written.glob("ckpt-*.kerasish")) == [
        "ckpt-01.kerasish", "ckpt-02.kerasish", "ckpt-03.kerasish"]
    assert list((written / "tb" / "train").glob("events.out.tfevents.*"))
    assert list((written / "tb" / "validation").glob("events.out.tfevents.*"))
    assert len((written / "log.csv").read_text().splitlines()) == 4
    assert not (runs["dir"] / "files_1").exists()
    assert runs["stdout"].count("global batch 8") == 1
    assert runs["stdout"].count("Epoch 1/3") == 1


@pytest.mark.slow
def test_early_stopping_stops_both_ranks_at_the_same_epoch(runs):
    single = runs["single"]["early_stopping"]
    assert single["epochs_run"] < 30  # it did stop early
    for rank in (0, 1):
        assert runs[rank]["early_stopping"]["epochs_run"] == single["epochs_run"]
        assert runs[rank]["early_stopping"]["stopped_epoch"] == single["stopped_epoch"]


@pytest.mark.slow
def test_evaluate_and_predict_match_one_process(runs):
    single = runs["single"]
    for rank in (0, 1):
        assert runs[rank]["evaluate"].keys() == single["evaluate"].keys()
        for key, value in single["evaluate"].items():
            assert runs[rank]["evaluate"][key] == pytest.approx(value, abs=1e-5)
        predictions = np.array(runs[rank]["predict"])
        assert predictions.shape == (53, 3)  # every sample once (53 = shards of 27 and 26)
        np.testing.assert_allclose(predictions, single["predict"], atol=1e-5)  # in order
        np.testing.assert_allclose(runs[rank]["predict_dataset"], single["predict"], atol=1e-5)


@pytest.mark.slow
def test_backup_and_restore_resumes_every_rank(runs):
    single = runs["single"]["resumed"]
    assert len(single["loss"]) == 2  # epochs 3 and 4 after the interruption
    for rank in (0, 1):
        np.testing.assert_allclose(runs[rank]["resumed"]["loss"], single["loss"], atol=1e-5)
    assert runs[0]["resumed"]["weights"] == runs[1]["resumed"]["weights"]


@pytest.mark.gpu
def test_nccl_on_every_gpu_matches_one_process(tmp_path):
    """torchrun with one process per GPU (NCCL): placement on cuda:LOCAL_RANK and the same logs as one process."""
    gpus = torch.cuda.device_count()
    single, multi = tmp_path / "single", tmp_path / "ddp"
    single.mkdir()
    multi.mkdir()
    _run([sys.executable, str(SCRIPT), "--out", str(single), "--batch-size", str(4 * gpus), "--device", "cuda"],
         single)
    _run([sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}", f"--master_port={_free_port()}",
          str(SCRIPT), "--out", str(multi), "--batch-size", "4", "--device", "cuda"], multi)
    reference = json.loads((single / "result_single.json").read_text())
    results = [json.loads((multi / f"result_{r}.json").read_text()) for r in range(gpus)]
    for r, result in enumerate(results):
        assert result["device"] == f"cuda:{r}"
        assert result["weights"] == results[0]["weights"]
        np.testing.assert_allclose(result["history"]["loss"], reference["history"]["loss"], atol=1e-4)
        np.testing.assert_allclose(result["predict"], reference["predict"], atol=1e-4)
