"""Shared fixtures: seeding, name counters, data folders, markers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import kerasish
from kerasish.layers.layer import reset_names

FASHION_DIR = Path(os.environ.get("KERASISH_FASHION_DIR", "/usr/share/datasets/fashion-mnist"))

# Under pytest-xdist every worker is one process on a shared machine: torch's own intra-op threads
# (one per core by default) would oversubscribe the cores and spin against the other workers.
if os.environ.get("PYTEST_XDIST_WORKER") and int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_names():
    """Every test starts from seed 0, fresh layer names, Keras defaults and the CPU."""
    kerasish.utils.set_random_seed(0)
    reset_names()
    kerasish.config.set_defaults("keras")
    kerasish.config.set_device("cpu")
    yield
    kerasish.config.set_device(None)
    kerasish.config.set_defaults("keras")


def pytest_collection_modifyitems(config, items):
    # The slow real-data tests first (in their order), so that under pytest-xdist the longest ones start
    # early and the two workers finish together (.ci/run lets an idle worker take queued tests).
    items.sort(key=lambda item: "slow" not in item.keywords)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fashion_dir() -> Path:
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Fashion-MNIST not found in {FASHION_DIR}: apt-get install dataset-fashion-mnist (.ci/run does)")
    return FASHION_DIR


@pytest.fixture
def tiny_classification():
    """200 samples, 8 features, 3 linearly separable-ish classes."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype("float32")
    w = rng.normal(size=(8, 3))
    y = (x @ w).argmax(1)
    return x, y


def pytest_runtest_logreport(report):
    """Names each slow test as its setup ends (its body starts), so a long CI run shows which
    real-data test is running. Runs where the terminal is: in the one process, or, under
    pytest-xdist (`-n 2`, as `.ci/run` does), in the controller, which receives every report."""
    if report.when != "setup" or "slow" not in report.keywords or not report.passed:
        return
    config = _CONFIG.get("config")
    reporter = config.pluginmanager.get_plugin("terminalreporter") if config is not None else None
    if reporter is None:
        return  # an xdist worker: its controller writes the line
    worker = getattr(getattr(report, "node", None), "gateway", None)
    reporter.write_line(f"[slow] {report.nodeid}" + (f" ({worker.id})" if worker is not None else ""))


_CONFIG = {}


def pytest_configure(config):
    _CONFIG["config"] = config
