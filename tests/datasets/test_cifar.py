"""cifar10 / cifar100 on tiny archives in CIFAR's own format, held against Keras's loaders.

The batches are Python pickles as in the real archives (bytes keys, a uint8 ndarray, label
lists, and numpy's pre-2.0 `numpy.core.multiarray` spelling); the restricted unpickler must
read them and refuse anything else (an `os.system` gadget).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from kerasish import config
from kerasish.datasets import DatasetUnavailableError, cifar, cifar10, cifar100
from tests.datasets.generated import files_under
from tests.keras_parity import keras_module

TRAIN_SIZES = (3, 2, 2, 1, 2)  # five data batches
TEST_SIZE = 3


@pytest.fixture(autouse=True)
def _no_url_overrides(monkeypatch):
    for env in (cifar10.URL_ENV, cifar100.URL_ENV):
        monkeypatch.delenv(env, raising=False)


def batch_bytes(n: int, seed: int, labels: dict) -> bytes:
    """One batch pickled as the originals are: bytes keys, uint8 rows of 3072, label lists."""
    rng = np.random.default_rng(seed)
    batch = {b"batch_label": b"batch %d" % seed, b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"filenames": [b"img_%d.png" % i for i in range(n)]}
    batch.update({k.encode(): [int(i) for i in v] for k, v in labels.items()})  # Python ints, as the originals
    # Protocol 3 keeps raw bytes as BINBYTES (no _codecs call) and names globals as text, so
    # numpy 2's module name can be put back to the one the real (numpy 1) files carry.
    data = pickle.dumps(batch, protocol=3)
    return data.replace(b"numpy._core.multiarray\n_reconstruct", b"numpy.core.multiarray\n_reconstruct")


def cifar10_files():
    files = {f"data_batch_{i + 1}": batch_bytes(n, i, {"labels": np.arange(n) % 10})
             for i, n in enumerate(TRAIN_SIZES)}
    files["test_batch"] = batch_bytes(TEST_SIZE, 9, {"labels": [7, 8, 9]})
    files["batches.meta"] = pickle.dumps({b"label_names": [b"airplane"]}, protocol=3)
    return files


def cifar100_files():
    return {name: batch_bytes(n, seed, {"fine_labels": (np.arange(n) * 7) % 100, "coarse_labels": np.arange(n) % 20})
            for name, n, seed in (("train", 5, 1), ("test", 3, 2))}


def write_folder(root, folder, files):
    (root / folder).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / folder / name).write_bytes(data)
    return root


def archive_bytes(folder, files, extra=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"evil") if info.isfile() else None)
    return buf.getvalue()


def test_cifar10_matches_keras_batches_layout_and_dtypes(home, tmp_path, monkeypatch):
    keras_module()
    from keras.src.datasets.cifar import load_batch as keras_load_batch

    root = write_folder(tmp_path / "data", cifar10.FOLDER, cifar10_files())
    monkeypatch.setenv("KERASISH_DATA_PATH", str(root))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (10, 32, 32, 3) and x_test.shape == (3, 32, 32, 3)
    assert y_train.shape == (10, 1) and y_test.shape == (3, 1)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    # Keras's own parser on the same files, assembled and transposed as its load_data does.
    parts = [keras_load_batch(str(root / cifar10.FOLDER / f"data_batch_{i}")) for i in range(1, 6)]
    np.testing.assert_array_equal(x_train, np.concatenate([x for x, _ in parts]).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_train[:, 0], np.concatenate([y for _, y in parts]))
    x_keras, y_keras = keras_load_batch(str(root / cifar10.FOLDER / "test_batch"))
    np.testing.assert_array_equal(x_test, x_keras.transpose(0, 2, 3, 1))
    assert y_test[:, 0].tolist() == list(y_keras) == [7, 8, 9]
    assert files_under(home) == []  # read in place: nothing copied, nothing downloaded


def test_cifar10_channels_first_follows_the_image_data_format(home, tmp_path):
    root = write_folder(tmp_path, cifar10.FOLDER, cifar10_files())
    (x_last, _), _ = cifar10.load_data(path=root)
    previous = config.image_data_format()
    config.set_image_data_format("channels_first")
    try:
        (x_first, _), _ = cifar10.load_data(path=root)
    finally:
        config.set_image_data_format(previous)
    assert x_first.shape == (10, 3, 32, 32)
    np.testing.assert_array_equal(x_first.transpose(0, 2, 3, 1), x_last)


def test_cifar10_download_extracts_once_into_the_cache(home, server, monkeypatch):
    archive = archive_bytes(cifar10.FOLDER, cifar10_files())
    server.files[cifar10.ARCHIVE] = archive
    monkeypatch.setenv(cifar10.URL_ENV, server.url("kriz/"))
    monkeypatch.setattr(cifar10, "CHECKSUM", "sha256:" + hashlib.sha256(archive).hexdigest())
    (x_train, _), (x_test, _) = cifar10.load_data()
    assert server.requests == [f"/kriz/{cifar10.ARCHIVE}"]
    cache = home / "datasets" / "cifar10"
    assert (cache / cifar10.ARCHIVE).read_bytes() == archive
    assert sorted(p.name for p in (cache / "cifar-10-batches-py-target" / cifar10.FOLDER).iterdir()) == sorted(cifar10_files())
    (x_again, _), _ = cifar10.load_data()
    assert len(server.requests) == 1
    np.testing.assert_array_equal(x_again, x_train)
    assert x_test.shape == (3, 32, 32, 3)


def test_cifar10_archive_given_by_path(home, tmp_path):
    (tmp_path / cifar10.ARCHIVE).write_bytes(archive_bytes(cifar10.FOLDER, cifar10_files()))
    (x_train, y_train), _ = cifar10.load_data(path=tmp_path)
    assert x_train.shape == (10, 32, 32, 3) and y_train[:3, 0].tolist() == [0, 1, 2]


def test_cifar10_archive_with_a_hostile_member_is_refused(home, tmp_path):
    evil = tarfile.TarInfo("../cifar_evil.txt")
    evil.size = 4
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / cifar10.ARCHIVE).write_bytes(archive_bytes(cifar10.FOLDER, cifar10_files(), [evil]))
    with pytest.raises(ValueError, match=r"member '../cifar_evil.txt' has a '\.\.' component"):
        cifar10.load_data(path=tmp_path / "in")
    assert files_under(tmp_path) == ["in/" + cifar10.ARCHIVE]
    assert files_under(home) == []


def test_cifar10_offline_error_names_the_url_and_the_fixes(home, monkeypatch, closed_port_url):
    monkeypatch.setenv(cifar10.URL_ENV, closed_port_url)
    with pytest.raises(DatasetUnavailableError, match="Connection refused") as info:
        cifar10.load_data()
    message = str(info.value)
    assert closed_port_url + cifar10.ARCHIVE in message
    assert f"put it at {home / 'datasets' / 'cifar10' / cifar10.ARCHIVE}" in message
    assert "set KERASISH_DATA_PATH" in message


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_matches_keras(home, tmp_path, monkeypatch, label_mode):
    keras_module()
    import keras.src.datasets.cifar100 as keras_cifar100

    root = write_folder(tmp_path / "cifar-100-python-target", cifar100.FOLDER, cifar100_files())
    monkeypatch.setattr(keras_cifar100, "get_file", lambda *args, **kwargs: str(root))
    expected = keras_cifar100.load_data(label_mode)
    monkeypatch.setenv("KERASISH_DATA_PATH", str(tmp_path))  # found through Keras's -target folder name
    got = cifar100.load_data(label_mode)
    for ours, theirs in zip([*got[0], *got[1]], [*expected[0], *expected[1]]):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    assert got[0][0].shape == (5, 32, 32, 3) and got[0][1].shape == (5, 1)


def test_cifar100_rejects_an_unknown_label_mode(home):
    with pytest.raises(ValueError, match=r"Received: label_mode='medium'. Expected 'fine' .* or 'coarse'"):
        cifar100.load_data("medium")


class _Gadget:
    def __reduce__(self):
        return (os.system, ("touch kerasish_pwned",))


def test_a_pickle_gadget_is_refused(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = cifar10_files()
    files["data_batch_1"] = pickle.dumps({b"data": _Gadget(), b"labels": [1]}, protocol=3)
    root = write_folder(tmp_path / "data", cifar10.FOLDER, files)
    with pytest.raises(pickle.UnpicklingError, match=r"Refusing to load `(posix|os)\.system`"):
        cifar10.load_data(path=root)
    assert not (tmp_path / "kerasish_pwned").exists()


@pytest.mark.parametrize("payload", [
    pickle.dumps(eval, protocol=2), pickle.dumps(b"\x00\xff", protocol=2),  # builtins.eval, _codecs.encode
])
def test_only_numpy_globals_are_allowed(tmp_path, payload):
    (tmp_path / "p").write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError, match="only NumPy arrays may be rebuilt"):
        cifar.read_pickle(tmp_path / "p")


def test_a_batch_without_data_says_what_it_holds(tmp_path):
    (tmp_path / "b").write_bytes(pickle.dumps({b"labels": [1]}, protocol=3))
    with pytest.raises(ValueError, match=r"is not a CIFAR batch with 'labels' labels: its keys are \['labels'\]"):
        cifar.load_batch(tmp_path / "b")
