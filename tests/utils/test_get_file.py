"""kerasish.utils.get_file against a local HTTP server that honours Range and can drop connections.

Nothing here touches the internet: the server is http.server on 127.0.0.1 in a thread, and the
"offline" case is a port where nothing listens. Keras's own get_file, pointed at the same local
server, is the oracle for return paths and extracted trees.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from kerasish.utils import get_file, hash_file, validate_file
from kerasish.utils.file_utils import DownloadError, extract_archive
from tests.keras_parity import keras_module

DATA = bytes(range(256)) * 40  # 10,240 bytes


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        srv = self.server
        name = self.path.rsplit("/", 1)[-1]
        srv.requests.append((name, self.headers.get("Range")))
        data = srv.files.get(name)
        if data is None:
            self.send_error(404, "not found")
            return
        start = 0
        header = self.headers.get("Range")
        if header and name not in srv.ignore_range:
            start = int(header.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_error(416, "range not satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.drop_after.pop(name, None)  # drop the connection once, after `cut` bytes
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    httpd.files, httpd.requests, httpd.drop_after, httpd.ignore_range = {}, [], {}, set()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = lambda name: f"http://127.0.0.1:{httpd.server_address[1]}/files/{name}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KERASISH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def files_under(folder: Path):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_then_cache_hit_then_force(server, cache):
    server.files["a.bin"] = DATA
    path = get_file("a.bin", origin=server.url("a.bin"))
    assert path == str(cache / "datasets" / "a.bin")
    assert Path(path).read_bytes() == DATA
    assert len(server.requests) == 1
    assert get_file("a.bin", origin=server.url("a.bin"), file_hash=sha256(DATA)) == path
    assert len(server.requests) == 1  # the cache answered
    server.files["a.bin"] = b"new bytes"
    get_file("a.bin", origin=server.url("a.bin"), force_download=True)
    assert len(server.requests) == 2 and Path(path).read_bytes() == b"new bytes"
    assert files_under(cache) == ["datasets", "datasets/a.bin"]


def test_fname_defaults_to_the_url_name_and_cache_dir_subdir_are_honoured(server, tmp_path):
    server.files["b.txt"] = b"hello"
    path = get_file(origin=server.url("b.txt"), cache_dir=tmp_path / "c", cache_subdir="sub")
    assert path == str(tmp_path / "c" / "sub" / "b.txt")
    absolute = tmp_path / "abs"
    assert get_file("x.txt", origin=server.url("b.txt"), cache_subdir=str(absolute), cache_dir=tmp_path) \
        == str(absolute / "x.txt")


@pytest.mark.parametrize("algorithm, digest", [
    ("auto", hashlib.md5(DATA).hexdigest()), ("auto", sha256(DATA)), ("md5", hashlib.md5(DATA).hexdigest()),
    ("sha256", sha256(DATA).upper()),
])
def test_hashes_are_checked_with_the_detected_algorithm(server, cache, algorithm, digest):
    server.files["a.bin"] = DATA
    assert Path(get_file("a.bin", origin=server.url("a.bin"), file_hash=digest,
                         hash_algorithm=algorithm)).read_bytes() == DATA


def test_hash_mismatch_raises_and_leaves_no_file(server, cache):
    server.files["a.bin"] = DATA
    with pytest.raises(ValueError, match=r"checksum mismatch.*expected 0{64}") as info:
        get_file("a.bin", origin=server.url("a.bin"), file_hash="0" * 64)
    assert f"sha256 of the bytes downloaded from {server.url('a.bin')} is {sha256(DATA)}" in str(info.value)
    assert files_under(cache) == ["datasets"]  # neither a.bin nor a.bin.part


def test_legacy_md5_hash_forces_md5(server, cache):
    server.files["a.bin"] = DATA
    with pytest.raises(ValueError, match="the md5 of the bytes"):
        get_file("a.bin", origin=server.url("a.bin"), md5_hash=sha256(DATA))  # 64 digits, yet md5
    get_file("a.bin", origin=server.url("a.bin"), md5_hash=hashlib.md5(DATA).hexdigest())


def test_cached_file_with_a_wrong_hash_is_downloaded_again(server, cache, capsys):
    server.files["a.bin"] = DATA
    (cache / "datasets").mkdir(parents=True)
    (cache / "datasets" / "a.bin").write_bytes(b"stale")
    path = get_file("a.bin", origin=server.url("a.bin"), file_hash=sha256(DATA))
    assert Path(path).read_bytes() == DATA and len(server.requests) == 1
    assert "does not match" in capsys.readouterr().out


def test_interrupted_download_leaves_no_file_and_the_next_call_resumes(server, cache):
    server.files["a.bin"] = DATA
    server.drop_after["a.bin"] = 3000
    target = cache / "datasets" / "a.bin"
    with pytest.raises(DownloadError, match=r"stopped after 3000 of 10240 bytes.*call again to resume"):
        get_file("a.bin", origin=server.url("a.bin"), file_hash=sha256(DATA))
    assert not target.exists()
    assert (cache / "datasets" / "a.bin.part").stat().st_size == 3000
    path = get_file("a.bin", origin=server.url("a.bin"), file_hash=sha256(DATA))
    assert server.requests == [("a.bin", None), ("a.bin", "bytes=3000-")]
    assert Path(path).read_bytes() == DATA
    assert files_under(cache) == ["datasets", "datasets/a.bin"]


def test_a_server_that_ignores_range_restarts_from_zero(server, cache):
    server.files["a.bin"] = DATA
    server.drop_after["a.bin"] = 4000
    server.ignore_range.add("a.bin")
    with pytest.raises(DownloadError):
        get_file("a.bin", origin=server.url("a.bin"))
    path = get_file("a.bin", origin=server.url("a.bin"), file_hash=sha256(DATA))
    assert server.requests[-1] == ("a.bin", "bytes=4000-")
    assert Path(path).read_bytes() == DATA  # not 4000 stale bytes + the whole file


def test_a_part_file_longer_than_the_file_restarts_from_zero(server, cache):
    server.files["a.bin"] = DATA
    (cache / "datasets").mkdir(parents=True)
    (cache / "datasets" / "a.bin.part").write_bytes(b"x" * (len(DATA) + 5))
    path = get_file("a.bin", origin=server.url("a.bin"), file_hash=sha256(DATA))
    assert Path(path).read_bytes() == DATA
    assert server.requests == [("a.bin", f"bytes={len(DATA) + 5}-"), ("a.bin", None)]


def test_force_download_discards_a_part_file(server, cache):
    server.files["a.bin"] = DATA
    (cache / "datasets").mkdir(parents=True)
    (cache / "datasets" / "a.bin.part").write_bytes(b"garbage")
    get_file("a.bin", origin=server.url("a.bin"), force_download=True, file_hash=sha256(DATA))
    assert server.requests == [("a.bin", None)]


def test_offline_error_names_url_cause_and_cache_path(cache):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/a.bin"
    with pytest.raises(DownloadError, match="Connection refused") as info:
        get_file("a.bin", origin=url)
    message = str(info.value)
    assert f"Cannot download {url}: URLError" in message
    assert f"put it at {cache / 'datasets' / 'a.bin'} (the cache path)" in message
    assert files_under(cache) == ["datasets"]


def test_http_error_is_named(server, cache):
    with pytest.raises(DownloadError, match="HTTP Error 404"):
        get_file("missing.bin", origin=server.url("missing.bin"))


@pytest.mark.parametrize("kwargs, match", [
    ({}, r'specify the "origin" argument.*Received: origin=None'),
    ({"origin": "http://127.0.0.1:9/", "fname": None}, "Cannot take a file name from origin="),
    ({"origin": "http://127.0.0.1:9/a", "fname": "sub/a"}, r"fname must be a file name, not a path. Received: fname='sub/a'"),
    ({"origin": "http://127.0.0.1:9/a", "hash_algorithm": "sha1"}, r"Received: hash_algorithm='sha1'. Expected one of 'auto', 'md5', 'sha256'"),
    ({"origin": "http://127.0.0.1:9/a", "extract": True, "archive_format": "rar"}, r"Unknown archive format 'rar'. Received: archive_format='rar'"),
])
def test_bad_arguments_are_refused_before_any_request(cache, kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_file(**kwargs)


# --- extraction ---------------------------------------------------------------------------

MEMBERS = {"data/a.txt": b"alpha", "data/sub/b.txt": b"beta"}


def tar_bytes(mode: str = "w:gz", extra=None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in MEMBERS.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or ():
            tar.addfile(info, io.BytesIO(b"evil") if info.isfile() else None)
    return buf.getvalue()


def zip_bytes(names=MEMBERS) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in names.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tree(folder) -> dict:
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name, data", [
    ("arch.tar.gz", tar_bytes("w:gz")), ("arch.tar.bz2", tar_bytes("w:bz2")),
    ("arch.tar.xz", tar_bytes("w:xz")), ("arch.zip", zip_bytes()), ("arch.tar", tar_bytes("w")),
], ids=["tar.gz", "tar.bz2", "tar.xz", "zip", "tar"])
def test_extract_matches_keras_paths_and_contents(server, tmp_path, name, data):
    keras = keras_module()
    server.files[name] = data
    for i, fname in enumerate((name, "arch", None)):
        ours, theirs = tmp_path / f"ours{i}", tmp_path / f"keras{i}"
        theirs.mkdir()  # Keras falls back to /tmp/.keras for a cache_dir that does not exist
        our_path = get_file(fname, origin=server.url(name), extract=True, cache_dir=ours)
        their_path = keras.utils.get_file(fname, origin=server.url(name), extract=True, cache_dir=str(theirs))
        assert os.path.relpath(our_path, ours) == os.path.relpath(their_path, theirs)
        assert tree(our_path) == tree(their_path) == MEMBERS
        assert sorted(p.name for p in (ours / "datasets").iterdir()) == sorted(
            p.name for p in (theirs / "datasets").iterdir())


def test_untar_is_extract_with_tar_and_a_second_call_uses_the_cache(server, cache):
    server.files["arch.tgz"] = tar_bytes()
    path = get_file("arch", origin=server.url("arch.tgz"), untar=True)
    assert path == str(cache / "datasets" / "arch") and tree(path) == MEMBERS
    assert get_file("arch", origin=server.url("arch.tgz"), untar=True) == path
    assert len(server.requests) == 1


def test_a_non_archive_warns_as_keras_does(server, cache):
    server.files["plain.bin"] = DATA
    with pytest.warns(UserWarning, match="it is not a tar or zip archive"):
        get_file("plain", origin=server.url("plain.bin"), extract=True)


def _tar_info(name, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = 4 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize("info, match", [
    (_tar_info("../evil"), r"member '../evil' has a '\.\.' component"),
    (_tar_info("data/../../evil"), r"member 'data/../../evil' has a '\.\.' component"),
    (_tar_info("/tmp/kerasish_get_file_evil"), r"member '/tmp/kerasish_get_file_evil' has an absolute path"),
    (_tar_info("data/link", tarfile.SYMTYPE, "../../outside"), r"member 'data/link' is a link to '../../outside'"),
    (_tar_info("data/abs", tarfile.SYMTYPE, "/etc/passwd"), r"member 'data/abs' is a link to '/etc/passwd'"),
    (_tar_info("data/hard", tarfile.LNKTYPE, "../evil"), r"member 'data/hard' is a link to '../evil'"),
    (_tar_info("data/dev", tarfile.CHRTYPE), r"member 'data/dev' is a device file"),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-absolute", "hardlink-out", "device"])
def test_hostile_tar_members_are_refused_and_nothing_is_written(server, cache, tmp_path, info, match):
    server.files["bad.tar.gz"] = tar_bytes(extra=[info])
    before = files_under(tmp_path)
    with pytest.raises(ValueError, match=f"Refusing to extract .*{match}"):
        get_file("bad.tar.gz", origin=server.url("bad.tar.gz"), extract=True)
    # Only the downloaded archive is new: no extraction folder, no temporary folder, no escapee.
    assert sorted(set(files_under(tmp_path)) - set(before)) == [
        "home", "home/datasets", "home/datasets/bad.tar.gz"]
    assert not os.path.exists("/tmp/kerasish_get_file_evil")


@pytest.mark.parametrize("name, match", [
    ("../evil.txt", r"member '../evil.txt' has a '\.\.' component"),
    ("/abs_evil.txt", r"member '/abs_evil.txt' has an absolute path"),
])
def test_hostile_zip_members_are_refused(tmp_path, name, match):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(zip_bytes({**MEMBERS, name: b"evil"}))
    with pytest.raises(ValueError, match=match):
        extract_archive(archive, tmp_path / "out")
    assert files_under(tmp_path) == ["bad.zip"]


def test_zip_symlink_out_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("data/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "../../../etc")
    with pytest.raises(ValueError, match=r"member 'data/link' is a link to '../../../etc'"):
        extract_archive(archive, tmp_path / "out")
    assert files_under(tmp_path) == ["link.zip"]


def test_re_extraction_replaces_the_folder_atomically(tmp_path):
    archive = tmp_path / "a.tar"
    archive.write_bytes(tar_bytes("w"))
    assert extract_archive(archive, tmp_path / "out") is True
    (tmp_path / "out" / "stale.txt").write_bytes(b"old")
    assert extract_archive(archive, tmp_path / "out", archive_format="zip") is False
    assert extract_archive(archive, tmp_path / "out", archive_format=["zip", "tar"]) is True
    assert tree(tmp_path / "out") == MEMBERS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar", "out"]


# --- hashing and the progress bar ---------------------------------------------------------

def test_hash_file_and_validate_file_agree_with_keras(tmp_path):
    keras = keras_module()
    from keras.src.utils import file_utils as keras_file_utils

    f = tmp_path / "f.bin"
    f.write_bytes(DATA)
    for algorithm in ("sha256", "md5"):
        assert hash_file(f, algorithm) == keras_file_utils.hash_file(str(f), algorithm)
    assert hash_file(f) == keras_file_utils.hash_file(str(f)) == sha256(DATA)
    for digest in (sha256(DATA), hashlib.md5(DATA).hexdigest(), "0" * 64, "0" * 32):
        assert validate_file(f, digest) == keras_file_utils.validate_file(str(f), digest)
    assert validate_file(f, sha256(DATA), algorithm="md5") is False
    assert keras is not None


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(server, cache, monkeypatch):
    server.files["a.bin"] = DATA
    quiet = io.StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    get_file("a.bin", origin=server.url("a.bin"))
    assert quiet.getvalue() == ""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    get_file("a.bin", origin=server.url("a.bin"), force_download=True)
    assert "a.bin" in terminal.getvalue() and "100%" in terminal.getvalue()
