"""RemoteMonitor: POST each epoch's logs to an HTTP server."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import warnings
from typing import Any, Dict, Mapping, Optional

import numpy as np
import torch

from kerasish import distributed
from kerasish.callbacks.callback import Callback


class RemoteMonitor(Callback):
    """Sends the logs of every finished epoch to a server, as an HTTP POST.

    The request goes to `root + path`. Its body is the JSON of `{"epoch": epoch, **logs}`
    (epoch 0-based, values as floats): by default inside a form, as the field `field`
    (`application/x-www-form-urlencoded`, `data={"epoch": 0, "loss": 0.5}`); with
    `send_as_json=True` as the request body itself (`application/json`). A server that
    cannot be reached gets a warning and training goes on. In a data-parallel run only
    rank 0 sends.

    kerasish sends with the standard library (`urllib`); Keras needs the `requests`
    package. Where Keras stays silent about a server that answers with an HTTP error
    status (4xx/5xx), kerasish warns too, with the status.

    Args:
        root: the server's root URL. Defaults to `"http://localhost:9000"`.
        path: the path under `root` the events are sent to. Defaults to `"/publish/epoch/end/"`.
        field: the form field holding the JSON (only when `send_as_json=False`). Defaults to `"data"`.
        headers: extra HTTP headers, a dict. Defaults to `None`.
        send_as_json: send the JSON as the request body instead of a form field. Defaults to `False`.

    Example:
        >>> monitor = RemoteMonitor(root="http://127.0.0.1:9000", send_as_json=True)
    """

    def __init__(
        self,
        root: str = "http://localhost:9000",
        path: str = "/publish/epoch/end/",
        field: str = "data",
        headers: Optional[Dict[str, str]] = None,
        send_as_json: bool = False,
    ) -> None:
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        """Posts `{"epoch": epoch, **logs}`, e.g. `{"epoch": 0, "loss": 0.52, "val_loss": 0.61}`."""
        if not distributed.is_main_process():
            return
        import urllib.request  # on first use: importing the callbacks stays cheap
        send: Dict[str, Any] = {"epoch": epoch}
        for key, value in (logs or {}).items():
            send[key] = _plain(value)  # host sync: once per epoch, per logged value
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            content_type = "application/json"
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
            content_type = "application/x-www-form-urlencoded"
        headers = {"Content-Type": content_type, **(self.headers or {})}
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request) as response:
                response.read()
        except urllib.error.HTTPError as error:  # the server answered, with an error status
            warnings.warn(
                f"RemoteMonitor's POST to {self.root + self.path} was answered with HTTP {error.code} "
                f"({error.reason}); the logs of epoch {epoch + 1} were not accepted. Check `root` and `path`, "
                "and the server's log.",
                stacklevel=2,
            )
        except (urllib.error.URLError, OSError, ValueError):  # no server there, or not a usable URL
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)


def _plain(value: Any) -> Any:
    """A logged value as JSON takes it: NumPy and one-element torch values become Python numbers."""
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, (np.ndarray, np.generic)):
        return value.item()
    return value
