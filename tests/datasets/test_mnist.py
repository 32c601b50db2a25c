"""mnist.load_data from local copies, and the IDX reader (downloads: test_download.py)."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from kerasish.datasets import DatasetUnavailableError, mnist
from tests.datasets.generated import idx_bytes, make_idx_files, write_files


def test_read_idx_round_trips_uint8_and_big_endian(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    out = mnist.read_idx(tmp_path / "a-idx3-ubyte.gz")
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, images)
    out[0, 0, 0] = 7  # Keras's arrays are writable
    ints = np.array([1, -2, 70000], dtype=">i4")
    (tmp_path / "b-idx1").write_bytes(bytes([0, 0, 0x0C, 1]) + np.array([3], ">u4").tobytes() + ints.tobytes())
    assert mnist.read_idx(tmp_path / "b-idx1").tolist() == [1, -2, 70000]


def test_read_idx_rejects_a_file_that_is_not_idx(tmp_path):
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"PK\x03\x04 not idx"))
    with pytest.raises(ValueError, match="is not an IDX file: its header is 504b0304"):
        mnist.read_idx(tmp_path / "bad.gz")


def test_read_idx_rejects_a_truncated_file(tmp_path):
    data = idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-10]
    (tmp_path / "short.gz").write_bytes(gzip.compress(data))
    with pytest.raises(ValueError, match=r"truncated or padded: its header announces shape \(3, 28, 28\)"):
        mnist.read_idx(tmp_path / "short.gz")


def test_load_data_from_path_returns_keras_layout(home, tmp_path):
    folder = write_files(tmp_path / "mine", make_idx_files(n_train=10, n_test=4))
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=folder)
    assert x_train.shape == (10, 28, 28) and x_test.shape == (4, 28, 28)
    assert y_train.shape == (10,) and y_test.shape == (4,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert y_train.tolist() == list(range(10))
    assert not home.exists()  # reading a local copy writes nothing


def test_load_data_from_keras_npz(home, tmp_path):
    file = tmp_path / "mnist.npz"
    x = np.ones((3, 28, 28), np.uint8)
    np.savez(file, x_train=x, y_train=np.arange(3, dtype=np.uint8), x_test=x[:1], y_test=np.zeros(1, np.uint8))
    (x_train, y_train), (x_test, _) = mnist.load_data(path=file)
    assert x_train.shape == (3, 28, 28) and y_train.tolist() == [0, 1, 2] and len(x_test) == 1


def test_explicit_path_without_the_files_is_an_error_not_a_download(home, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetUnavailableError, match="not found under path=") as info:
        mnist.load_data(path=tmp_path / "empty")
    assert str(tmp_path / "empty") in str(info.value)
    assert "leave path=None" in str(info.value)
    assert isinstance(info.value, OSError)


def test_cache_folder_is_used_before_the_data_path(home, tmp_path, monkeypatch):
    write_files(home / "datasets" / "mnist", make_idx_files(n_train=5))
    write_files(tmp_path / "data" / "mnist", make_idx_files(n_train=7))
    monkeypatch.setenv("KERASISH_DATA_PATH", str(tmp_path / "data"))
    (x_train, _), _ = mnist.load_data()
    assert len(x_train) == 5


def test_data_path_entries_are_searched_in_order_with_subfolders(home, tmp_path, monkeypatch):
    write_files(tmp_path / "second" / "MNIST" / "raw", make_idx_files(n_train=8))
    write_files(tmp_path / "third", make_idx_files(n_train=9))
    entries = [tmp_path / "missing", tmp_path / "second", tmp_path / "third"]
    monkeypatch.setenv("KERASISH_DATA_PATH", os.pathsep.join(map(str, entries)))
    (x_train, _), _ = mnist.load_data()
    assert len(x_train) == 8  # torchvision's MNIST/raw layout inside the second entry


def test_a_folder_named_after_fashion_mnist_never_answers_mnist(home, tmp_path, monkeypatch, closed_port_url):
    # The Debian layout: /usr/share/datasets/fashion-mnist holds files with MNIST's names.
    write_files(tmp_path / "fashion-mnist", make_idx_files())
    monkeypatch.setenv("KERASISH_DATA_PATH", str(tmp_path / "fashion-mnist"))
    monkeypatch.setenv("KERASISH_MNIST_URL", closed_port_url)
    with pytest.raises(DatasetUnavailableError, match="'train-images-idx3-ubyte.gz' is not available") as info:
        mnist.load_data()
    assert f"{tmp_path / 'fashion-mnist'} (skipped: named after dataset 'fashion-mnist')" in str(info.value)


def test_mismatched_image_and_label_files_are_reported(home, tmp_path):
    files = make_idx_files(n_train=10)
    files["train-labels-idx1-ubyte.gz"] = make_idx_files(n_train=3)["train-labels-idx1-ubyte.gz"]
    folder = write_files(tmp_path / "mixed", files)
    with pytest.raises(ValueError, match=r"images of shape \(10, 28, 28\) and labels of shape \(3,\)"):
        mnist.load_data(path=folder)
