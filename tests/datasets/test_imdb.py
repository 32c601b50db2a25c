"""imdb: get_word_index, load_text and load_data from a generated archive served locally."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from kerasish.datasets import DatasetUnavailableError, imdb
from tests.datasets.generated import REVIEWS, WORD_INDEX, files_under, imdb_files, md5, write_files


@pytest.fixture
def imdb_server(server, monkeypatch):
    server.files.update(imdb_files())
    monkeypatch.setenv("KERASISH_IMDB_URL", server.url("imdb/"))
    monkeypatch.setattr(imdb, "CHECKSUMS", {n: md5(d) for n, d in server.files.items()})
    return server


def _tokens(text):
    # Keras's rule for these ASCII texts: lower case, words of letters, digits and apostrophes.
    return re.findall(r"[a-z0-9']+", text.lower())


def test_get_word_index_downloads_and_caches(home, imdb_server):
    assert imdb.get_word_index() == WORD_INDEX
    assert imdb.get_word_index() == WORD_INDEX
    assert [p.rsplit("/", 1)[-1] for p in imdb_server.requests].count("imdb_word_index.json") >= 1
    served = len(imdb_server.requests)
    imdb.get_word_index()
    assert len(imdb_server.requests) == served


def test_load_text_extracts_only_labelled_reviews(home, tmp_path, imdb_server):
    (train_texts, train_labels), (test_texts, test_labels) = imdb.load_text()
    expected_train = {t: int(label == "pos") for s, label, _, t in REVIEWS if s == "train"}
    assert dict(zip(train_texts, train_labels.tolist())) == expected_train
    assert len(test_texts) == 2 and sorted(test_labels.tolist()) == [0, 1]
    assert train_labels.dtype == np.int64
    extracted = files_under(home / "datasets" / "imdb" / "aclImdb")
    assert len(extracted) == len(REVIEWS)  # no README, unsup review, link or escaped member
    assert not list(tmp_path.rglob("evil*.txt"))
    assert not Path("/tmp/kerasish_absolute_evil.txt").exists()
    assert not any(name.endswith(".part") for name in files_under(home))
    served = len(imdb_server.requests)
    assert imdb.load_text()[0][0] == train_texts  # same seed, same order, from the cache
    assert len(imdb_server.requests) == served


def test_load_text_seed_changes_the_order_only(home, imdb_server):
    (a, _), _ = imdb.load_text(seed=113)
    (b, _), _ = imdb.load_text(seed=1)
    assert sorted(a) == sorted(b)


def test_load_data_follows_keras_conventions(home, imdb_server):
    (x_train, y_train), (x_test, y_test) = imdb.load_data()
    (train_texts, train_labels), _ = imdb.load_text()
    assert x_train.dtype == object and len(x_train) == 4 and len(x_test) == 2
    np.testing.assert_array_equal(y_train, train_labels)
    top = max(WORD_INDEX.values()) + 3
    for seq, text in zip(x_train, train_texts):
        # start mark, then rank + index_from for each known word; "zyzzyva" is skipped and
        # the rarest id becomes oov (Keras's num_words=None rule).
        expected = [WORD_INDEX[t] + 3 for t in _tokens(text) if t in WORD_INDEX]
        assert seq == [1] + [w if w < top else 2 for w in expected]


def test_load_data_num_words_skip_top_and_oov(home, imdb_server):
    (x_train, _), _ = imdb.load_data(num_words=7, skip_top=5)
    flat = [w for seq in x_train for w in seq]
    assert set(flat) <= {2, 5, 6}  # start_char 1 < skip_top becomes oov too, as in Keras
    assert all(seq[0] == 2 for seq in x_train)
    (dropped, _), _ = imdb.load_data(num_words=7, skip_top=5, oov_char=None)
    assert all(set(seq) <= {5, 6} for seq in dropped)
    (no_start, _), _ = imdb.load_data(start_char=None, index_from=0)
    (train_texts, _), _ = imdb.load_text()
    assert no_start[0][:2] == [WORD_INDEX[t] for t in _tokens(train_texts[0])[:2]]


def test_load_data_maxlen_drops_long_reviews(home, imdb_server):
    (x_train, y_train), (x_test, _) = imdb.load_data(maxlen=8)
    assert all(len(seq) < 8 for seq in list(x_train) + list(x_test))
    assert 0 < len(x_train) < 4 and len(y_train) == len(x_train)
    with pytest.raises(ValueError, match="maxlen=2, no sequence was kept. Increase maxlen"):
        imdb.load_data(maxlen=2)


def test_extracted_folder_and_word_index_from_path(home, tmp_path, imdb_server):
    imdb.load_text()  # extracts into the cache
    folder = write_files(tmp_path / "copy", {"imdb_word_index.json": imdb_server.files["imdb_word_index.json"]})
    (home / "datasets" / "imdb" / "aclImdb").rename(folder / "aclImdb")
    served = len(imdb_server.requests)
    (x_train, _), _ = imdb.load_data(path=folder)
    assert len(x_train) == 4 and len(imdb_server.requests) == served


def test_archive_checksum_mismatch_leaves_nothing(home, imdb_server, monkeypatch):
    monkeypatch.setitem(imdb.CHECKSUMS, "aclImdb_v1.tar.gz", "md5:" + "f" * 32)
    with pytest.raises(DatasetUnavailableError, match="checksum mismatch"):
        imdb.load_text()
    assert files_under(home) == []


def test_archive_without_reviews_is_rejected(home, tmp_path):
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("something/else.txt")
        tar.addfile(info, io.BytesIO(b""))
    write_files(tmp_path / "bad", {"aclImdb_v1.tar.gz": buf.getvalue()})
    with pytest.raises(ValueError, match="holds no review named aclImdb/"):
        imdb.load_text(path=tmp_path / "bad")
    assert not (home / "datasets" / "imdb" / "aclImdb").exists()
