"""Screenshot of TensorBoard's embedding projector showing an Embedding layer kerasish trained.

Trains a small sentiment model (Embedding -> GlobalAveragePooling1D -> Dense) on made-up
sentences of 24 positive, 24 negative and 12 neutral words, logs it with
`TensorBoard(log_dir, embeddings_freq=1, embeddings_metadata="words.tsv")`, starts a
TensorBoard server on 127.0.0.1, and has headless Chromium save what `/#projector` shows.
The labels file has two columns (`word`, `sentiment`) so the projector can label and colour
the points. The image in the docs is made with:

    apt-get install -y chromium        # Debian's package; any Chrome/Chromium works
    python tools/screenshot_projector.py                 # -> docs/images/tensorboard_projector.png
    python tools/screenshot_projector.py --out /tmp/p.png --keep-logdir /tmp/projector_logs
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
POSITIVE = ("good great excellent wonderful superb lovely brilliant delightful amazing fantastic enjoyable "
            "charming beautiful perfect moving touching funny clever fresh gripping stunning terrific "
            "pleasant memorable").split()
NEGATIVE = ("bad awful terrible boring dull poor weak horrible dreadful mediocre tedious clumsy ugly "
            "annoying pointless bland messy painful lame stupid forgettable predictable shallow "
            "disappointing").split()
NEUTRAL = "the a film movie plot actor scene story was is and it".split()
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def toy_corpus(n: int = 2000, length: int = 6, seed: int = 0):
    """Sentences of word ids; the label is the share of positive among the sentiment words."""
    words = NEUTRAL + POSITIVE + NEGATIVE
    rng = np.random.default_rng(seed)
    x = rng.integers(0, len(words), size=(n, length))
    positive = (x >= len(NEUTRAL)) & (x < len(NEUTRAL) + len(POSITIVE))
    negative = x >= len(NEUTRAL) + len(POSITIVE)
    y = (positive.sum(1) > negative.sum(1)).astype("float32")[:, None]
    return words, x, y


def train(log_dir: Path, epochs: int) -> int:
    """Fits the model with the TensorBoard callback writing to `log_dir`; returns the vocabulary size."""
    import kerasish
    from kerasish import layers
    from kerasish.callbacks import TensorBoard

    kerasish.utils.set_random_seed(0)
    words, x, y = toy_corpus()
    sentiment = {**{w: "neutral" for w in NEUTRAL}, **{w: "positive" for w in POSITIVE},
                 **{w: "negative" for w in NEGATIVE}}
    # Two columns need a header row (the projector's rule); one row per token id after it.
    (log_dir / "words.tsv").write_text("word\tsentiment\n" + "".join(f"{w}\t{sentiment[w]}\n" for w in words))
    model = kerasish.Sequential([
        layers.Embedding(len(words), 16, input_shape=(x.shape[1],), name="words"),
        layers.GlobalAveragePooling1D(),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=kerasish.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, callbacks=[TensorBoard(
        log_dir=str(log_dir), write_graph=False, embeddings_freq=1, embeddings_metadata="words.tsv")])
    print(f"trained {epochs} epochs: accuracy {history.history['accuracy'][-1]:.3f}")
    return len(words)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_projector(port: int, server: subprocess.Popen, timeout: float = 90.0) -> List[str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"tensorboard exited with code {server.returncode} before serving the projector.")
        try:
            url = f"http://127.0.0.1:{port}/data/plugin/projector/runs"
            with urllib.request.urlopen(url, timeout=5) as r:
                runs = json.loads(r.read())
            if runs:
                return runs
        except OSError:  # not listening yet
            pass
        time.sleep(0.5)
    raise RuntimeError(f"tensorboard on port {port} listed no projector run within {timeout:.0f} s.")


def find_browser(name: Optional[str]) -> str:
    candidates = [name] if name else list(BROWSERS)
    for candidate in candidates:
        path = shutil.which(candidate) or (candidate if os.path.isfile(candidate) else None)
        if path:
            return path
    raise FileNotFoundError(
        f"No Chromium found (looked for {candidates}). Install one (`apt-get install -y chromium` on Debian) "
        "or pass its path with --browser.")


class DevTools:
    """A headless Chromium driven over `--remote-debugging-pipe`: the DevTools protocol with the stdlib only.

    Chromium reads JSON commands on its fd 3 and writes answers and events on its fd 4, each
    message ended by a NUL byte. Commands for the page carry the session id of `attach`.
    """

    def __init__(self, browser: str, width: int, height: int, scale: float = 1.0):
        self._log = tempfile.TemporaryFile()  # Chromium's chatter: a file, since a full pipe would stall it
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()
        # The child's ends go to fds >= 10 first, so bash (dash takes one-digit fds only) can move them
        # onto 3 and 4 without one overwriting the other; a preexec_fn would be unsafe once torch runs threads.
        reads, writes = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child, from_child))
        for fd in (to_child, from_child):
            os.close(fd)
        flags = ["--headless", "--no-sandbox", "--hide-scrollbars", "--remote-debugging-pipe",
                 "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",  # WebGL without a GPU
                 f"--window-size={width},{height}", "about:blank"]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{reads} 4>&{writes} {reads}<&- {writes}>&-', browser, *flags],
            pass_fds=(reads, writes), stdout=subprocess.DEVNULL, stderr=self._log)
        for fd in (reads, writes):
            os.close(fd)
        self._buffer, self._next_id, self.session = b"", 0, None
        self.size, self.scale = (width, height), scale

    def send(self, method: str, timeout: float = 60.0, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.time()
                if left <= 0 or not select.select([self._read], [], [], left)[0]:
                    raise TimeoutError(f"Chromium did not answer {method} within {timeout:.0f} s.")
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    self._log.seek(0)
                    raise RuntimeError(f"Chromium exited while answering {method}:\n{self._log.read()[-2000:].decode()}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next_id:  # anything else is an event nobody asked for
                if "error" in answer:
                    raise RuntimeError(f"{method} failed: {answer['error']}")
                return answer["result"]

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        width, height = self.size
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=self.scale,
                  mobile=False)
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str, timeout: float = 120.0):
        result = self.send("Runtime.evaluate", timeout=timeout, expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"in the page: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def screenshot(self, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        self.session = None
        try:
            self.send("Browser.close", timeout=10)
        except (TimeoutError, RuntimeError, OSError):  # it may exit before answering
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)
        self._log.close()


# The projector is a Polymer app two iframes deep inside TensorBoard's page (all one origin), so
# elements are found by walking shadow roots and iframe documents.
PAGE_SCRIPT = r"""
(async () => {
  const find = (tag) => {
    const stack = [document];
    while (stack.length) {
      const node = stack.pop();
      if (node.tagName === tag) return node;
      if (node.shadowRoot) stack.push(node.shadowRoot);
      if (node.tagName === "IFRAME" && node.contentDocument) stack.push(node.contentDocument);
      stack.push(...(node.children || []));
    }
    return null;
  };
  const until = async (what, test, seconds) => {
    for (let i = 0; i < seconds * 4; i++) {
      if (test()) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error("the projector did not get " + what + " within " + seconds + " s");
  };
  let panel, projector;
  await until("its data panel", () => (panel = find("VZ-PROJECTOR-DATA-PANEL")) &&
      (projector = find("VZ-PROJECTOR")) && panel.tensorNames && panel.tensorNames.length, 60);
  const epoch = (name) => Number(name.split("_").pop());
  const last = panel.tensorNames.map((t) => t.name).sort((a, b) => epoch(a) - epoch(b)).pop();
  panel.selectedTensor = last;
  await until("the tensor " + last + " and its labels", () => projector.dataSet &&
      projector.dataSet.points.length && (panel.colorOptions || []).some((o) => o.name === COLOR), 60);
  panel.selectedColorOptionName = COLOR;
  projector.get3DLabelModeButton().click();  // every point's label, not only the hovered one
  await new Promise((r) => setTimeout(r, 3000));  // let the scatter plot redraw
  return {tensor: last, points: projector.dataSet.points.length};
})()
"""


def screenshot(browser: str, url: str, out: Path, width: int, height: int, scale: float, color_by: str) -> dict:
    chromium = DevTools(browser, width, height, scale)
    try:
        chromium.open(url)
        shown = chromium.evaluate(PAGE_SCRIPT.replace("COLOR", json.dumps(color_by)))
        chromium.screenshot(out)
    finally:
        chromium.close()
    return shown


def main(argv: Optional[List[str]] = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "tensorboard_projector.png")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--browser", default=None, help="path or name of a Chromium/Chrome binary")
    parser.add_argument("--window-size", default="1400,900", help="width,height of the page in CSS pixels")
    parser.add_argument("--scale", type=float, default=2.0, help="device pixels per CSS pixel (2: sharp labels)")
    parser.add_argument("--keep-logdir", type=Path, default=None, help="write the logs here and keep them")
    args = parser.parse_args(argv)

    browser = find_browser(args.browser)  # fail before training when there is no browser
    log_dir = args.keep_logdir or Path(tempfile.mkdtemp(prefix="projector_"))
    log_dir.mkdir(parents=True, exist_ok=True)
    vocabulary = train(log_dir, args.epochs)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir), "--host", "127.0.0.1",
         "--port", str(port), "--reload_interval", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_projector(port, server)
        width, height = (int(v) for v in args.window_size.split(","))
        shown = screenshot(browser, f"http://127.0.0.1:{port}/#projector", args.out, width, height, args.scale,
                           "sentiment")
        if shown["points"] != vocabulary:
            raise RuntimeError(f"the projector showed {shown['points']} points, expected one per word ({vocabulary}).")
        print(f"the projector showed {shown['points']} points of {shown['tensor']}, coloured by sentiment")
    finally:
        server.terminate()
        server.wait(timeout=30)
        if args.keep_logdir is None:
            shutil.rmtree(log_dir, ignore_errors=True)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
