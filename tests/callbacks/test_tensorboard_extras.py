"""TensorBoard's optional outputs: profiler traces, the embedding projector, gradient
histograms, evaluation-vs-iterations and steps-per-second scalars, the model-config and
hparams summaries. Each is read back the way TensorBoard reads it."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from kerasish import Sequential
from kerasish.callbacks import LambdaCallback, TensorBoard
from kerasish.layers import Dense, Embedding, GlobalAveragePooling1D
from kerasish.optimizers import SGD
from tests.callbacks.conftest import tiny_data, tiny_model

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import metadata as hparams_metadata  # noqa: E402


def events(run_dir):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def token_model(vocab=10, name="tokens"):
    model = Sequential([Embedding(vocab, 4, input_shape=(5,), name=name), GlobalAveragePooling1D(), Dense(1)])
    model.compile(optimizer="adam", loss="mse", device="cpu")
    return model


def token_data(n=32, vocab=10):
    rng = np.random.default_rng(0)
    return rng.integers(0, vocab, size=(n, 5)), rng.normal(size=(n, 1)).astype("float32")


# ----------------------------------------------------------------- embedding projector
def test_embeddings_are_written_for_the_projector(tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / "words.tsv").write_text("".join(f"word{i}\n" for i in range(10)))
    model = token_model()
    x, y = token_data()
    cb = TensorBoard(log_dir=str(log_dir), write_graph=False, embeddings_freq=1,
                     embeddings_metadata={"tokens": str(log_dir / "words.tsv")})
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    config = text_format.Parse((log_dir / "projector_config.pbtxt").read_text(),
                               projector_config_pb2.ProjectorConfig())
    assert [e.tensor_name for e in config.embeddings] == ["tokens/embeddings/epoch_0", "tokens/embeddings/epoch_1"]
    last = config.embeddings[1]
    assert last.metadata_path == "words.tsv" and list(last.tensor_shape) == [10, 4]
    written = np.loadtxt(log_dir / last.tensor_path, delimiter="\t", ndmin=2)
    np.testing.assert_allclose(written, model.get_layer("tokens").get_weights()[0], rtol=1e-6, atol=1e-7)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read()


def test_projector_plugin_serves_the_tensor_and_labels(tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / "words.tsv").write_text("".join(f"word{i}\n" for i in range(10)))
    model = token_model()
    x, y = token_data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[TensorBoard(
        log_dir=str(log_dir), write_graph=False, embeddings_freq=1, embeddings_metadata="words.tsv")])
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir), "--host", "127.0.0.1", "--port",
         str(port), "--reload_interval", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        runs, deadline = [], time.time() + 60
        while time.time() < deadline:
            try:
                runs = json.loads(_get(port, "/data/plugin/projector/runs"))
                if runs:
                    break
            except OSError:  # not listening yet
                pass
            time.sleep(0.5)
        assert runs == ["."]
        name = "tokens/embeddings/epoch_0"
        served = np.frombuffer(_get(port, f"/data/plugin/projector/tensor?run=.&name={name}"), dtype="float32")
        np.testing.assert_allclose(served.reshape(10, 4), model.get_layer("tokens").get_weights()[0], rtol=1e-6)
        labels = _get(port, f"/data/plugin/projector/metadata?run=.&name={name}").decode().split()
        assert labels == [f"word{i}" for i in range(10)]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_embeddings_freq_on_a_model_without_embedding_layers_raises(tmp_path):
    x, y = tiny_data()
    with pytest.raises(ValueError, match=r"embeddings_freq is set but model 'sequential.*' has no Embedding layer.*"
                                         r"Pass embeddings_freq=0"):
        tiny_model().fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(str(tmp_path), embeddings_freq=1)])
    assert not (tmp_path / "projector_config.pbtxt").exists()


def test_metadata_for_an_unknown_layer_lists_the_embedding_layers(tmp_path):
    x, y = token_data()
    cb = TensorBoard(str(tmp_path), embeddings_freq=1, embeddings_metadata={"words": "words.tsv"})
    with pytest.raises(ValueError, match=r"Unrecognized Embedding layer names in embeddings_metadata: \['words'\]\. "
                                         r"The model's Embedding layers are \['tokens'\]"):
        token_model().fit(x, y, epochs=1, verbose=0, callbacks=[cb])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"embeddings_metadata": "words.tsv"}, ValueError,
     r"embeddings_metadata='words.tsv' has no effect with embeddings_freq=0.*Pass embeddings_freq=1"),
    ({"embeddings_freq": 1, "embeddings_metadata": 3}, TypeError,
     r"embeddings_metadata must be a file name or a dict .* received embeddings_metadata=3"),
    ({"embeddings_freq": 1, "embeddings_metadata": "/elsewhere/words.tsv"}, ValueError,
     r"embeddings_metadata file '/elsewhere/words.tsv' is outside log_dir='logs'"),
    ({"embeddings_freq": -1}, ValueError, r"embeddings_freq must be an integer >= 0, received embeddings_freq=-1"),
    ({"write_grads": True}, ValueError, r"write_grads=True needs histogram_freq > 0.*Pass histogram_freq=1"),
    ({"hparams": ["adam"]}, TypeError, r"hparams must be True, False/None or a dict .* received hparams=\['adam'\]"),
    ({"hparams": {"layers": [2, 3]}}, TypeError, r"hparams values must be bool, int, float or str .*'layers': \[2, 3\]"),
])
def test_bad_extra_arguments_raise(kwargs, error, message):
    with pytest.raises(error, match=message):
        TensorBoard(log_dir="logs", **kwargs)


# ----------------------------------------------------------------- profiler
def _traces(log_dir):
    folder = log_dir / "train" / "plugins" / "profile"
    return sorted(folder.rglob("*.pt.trace.json")) if folder.exists() else []


@pytest.mark.parametrize("profile_batch", [2, (2, 3), "2,3"])
def test_profile_batch_writes_a_torch_profiler_trace(tmp_path, profile_batch):
    x, y = tiny_data(40)
    calls = []
    probe = LambdaCallback(on_train_batch_end=lambda batch, logs: calls.append(batch))
    tiny_model().fit(x, y, epochs=1, batch_size=8, verbose=0,
                     callbacks=[TensorBoard(str(tmp_path), write_graph=False, profile_batch=profile_batch), probe])
    traces = _traces(tmp_path)
    assert len(traces) == 1 and calls == [0, 1, 2, 3, 4]
    trace = json.loads(traces[0].read_text())
    assert any(event.get("name", "").startswith("aten::") for event in trace["traceEvents"])


def test_profile_range_past_the_last_batch_ends_with_training(tmp_path):
    x, y = tiny_data(16)
    tiny_model().fit(x, y, epochs=1, batch_size=8, verbose=0,
                     callbacks=[TensorBoard(str(tmp_path), write_graph=False, profile_batch=(1, 50))])
    assert len(_traces(tmp_path)) == 1


def test_no_profile_by_default(tmp_path):
    x, y = tiny_data()
    tiny_model().fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(str(tmp_path), write_graph=False)])
    assert _traces(tmp_path) == [] and not (tmp_path / "train" / "plugins").exists()


@pytest.mark.parametrize("profile_batch", [-1, (3, 2), (0, 2), "a,b", 1.5, True, (1, 2, 3)])
def test_bad_profile_batch_raises(profile_batch):
    with pytest.raises(ValueError, match=r"profile_batch must be a non-negative integer or a pair of positive "
                                         r"integers \(start, stop\) with start <= stop, received profile_batch="):
        TensorBoard(log_dir="logs", profile_batch=profile_batch)


# ----------------------------------------------------------------- scalars
def test_evaluation_vs_iterations_scalars(tmp_path):
    x, y = tiny_data(40)
    model = tiny_model(metrics=["mae"])
    cb = TensorBoard(str(tmp_path), write_graph=False)
    # 30 training samples / 8: 4 steps per epoch, so validation runs at iterations 4 and 8.
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0, callbacks=[cb])
    validation = events(tmp_path / "validation")
    for name in ("loss", "mae"):
        assert scalars(validation, f"evaluation_{name}_vs_iterations") == [
            (4, pytest.approx(history.history["val_" + name][0])), (8, pytest.approx(history.history["val_" + name][1]))]
    # A standalone evaluate writes at the optimizer's current step too.
    result = model.evaluate(x, y, verbose=0, callbacks=[TensorBoard(str(tmp_path / "eval"))], return_dict=True)
    assert scalars(events(tmp_path / "eval" / "validation"), "evaluation_loss_vs_iterations") == [
        (8, pytest.approx(result["loss"]))]


def test_steps_per_second_scalars(tmp_path):
    x, y = tiny_data(40)
    cb = TensorBoard(str(tmp_path), write_graph=False, write_steps_per_second=True, update_freq=2)
    tiny_model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])
    train = events(tmp_path / "train")
    epoch_rate = scalars(train, "epoch_steps_per_second")
    assert [s for s, _ in epoch_rate] == [0, 1] and all(v > 0 for _, v in epoch_rate)
    batch_rate = scalars(train, "batch_steps_per_second")
    assert [s for s, _ in batch_rate] == [2, 4, 6, 8, 10] and all(v > 0 for _, v in batch_rate)


# ----------------------------------------------------------------- gradients
def test_gradient_histograms_hold_the_last_batch_gradients(tmp_path):
    x, y = tiny_data(40)
    model = Sequential([Dense(3, input_shape=(3,)), Dense(1)])
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse", device="cpu")
    before = {}
    # SGD without momentum: the last update is -lr * the last batch's gradient.
    probe = LambdaCallback(on_train_batch_begin=lambda batch, logs: before.update(
        {batch: [w.copy() for w in model.get_weights()]}))
    cb = TensorBoard(str(tmp_path), write_graph=False, histogram_freq=1, write_grads=True)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=[probe, cb])
    grads = [(b - a) / 0.1 for b, a in zip(before[4], model.get_weights())]
    train = events(tmp_path / "train")
    assert {"dense/kernel/gradient", "dense/bias/gradient", "dense_1/kernel/gradient"} <= set(
        train.Tags()["histograms"])
    for tag, grad in (("dense/kernel/gradient", grads[0]), ("dense_1/bias/gradient", grads[3])):
        (event,) = train.Histograms(tag)
        h = event.histogram_value
        assert (event.step, h.num) == (0, grad.size)
        assert h.sum == pytest.approx(grad.sum(), rel=1e-4, abs=1e-6)
        assert (h.min, h.max) == (pytest.approx(grad.min(), rel=1e-4, abs=1e-6),
                                  pytest.approx(grad.max(), rel=1e-4, abs=1e-6))


def test_no_gradient_histograms_by_default(tmp_path):
    x, y = tiny_data()
    tiny_model().fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(str(tmp_path), histogram_freq=1)])
    tags = events(tmp_path / "train").Tags()["histograms"]
    assert tags and not any(t.endswith("/gradient") for t in tags)


# ----------------------------------------------------------------- model config and hparams
def test_model_config_summary_under_the_keras_tag(tmp_path):
    x, y = tiny_data()
    model = tiny_model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(str(tmp_path))])
    train = events(tmp_path / "train")
    assert train.SummaryMetadata("keras").plugin_data.plugin_name == "graph_keras_model"
    (event,) = train.Tensors("keras")
    assert event.step == 0
    assert json.loads(event.tensor_proto.string_val[0]) == json.loads(model.to_json())


def test_no_model_config_summary_without_write_graph(tmp_path):
    x, y = tiny_data()
    tiny_model().fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(str(tmp_path), write_graph=False)])
    assert "keras" not in events(tmp_path / "train").Tags()["tensors"]


def test_hparams_summary_of_the_compile_and_fit_settings(tmp_path):
    x, y = tiny_data(40)
    model = tiny_model(metrics=["mae"])
    cb = TensorBoard(str(tmp_path), write_graph=False, hparams={"units": 4, "note": "baseline"})
    model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0, callbacks=[cb])
    root = events(tmp_path)
    content = root.PluginTagToContent("hparams")
    start = hparams_metadata.parse_session_start_info_plugin_data(content[hparams_metadata.SESSION_START_INFO_TAG])
    values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    assert values == {"optimizer": "adam", "learning_rate": pytest.approx(0.001), "loss": "mean_squared_error",
                      "epochs": 2, "steps_per_epoch": 4, "units": 4, "note": "baseline"}
    experiment = hparams_metadata.parse_experiment_plugin_data(content[hparams_metadata.EXPERIMENT_TAG])
    assert {i.name for i in experiment.hparam_infos} == set(values)
    assert [(m.name.group, m.name.tag) for m in experiment.metric_infos] == [
        ("train", "epoch_loss"), ("train", "epoch_mae"), ("validation", "epoch_loss"), ("validation", "epoch_mae")]
    end = hparams_metadata.parse_session_end_info_plugin_data(content[hparams_metadata.SESSION_END_INFO_TAG])
    assert end.status == 1  # STATUS_SUCCESS


def test_no_hparams_by_default(tmp_path):
    x, y = tiny_data()
    tiny_model().fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(str(tmp_path), write_graph=False)])
    assert sorted(os.listdir(tmp_path)) == ["train"]


def test_a_profiler_that_cannot_start_warns_and_training_goes_on(tmp_path, monkeypatch):
    import torch.profiler

    def refuse(self):
        raise RuntimeError("profiler already in use")

    monkeypatch.setattr(torch.profiler.profile, "start", refuse)
    x, y = tiny_data(16)
    with pytest.warns(UserWarning, match=r"could not start the profiler \(profiler already in use\).*profile_batch=0"):
        history = tiny_model().fit(x, y, epochs=2, batch_size=8, verbose=0,
                                   callbacks=[TensorBoard(str(tmp_path), write_graph=False, profile_batch=1)])
    assert len(history.history["loss"]) == 2 and _traces(tmp_path) == []


def test_a_second_fit_rewrites_its_epochs_in_the_projector_config(tmp_path):
    model, (x, y) = token_model(), token_data()
    cb = TensorBoard(log_dir=str(tmp_path), write_graph=False, embeddings_freq=1)
    for _ in range(2):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), projector_config_pb2.ProjectorConfig())
    assert [e.tensor_name for e in config.embeddings] == ["tokens/embeddings/epoch_0"]
    written = np.loadtxt(tmp_path / config.embeddings[0].tensor_path, delimiter="\t", ndmin=2)
    np.testing.assert_allclose(written, model.get_layer("tokens").get_weights()[0], rtol=1e-6, atol=1e-7)
