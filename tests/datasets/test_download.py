"""The download path, through mnist.load_data and a local http.server.

A download must verify its checksum before anything appears in the cache; every failure
(mismatch, truncated body, dropped connection, 404, nothing listening) raises one
DatasetUnavailableError and leaves no file, temporary files included.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from kerasish.datasets import DatasetUnavailableError, _download, mnist
from tests.datasets.generated import files_under, make_idx_files, md5

IMAGES = "train-images-idx3-ubyte.gz"


@pytest.fixture
def mnist_server(server, monkeypatch):
    """Serves four generated MNIST files whose MD5s replace the real ones."""
    server.files.update(make_idx_files(n_train=10, n_test=4))
    monkeypatch.setenv("KERASISH_MNIST_URL", server.url("mnist/"))
    monkeypatch.setattr(mnist, "CHECKSUMS", {name: md5(data) for name, data in server.files.items()})
    return server


def test_download_verifies_and_caches(home, mnist_server):
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (10, 28, 28) and x_test.shape == (4, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert files_under(home) == sorted(f"datasets/mnist/{name}" for name in mnist.CHECKSUMS)
    assert all(path.startswith("/mnist/") for path in mnist_server.requests)
    served = len(mnist_server.requests)
    assert served >= 4
    (x_again, _), _ = mnist.load_data()
    assert len(mnist_server.requests) == served  # the second call reads the cache
    np.testing.assert_array_equal(x_again, x_train)


def test_only_missing_files_are_downloaded(home, mnist_server):
    cache = home / "datasets" / "mnist"
    cache.mkdir(parents=True)
    for name, data in mnist_server.files.items():
        if name != IMAGES:
            (cache / name).write_bytes(data)
    mnist.load_data()
    assert {p.rsplit("/", 1)[-1] for p in mnist_server.requests} == {IMAGES}


def test_sha256_checksums_are_accepted(home, mnist_server, monkeypatch):
    import hashlib

    sums = {n: "sha256:" + hashlib.sha256(d).hexdigest() for n, d in mnist_server.files.items()}
    monkeypatch.setattr(mnist, "CHECKSUMS", sums)
    (x_train, _), _ = mnist.load_data()
    assert len(x_train) == 10


def test_checksum_mismatch_raises_and_leaves_nothing(home, mnist_server, monkeypatch):
    monkeypatch.setitem(mnist.CHECKSUMS, IMAGES, "md5:" + "0" * 32)
    with pytest.raises(DatasetUnavailableError, match="checksum mismatch") as info:
        mnist.load_data()
    message = str(info.value)
    assert f"file {IMAGES!r} is not available" in message
    assert "expected " + "0" * 32 in message
    assert IMAGES not in "".join(files_under(home))
    assert not any(name.endswith(".part") for name in files_under(home))


def test_truncated_body_keeps_a_part_file_that_the_next_call_resumes(home, mnist_server):
    mnist_server.httpd.truncate.add(IMAGES)
    with pytest.raises(DatasetUnavailableError, match=r"stopped after \d+ of \d+ bytes"):
        mnist.load_data()
    assert f"datasets/mnist/{IMAGES}" not in files_under(home)
    assert f"datasets/mnist/{IMAGES}.part" in files_under(home)
    mnist_server.httpd.truncate.discard(IMAGES)
    (x_train, _), _ = mnist.load_data()  # this server ignores Range: the file restarts from zero
    assert len(x_train) == 10
    assert not any(name.endswith(".part") for name in files_under(home))


def test_dropped_connection_raises_and_leaves_nothing(home, mnist_server):
    mnist_server.httpd.hang_up.add(IMAGES)
    with pytest.raises(DatasetUnavailableError, match=f"'{IMAGES}' is not available"):
        mnist.load_data()
    assert not home.exists()  # the first file failed: not even a folder was left behind


def test_http_404_raises_and_leaves_nothing(home, mnist_server):
    del mnist_server.files[IMAGES]
    with pytest.raises(DatasetUnavailableError, match="HTTP Error 404"):
        mnist.load_data()
    assert not home.exists()


def test_offline_error_names_file_places_and_fixes(home, tmp_path, monkeypatch, closed_port_url):
    monkeypatch.setenv("KERASISH_DATA_PATH", str(tmp_path / "nowhere"))
    monkeypatch.setenv("KERASISH_MNIST_URL", closed_port_url)
    with pytest.raises(DatasetUnavailableError) as info:
        mnist.load_data()
    message = str(info.value)
    assert f"file {IMAGES!r} is not available" in message
    for place in (home / "datasets" / "mnist", tmp_path / "nowhere", tmp_path / "nowhere" / "mnist"):
        assert f"  - {place}\n" in message
    assert closed_port_url in message and "Connection refused" in message
    assert "set KERASISH_DATA_PATH" in message and "pass path=<folder>" in message
    assert not home.exists()


def test_first_failing_mirror_falls_back_to_the_next(home, mnist_server, monkeypatch, closed_port_url):
    monkeypatch.delenv("KERASISH_MNIST_URL")
    monkeypatch.setattr(mnist, "BASE_URLS", (closed_port_url, mnist_server.url("mnist/")))
    (x_train, _), _ = mnist.load_data()
    assert len(x_train) == 10


def test_downloads_need_no_torchvision(home, mnist_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets.utils", None)
    (x_train, _), _ = mnist.load_data()
    assert len(x_train) == 10


def test_kerasish_home_defaults_to_the_user_folder(monkeypatch):
    monkeypatch.delenv("KERASISH_HOME", raising=False)
    assert _download.cache_dir("mnist").parts[-3:] == (".kerasish", "datasets", "mnist")
