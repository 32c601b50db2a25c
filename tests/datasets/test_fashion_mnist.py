"""fashion_mnist.load_data: the real Debian copy offline, and its own URL/hint settings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kerasish.datasets import DatasetUnavailableError, fashion_mnist
from tests.datasets.generated import files_under, make_idx_files, md5, write_files

DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")

needs_debian_copy = pytest.mark.skipif(
    not (DEBIAN_FOLDER / "train-images-idx3-ubyte.gz").exists(),
    reason=f"{DEBIAN_FOLDER} is absent: `apt-get install dataset-fashion-mnist` provides it",
)


@pytest.mark.slow
@needs_debian_copy
@pytest.mark.parametrize("data_path", [str(DEBIAN_FOLDER), str(DEBIAN_FOLDER.parent)])
def test_debian_copy_loads_offline_with_keras_shapes(home, monkeypatch, closed_port_url, data_path):
    monkeypatch.setenv("KERASISH_DATA_PATH", data_path)
    # Any download attempt would fail at once: the data must come from the Debian folder.
    monkeypatch.setenv("KERASISH_FASHION_MNIST_URL", closed_port_url)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    # Facts of the dataset: the first training image is an ankle boot (class 9) whose
    # pixels sum to 76247, and each class has 6,000 training images.
    assert int(y_train[0]) == 9 and fashion_mnist.CLASS_NAMES[y_train[0]] == "Ankle boot"
    assert int(x_train[0].sum(dtype=np.int64)) == 76247
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert not home.exists()  # nothing was cached or downloaded


@pytest.mark.slow
@needs_debian_copy
def test_the_debian_folder_is_found_with_no_variable_set(home, monkeypatch, closed_port_url):
    from kerasish.datasets import _download

    monkeypatch.setattr(_download, "SYSTEM_DATA_DIRS", (str(DEBIAN_FOLDER.parent),))
    monkeypatch.setenv("KERASISH_FASHION_MNIST_URL", closed_port_url)  # a download would fail at once
    (x_train, y_train), _ = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and int(y_train[0]) == 9
    assert not home.exists()


def test_offline_error_suggests_the_debian_package(home, monkeypatch, closed_port_url):
    monkeypatch.setenv("KERASISH_FASHION_MNIST_URL", closed_port_url)
    with pytest.raises(DatasetUnavailableError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_data()
    assert not home.exists()


def test_download_uses_its_own_url_and_cache_folder(home, server, monkeypatch):
    server.files.update(make_idx_files(n_train=6, n_test=2, seed=1))
    monkeypatch.setenv("KERASISH_FASHION_MNIST_URL", server.url("fashion/"))
    monkeypatch.setattr(fashion_mnist, "CHECKSUMS", {n: md5(d) for n, d in server.files.items()})
    (x_train, _), (x_test, _) = fashion_mnist.load_data()
    assert (len(x_train), len(x_test)) == (6, 2)
    assert files_under(home) == sorted(f"datasets/fashion-mnist/{n}" for n in server.files)


def test_data_path_folder_holding_a_fashion_mnist_subfolder(home, tmp_path, monkeypatch):
    write_files(tmp_path / "datasets" / "fashion-mnist", make_idx_files(n_train=3))
    monkeypatch.setenv("KERASISH_DATA_PATH", os.pathsep.join([str(tmp_path / "x"), str(tmp_path / "datasets")]))
    (x_train, _), _ = fashion_mnist.load_data()
    assert len(x_train) == 3
