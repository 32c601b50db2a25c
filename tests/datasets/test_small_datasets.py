"""boston_housing, california_housing and reuters on tiny npz files, held against Keras's loaders.

Keras's loaders read the same generated file (their `get_file` is pointed at it), so shapes,
dtypes, shuffles, splits and the Reuters word-id conventions are compared value for value.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle

import numpy as np
import pytest

from kerasish.datasets import DatasetUnavailableError, boston_housing, california_housing, reuters
from tests.datasets.generated import files_under
from tests.keras_parity import keras_module

URL_ENVS = (boston_housing.URL_ENV, california_housing.URL_ENV, reuters.URL_ENV)


@pytest.fixture(autouse=True)
def _no_url_overrides(monkeypatch):
    for env in URL_ENVS:
        monkeypatch.delenv(env, raising=False)


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def housing_bytes(n: int, features: int, dtype) -> bytes:
    rng = np.random.default_rng(n)
    return npz_bytes(x=rng.normal(size=(n, features)).astype(dtype), y=rng.uniform(10, 50, n).astype(dtype))


def ragged(seqs):
    arr = np.empty(len(seqs), dtype=object)
    arr[:] = seqs
    return arr


def reuters_bytes(n: int = 40) -> bytes:
    rng = np.random.default_rng(3)
    seqs = [[int(w) for w in rng.integers(1, 60, size=rng.integers(2, 15))] for _ in range(n)]
    return npz_bytes(x=ragged(seqs), y=rng.integers(0, 46, n).astype(np.int64))


def keras_loader(monkeypatch, module_name: str, file):
    keras_module()
    import importlib

    module = importlib.import_module(f"keras.src.datasets.{module_name}")
    monkeypatch.setattr(module, "get_file", lambda *args, **kwargs: str(file))
    return module


def assert_same(ours, theirs):
    (a, b), (c, d) = ours
    (e, f), (g, h) = theirs
    for mine, keras in ((a, e), (b, f), (c, g), (d, h)):
        assert mine.shape == keras.shape and mine.dtype == keras.dtype
        if mine.dtype == object:
            assert [list(s) for s in mine] == [list(s) for s in keras]
        else:
            np.testing.assert_array_equal(mine, keras)


@pytest.mark.parametrize("test_split, seed", [(0.2, 113), (0.5, 1), (0.0, 7)])
def test_boston_housing_matches_keras(home, tmp_path, monkeypatch, test_split, seed):
    (tmp_path / boston_housing.FILE).write_bytes(housing_bytes(50, 13, np.float64))
    keras_boston = keras_loader(monkeypatch, "boston_housing", tmp_path / boston_housing.FILE)
    monkeypatch.setenv("KERASISH_DATA_PATH", str(tmp_path))
    ours = boston_housing.load_data(test_split=test_split, seed=seed)
    assert_same(ours, keras_boston.load_data(test_split=test_split, seed=seed))
    assert len(ours[0][0]) == int(50 * (1 - test_split))


@pytest.mark.parametrize("version", ["large", "small"])
def test_california_housing_matches_keras(home, tmp_path, monkeypatch, version):
    (tmp_path / "ca.npz").write_bytes(housing_bytes(700, 8, np.float32))
    keras_california = keras_loader(monkeypatch, "california_housing", tmp_path / "ca.npz")
    ours = california_housing.load_data(version, path=str(tmp_path / "ca.npz"), test_split=0.25, seed=5)
    assert_same(ours, keras_california.load_data(version, test_split=0.25, seed=5))
    assert len(ours[0][0]) + len(ours[1][0]) == (700 if version == "large" else 600)


@pytest.mark.parametrize("kwargs", [
    {}, {"num_words": 20, "skip_top": 5}, {"maxlen": 10, "test_split": 0.3, "seed": 4},
    {"start_char": None, "oov_char": None, "index_from": 0, "num_words": 30},
    {"start_char": None, "index_from": 2}, {"test_split": 1.0},
], ids=["defaults", "num_words-skip_top", "maxlen", "no-marks", "no-start", "all-test"])
def test_reuters_matches_keras(home, tmp_path, monkeypatch, kwargs):
    (tmp_path / reuters.FILE).write_bytes(reuters_bytes())
    keras_reuters = keras_loader(monkeypatch, "reuters", tmp_path / reuters.FILE)
    ours = reuters.load_data(path=str(tmp_path), **kwargs)  # a folder holding reuters.npz
    assert_same(ours, keras_reuters.load_data(**kwargs))


def test_reuters_word_index_and_label_names(home, tmp_path, monkeypatch):
    keras = keras_module()
    (tmp_path / reuters.WORD_INDEX_FILE).write_text(json.dumps({"the": 1, "of": 2}))
    monkeypatch.setenv("KERASISH_DATA_PATH", str(tmp_path))
    assert reuters.get_word_index() == {"the": 1, "of": 2}
    assert reuters.get_label_names() == keras.datasets.reuters.get_label_names()
    assert len(reuters.get_label_names()) == 46


def test_download_under_a_custom_cache_name(home, server, monkeypatch):
    data = housing_bytes(20, 13, np.float64)
    server.files[boston_housing.FILE] = data
    monkeypatch.setenv(boston_housing.URL_ENV, server.url("tf/"))
    monkeypatch.setattr(boston_housing, "CHECKSUM", "sha256:" + hashlib.sha256(data).hexdigest())
    (x_train, _), (x_test, _) = boston_housing.load_data(path="mine.npz")
    assert server.requests == [f"/tf/{boston_housing.FILE}"]  # Keras's origin, saved under the given name
    assert files_under(home) == ["datasets/boston_housing/mine.npz"]
    assert x_train.shape == (16, 13) and x_test.shape == (4, 13)
    boston_housing.load_data(path="mine.npz")
    assert len(server.requests) == 1


def test_download_checksum_mismatch_leaves_nothing(home, server, monkeypatch):
    server.files[reuters.FILE] = reuters_bytes()
    monkeypatch.setenv(reuters.URL_ENV, server.url())
    monkeypatch.setattr(reuters, "CHECKSUM", "sha256:" + "0" * 64)
    with pytest.raises(DatasetUnavailableError, match="checksum mismatch"):
        reuters.load_data()
    assert [f for f in files_under(home) if f.endswith((".npz", ".part"))] == []


def test_offline_error_names_url_and_cache_path(home, monkeypatch, closed_port_url):
    monkeypatch.setenv(california_housing.URL_ENV, closed_port_url)
    with pytest.raises(DatasetUnavailableError, match="Connection refused") as info:
        california_housing.load_data()
    message = str(info.value)
    assert closed_port_url + california_housing.FILE in message
    assert str(home / "datasets" / "california_housing" / california_housing.FILE) in message


def test_a_local_path_that_does_not_exist_is_an_error(home, tmp_path):
    with pytest.raises(DatasetUnavailableError, match=r"path='.*/nope.npz' is neither a file nor a folder"):
        boston_housing.load_data(path=str(tmp_path / "nope.npz"))
    with pytest.raises(DatasetUnavailableError, match="reuters.npz not found under path="):
        reuters.load_data(path=str(tmp_path))


@pytest.mark.parametrize("call, match", [
    (lambda: boston_housing.load_data(test_split=1.0), r"Received: test_split=1.0. Expected a fraction in \[0, 1\)"),
    (lambda: california_housing.load_data(test_split=-0.1), r"Received: test_split=-0.1"),
    (lambda: california_housing.load_data(version="medium"), r"Received: version='medium'. Expected 'large'"),
    (lambda: reuters.load_data(test_split=1.5), r"Received: test_split=1.5. Expected a fraction in \[0, 1\]"),
])
def test_bad_arguments_are_refused_before_reading(home, call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_reuters_maxlen_that_keeps_nothing(home, tmp_path):
    (tmp_path / reuters.FILE).write_bytes(reuters_bytes())
    with pytest.raises(ValueError, match="No wire is shorter than maxlen=2"):
        reuters.load_data(path=str(tmp_path / reuters.FILE), maxlen=2)


class _Gadget:
    def __reduce__(self):
        return (os.system, ("touch kerasish_pwned",))


def test_reuters_npz_with_a_pickle_gadget_is_refused(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / reuters.FILE).write_bytes(npz_bytes(x=ragged([_Gadget()]), y=np.zeros(1, np.int64)))
    with pytest.raises(pickle.UnpicklingError, match=r"Refusing to load `(posix|os)\.system`"):
        reuters.load_data(path=str(tmp_path / reuters.FILE))
    assert not (tmp_path / "kerasish_pwned").exists()
