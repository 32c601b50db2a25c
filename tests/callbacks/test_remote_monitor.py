"""RemoteMonitor: the epoch logs POSTed to a local HTTP server, as Keras 3 sends them; its warnings."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
import torch

from kerasish.callbacks import RemoteMonitor
from tests.keras_parity import keras_module

from .conftest import tiny_data, tiny_model


class _Server:
    """An HTTP server on 127.0.0.1 recording each POST (path, headers, body); answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.requests = []
        received, answer = self.requests, status

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server hook name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, dict(self.headers), body))
                self.send_response(answer)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _payload(body: bytes, headers: dict, field: str = "data"):
    if headers.get("Content-Type") == "application/json":
        return "json", json.loads(body)
    form = urllib.parse.parse_qs(body.decode())
    return headers.get("Content-Type"), json.loads(form[field][0])


def _post_with(lib, logs, **kwargs):
    with _Server() as server:
        monitor = lib.callbacks.RemoteMonitor(root=server.root, **kwargs)
        monitor.on_epoch_end(2, logs)
    (path, headers, body), = server.requests
    return path, headers, _payload(body, headers, kwargs.get("field", "data"))


@pytest.mark.parametrize("kwargs", [
    {},
    {"send_as_json": True},
    {"field": "payload", "path": "/epochs", "headers": {"X-Run": "7"}},
])
def test_posts_what_keras_posts(kwargs):
    keras = keras_module()
    logs = {"loss": 0.25, "val_loss": np.float32(0.5), "accuracy": np.array(0.75)}
    ours = _post_with(__import__("kerasish"), logs, **kwargs)
    theirs = _post_with(keras, logs, **kwargs)
    assert ours[0] == theirs[0] == kwargs.get("path", "/publish/epoch/end/")
    assert ours[2] == theirs[2]
    assert ours[2][1] == {"epoch": 2, "loss": 0.25, "val_loss": 0.5, "accuracy": 0.75}
    for name, value in kwargs.get("headers", {}).items():
        assert ours[1][name] == theirs[1][name] == value


def test_tensor_values_are_sent_as_numbers():
    with _Server() as server:
        RemoteMonitor(root=server.root, send_as_json=True).on_epoch_end(0, {"loss": torch.tensor(1.5)})
    assert json.loads(server.requests[0][2]) == {"epoch": 0, "loss": 1.5}


def test_fit_posts_once_per_epoch():
    x, y = tiny_data()
    with _Server() as server:
        history = tiny_model().fit(x, y, epochs=3, batch_size=10, verbose=0, validation_split=0.5,
                                   callbacks=[RemoteMonitor(root=server.root, send_as_json=True)])
    sent = [json.loads(body) for _, _, body in server.requests]
    assert [s["epoch"] for s in sent] == [0, 1, 2]
    np.testing.assert_allclose([s["loss"] for s in sent], history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose([s["val_loss"] for s in sent], history.history["val_loss"], rtol=1e-6)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_warns_as_keras():
    keras = keras_module()
    root = f"http://127.0.0.1:{_closed_port()}"
    for lib in (__import__("kerasish"), keras):
        with pytest.warns(UserWarning, match=f"Could not reach RemoteMonitor root server at {root}"):
            lib.callbacks.RemoteMonitor(root=root).on_epoch_end(0, {"loss": 1.0})


def test_error_status_warns():
    with _Server(status=500) as server:
        with pytest.warns(UserWarning, match=r"answered with HTTP 500 .*epoch 1 were not accepted. Check `root`"):
            RemoteMonitor(root=server.root).on_epoch_end(0, {"loss": 1.0})
    assert len(server.requests) == 1
