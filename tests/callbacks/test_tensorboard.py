import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import torch

from kerasish import Model
from kerasish.callbacks import TensorBoard, log_activations
from tests.callbacks.conftest import tiny_data, tiny_model

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def events(run_dir):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


@pytest.fixture
def trained(tmp_path):
    x, y = tiny_data(40)
    model = tiny_model(metrics=["mae"])
    cb = TensorBoard(log_dir=str(tmp_path / "logs"), histogram_freq=1, write_images=True, update_freq=2)
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0, callbacks=[cb])
    return tmp_path / "logs", history


def test_epoch_scalars_in_train_and_validation_runs(trained):
    log_dir, history = trained
    assert sorted(os.listdir(log_dir)) == ["train", "validation"]
    train, validation = events(log_dir / "train"), events(log_dir / "validation")
    for name in ("loss", "mae"):
        assert scalars(train, "epoch_" + name) == [(e, pytest.approx(v)) for e, v in enumerate(history.history[name])]
        assert scalars(validation, "epoch_" + name) == [
            (e, pytest.approx(v)) for e, v in enumerate(history.history["val_" + name])]
    assert scalars(train, "epoch_learning_rate") == [(0, pytest.approx(0.001)), (1, pytest.approx(0.001))]
    assert "epoch_learning_rate" not in validation.Tags()["scalars"]


def test_batch_scalars_every_update_freq_batches(trained):
    log_dir, _ = trained
    train = events(log_dir / "train")
    # 30 training samples / 8 = 4 batches per epoch, 8 in all; update_freq=2 writes at 2, 4, 6, 8.
    assert [step for step, _ in scalars(train, "batch_loss")] == [2, 4, 6, 8]
    assert "batch_mae" in train.Tags()["scalars"]


def test_histograms_images_and_graph(trained):
    log_dir, _ = trained
    tags = events(log_dir / "train").Tags()
    assert {"dense/kernel/histogram", "dense/bias/histogram"} <= set(tags["histograms"])
    assert "dense/kernel/image" in tags["images"]
    assert tags["graph"] is True
    assert tags["histograms"] and len(events(log_dir / "train").Histograms("dense/kernel/histogram")) == 2


def test_nothing_extra_by_default(tmp_path):
    x, y = tiny_data()
    tiny_model().fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(log_dir=str(tmp_path), write_graph=False)])
    tags = events(tmp_path / "train").Tags()
    assert tags["histograms"] == [] and tags["images"] == [] and tags["graph"] is False
    assert not any(t.startswith("batch_") for t in tags["scalars"])
    assert not os.path.exists(tmp_path / "validation")


def test_activation_images_through_the_callback(tmp_path):
    x, y = tiny_data()
    model = tiny_model()
    cb = TensorBoard(log_dir=str(tmp_path), write_graph=False, activation_samples=x[:3],
                     activation_layers=[model.layers[0].name])
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    tags = events(tmp_path / "train").Tags()["images"]
    assert [t for t in tags if t.startswith("activations/")] == [
        f"activations/{model.layers[0].name}/sample_{i}" for i in range(3)]


def test_log_activations_helper_on_a_conv_module(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 2))
    model = Model(net)
    tags = log_activations(str(tmp_path), model, "module.0", np.random.rand(2, 1, 8, 8).astype("float32"), step=5)
    assert tags == ["activations/module.0/sample_0", "activations/module.0/sample_1"]
    image = events(tmp_path).Images("activations/module.0/sample_0")[0]
    # 4 channels of 6x6 maps, tiled 2 x 2 with a 1-pixel gap: 13 x 13.
    assert (image.step, image.width, image.height) == (5, 13, 13)


def test_unknown_activation_layer_lists_names(tmp_path):
    with pytest.raises(ValueError, match=r"No layer named 'conv' in model .* Layers: .*dense"):
        log_activations(str(tmp_path), tiny_model(), "conv", np.ones((1, 3), "float32"))


def test_graph_is_skipped_with_a_warning_when_the_input_shape_is_unknown(tmp_path):
    model = Model(torch.nn.Linear(3, 1))
    model.compile(optimizer="sgd", loss="mse", device="cpu")
    x, y = tiny_data()
    with pytest.warns(UserWarning, match=r"could not write the model graph: the model's input shape is not known"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(log_dir=str(tmp_path))])


@pytest.mark.parametrize("kwargs, message", [
    ({"update_freq": "sometimes"}, r"update_freq must be 'epoch', 'batch' or a positive integer, received "
                                   r"update_freq='sometimes'"),
    ({"histogram_freq": -1}, r"histogram_freq must be an integer >= 0, received histogram_freq=-1"),
    ({"activation_layers": ["dense"]}, r"activation_samples and activation_layers go together"),
])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TensorBoard(**kwargs)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_server_serves_the_scalar_tags(trained):
    log_dir, _ = trained
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir), "--host", "127.0.0.1", "--port",
         str(port), "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        tags, deadline = {}, time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/scalars/tags", timeout=5) as r:
                    tags = json.loads(r.read())
                if "train" in tags and "validation" in tags:
                    break
            except OSError:  # not listening yet
                pass
            time.sleep(0.5)
        assert {"epoch_loss", "epoch_mae", "epoch_learning_rate", "batch_loss"} <= set(tags["train"])
        assert {"epoch_loss", "epoch_mae"} <= set(tags["validation"])
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_missing_tensorboard_package_is_explained(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r"needs the tensorboard package .*pip install \"kerasish\[tensorboard\]\""):
        TensorBoard(log_dir=str(tmp_path))  # at construction, before any training
    assert os.listdir(tmp_path) == []


def test_profile_and_embedding_arguments_are_honoured_not_ignored(recwarn):
    # Keras's legacy 'start,stop' string is accepted; tests/callbacks/test_tensorboard_extras.py checks the outputs.
    cb = TensorBoard(log_dir="unused", profile_batch="500,520", embeddings_freq=2)
    assert (cb.profile_batch, cb.embeddings_freq) == ("500,520", 2)
    assert not [w for w in recwarn if "TensorBoard" in str(w.message)]


def test_batch_scalars_continue_across_fit_calls(tmp_path):
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from kerasish.callbacks import TensorBoard
    from kerasish.layers import Dense
    from kerasish.models import Sequential

    x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer="adam", loss="mse")
    for _ in range(2):
        model.fit(x, x[:, :1], batch_size=10, epochs=1, verbose=0,
                  callbacks=[TensorBoard(log_dir=str(tmp_path), update_freq="batch")])
    steps = []
    for events in sorted((tmp_path / "train").glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        steps += [e.step for e in acc.Scalars("batch_loss")]
    assert sorted(steps) == list(range(1, 9))
