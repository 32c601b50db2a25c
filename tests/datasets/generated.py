"""Generated dataset files and a local HTTP server for the download tests.

Everything is small and made on the fly: four MNIST-format IDX files of a few 28x28 images, a
tiny aclImdb_v1.tar.gz (with hostile members that must never be extracted) and a word index.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import socket
import tarfile
import threading
from pathlib import Path
from typing import Dict, List

import numpy as np

def files_under(folder: Path) -> List[str]:
    """Every file (hidden temporary files included) below `folder`, relative, sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """An uncompressed IDX file (uint8) holding `array`."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def make_idx_files(n_train: int = 10, n_test: int = 4, seed: int = 0) -> Dict[str, bytes]:
    """Four small MNIST-format .gz files with a fixed content; returns name -> bytes."""
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        out[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images), mtime=0)
        out[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels), mtime=0)
    return out


def write_files(folder: Path, files: Dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


# Reviews of the generated aclImdb archive: (split, label folder, file name, text).
REVIEWS = [
    ("train", "pos", "0_9.txt", "The movie was great. I loved it!<br /><br />Great acting."),
    ("train", "pos", "1_8.txt", "Great plot, great acting; a great movie."),
    ("train", "neg", "0_2.txt", "The movie was bad... Boring plot."),
    ("train", "neg", "2_1.txt", "Bad, bad, BAD. A zyzzyva of a movie."),
    ("test", "pos", "0_10.txt", "I loved the acting."),
    ("test", "neg", "0_3.txt", "It was boring, the plot was bad."),
]
WORD_INDEX = {"the": 1, "movie": 2, "a": 3, "great": 4, "was": 5, "bad": 6, "i": 7, "it": 8,
              "br": 9, "loved": 10, "acting": 11, "plot": 12, "boring": 13, "of": 14}


def make_imdb_archive() -> bytes:
    """A small aclImdb_v1.tar.gz, plus members that must never be extracted."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name: str, data: bytes = b"x", **attrs) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for key, value in attrs.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)

        for split, label, name, text in REVIEWS:
            add(f"aclImdb/{split}/{label}/{name}", text.encode("utf-8"))
        add("aclImdb/README", b"readme")
        add("aclImdb/train/unsup/0_0.txt", b"unlabelled")
        add("../evil.txt", b"escaped")
        add("aclImdb/train/pos/../../../evil2.txt", b"escaped")
        add("/tmp/kerasish_absolute_evil.txt", b"escaped")
        # A link named like a review: must be skipped, not followed.
        info = tarfile.TarInfo("aclImdb/train/pos/7_7.txt")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    return buf.getvalue()


def imdb_files() -> Dict[str, bytes]:
    return {"aclImdb_v1.tar.gz": make_imdb_archive(),
            "imdb_word_index.json": json.dumps(WORD_INDEX).encode("utf-8")}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server = self.server
        server.requests.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        if name in server.hang_up:  # close the connection without answering
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = server.files.get(name)
        if data is None:
            self.send_error(404, "not found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if name in server.truncate:  # announce the full length, send half, hang up
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


class FileServer:
    """Serves `files` (name -> bytes) on 127.0.0.1; records the paths requested."""

    def __init__(self) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.files, self.httpd.requests = {}, []
        self.httpd.truncate, self.httpd.hang_up = set(), set()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def files(self) -> Dict[str, bytes]:
        return self.httpd.files

    @property
    def requests(self) -> List[str]:
        return self.httpd.requests

    def url(self, prefix: str = "") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
