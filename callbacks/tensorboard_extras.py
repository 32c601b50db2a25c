"""The TensorBoard callback's optional outputs: profiler traces, the embedding projector,
gradient histograms, the model-config summary and the hparams summary.

Each piece is built on first use: with its option off, the callback pays nothing per batch.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from kerasish.utils.io import atomic_write

PROJECTOR_FILENAME = "projector_config.pbtxt"
_HPARAM_TYPES = (bool, int, float, str)


# ----------------------------------------------------------------- summaries written as raw protobufs
def add_summary(writer: Any, summary: Any, step: int) -> None:
    """Appends a tensorboard `Summary` protobuf to a `SummaryWriter`'s event file."""
    # torch's own add_hparams goes through the same file writer; there is no public accessor.
    writer._get_file_writer().add_summary(summary, step)


def keras_model_summary(model: Any) -> Optional[Any]:
    """The `keras` text summary Keras writes: the model's JSON config, read by TensorBoard's
    graph plugin (`graph_keras_model`) to draw the conceptual graph.

    Keras writes it for Sequential and Functional models only; a model whose config does not
    serialise gets a warning and no summary, as in Keras.
    """
    if type(model).__name__ not in ("Sequential", "Functional"):
        return None
    try:
        text = model.to_json()
    except Exception as e:  # noqa: BLE001 - any config error; the summary is optional, as in Keras
        warnings.warn(f"TensorBoard skipped the model's config summary: the model failed to serialise as JSON "
                      f"({type(e).__name__}: {e}). Pass write_graph=False to silence this.", stacklevel=3)
        return None
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(
        plugin_name="graph_keras_model", content=b"1"))
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                                    string_val=[text.encode("utf-8")])
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="keras", metadata=metadata, tensor=tensor)])


# ----------------------------------------------------------------- hparams
def check_hparams(hparams: Any) -> Dict[str, Any]:
    """Validates the callback's `hparams` argument; returns the user's extra values ({} for True)."""
    if hparams is None or hparams is False or hparams is True:
        return {}
    if not isinstance(hparams, Mapping):
        raise TypeError(
            f"hparams must be True, False/None or a dict of name -> value, received hparams={hparams!r} of type "
            f"{type(hparams).__name__}. Example: hparams={{'dropout': 0.2}} (logged with the compile/fit settings).")
    bad = {k: v for k, v in hparams.items() if not isinstance(k, str) or not isinstance(v, _HPARAM_TYPES)}
    if bad:
        raise TypeError(
            f"hparams values must be bool, int, float or str under string names, received "
            f"{', '.join(f'{k!r}: {v!r}' for k, v in bad.items())}. Convert them, e.g. str(value).")
    return dict(hparams)


def fit_hparams(model: Any, params: Mapping[str, Any], extra: Mapping[str, Any]) -> Dict[str, Any]:
    """The compile/fit settings logged as hparams: optimizer, learning_rate, loss, epochs,
    steps_per_epoch and batch_size (when the loop reports it), plus the user's `extra`."""
    values: Dict[str, Any] = {}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        values["optimizer"] = str(getattr(optimizer, "name", None) or type(optimizer).__name__)
        try:
            values["learning_rate"] = float(optimizer.learning_rate)  # host read: once per fit
        except (TypeError, ValueError, AttributeError):  # a schedule object without a current value
            pass
    loss = getattr(model, "loss", None)
    if loss is not None:
        values["loss"] = loss if isinstance(loss, str) else str(getattr(loss, "name", None) or type(loss).__name__)
    for key, name in (("epochs", "epochs"), ("steps", "steps_per_epoch"), ("batch_size", "batch_size")):
        if isinstance(params.get(key), int):
            values[name] = params[key]
    values.update(extra)
    return values


def _hparams_summary(tag: str, **content: Any) -> Any:
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData(**content)
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR)])


def session_start_summary(values: Mapping[str, Any]) -> Any:
    """The hparams plugin's session-start record: this run's hyperparameter values."""
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    info = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for name, value in values.items():
        if isinstance(value, bool):
            info.hparams[name].bool_value = value
        elif isinstance(value, str):
            info.hparams[name].string_value = value
        else:
            info.hparams[name].number_value = float(value)
    return _hparams_summary(metadata.SESSION_START_INFO_TAG, session_start_info=info)


def experiment_summary(values: Mapping[str, Any], metric_names: Sequence[str]) -> Any:
    """The hparams plugin's experiment record: the hparams' types and the metrics to show,
    `epoch_<name>` in the `train` and `validation` runs."""
    from tensorboard.plugins.hparams import api_pb2, metadata

    kinds = {bool: api_pb2.DATA_TYPE_BOOL, str: api_pb2.DATA_TYPE_STRING}
    infos = [api_pb2.HParamInfo(name=n, type=kinds.get(type(v), api_pb2.DATA_TYPE_FLOAT64))
             for n, v in values.items()]
    metrics = []
    for name in metric_names:
        group, tag = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
        metrics.append(api_pb2.MetricInfo(name=api_pb2.MetricName(group=group, tag="epoch_" + tag)))
    return _hparams_summary(metadata.EXPERIMENT_TAG,
                            experiment=api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics))


def session_end_summary() -> Any:
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    info = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=time.time())
    return _hparams_summary(metadata.SESSION_END_INFO_TAG, session_end_info=info)


# ----------------------------------------------------------------- profiler
def parse_profile_batch(profile_batch: Any) -> Tuple[int, int]:
    """Keras's `profile_batch` forms (an int, a (start, stop) pair, or the legacy 'start,stop'
    string) as 1-based (start, stop) batch numbers; (0, 0) means off."""
    message = (f"profile_batch must be a non-negative integer or a pair of positive integers (start, stop) with "
               f"start <= stop, received profile_batch={profile_batch!r}. Example: profile_batch=5 profiles the "
               f"5th batch, profile_batch=(10, 20) batches 10 to 20 of each fit; 0 turns profiling off.")
    value = profile_batch
    if isinstance(value, str):
        try:
            value = [int(part) for part in value.split(",")]
        except ValueError:
            raise ValueError(message) from None
        value = value[0] if len(value) == 1 else value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        start = stop = int(value)
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        start, stop = int(value[0]), int(value[1])
        if start < 1:
            raise ValueError(message)
    else:
        raise ValueError(message)
    if start < 0 or stop < start:
        raise ValueError(message)
    return start, stop


class Profiler:
    """A `torch.profiler` session over a range of batches, saved for TensorBoard.

    The trace goes to `<folder>/<YYYY_MM_DD_HH_MM_SS>/<worker>.<time>.pt.trace.json`
    through `torch.profiler.tensorboard_trace_handler` (open it with the torch-tb-profiler
    TensorBoard plugin, or in Perfetto / chrome://tracing).
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._session: Any = None

    @property
    def running(self) -> bool:
        return self._session is not None

    def start(self) -> None:
        from torch.profiler import ProfilerActivity, profile, tensorboard_trace_handler

        activities = [ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(ProfilerActivity.CUDA)
        run = os.path.join(self.folder, time.strftime("%Y_%m_%d_%H_%M_%S"))
        session = profile(activities=activities, on_trace_ready=tensorboard_trace_handler(run), record_shapes=True)
        try:
            session.start()
        except RuntimeError as e:  # e.g. another torch.profiler session is active; as Keras, not fatal
            warnings.warn(f"TensorBoard could not start the profiler ({e}); training goes on without a trace. "
                          "Stop the other profiler session, or pass profile_batch=0.", stacklevel=4)
            return
        self._session = session

    def stop(self) -> None:
        if self._session is None:
            return
        session, self._session = self._session, None
        session.stop()  # writes the trace (on_trace_ready)


# ----------------------------------------------------------------- gradients
def tag_of(name: str) -> str:
    """A parameter's TensorBoard tag: the container prefixes dropped, dots as slashes."""
    for prefix in ("layers.", "module."):  # Sequential's / Model(module)'s container names
        name = name[len(prefix):] if name.startswith(prefix) else name
    return name.replace(".", "/")


class GradientCapture:
    """Keeps a reference to each trainable weight's latest gradient (no copy, no host sync).

    A post-accumulate-grad hook per weight stores `param.grad` after each backward; the
    trainer then clears `.grad` to None, so the stored tensors are the last batch's
    gradients (as the optimizer used them: in-place clipping shows). Costs one Python call
    per weight per batch and one gradient's worth of memory while attached.
    """

    def __init__(self) -> None:
        self.grads: Dict[str, torch.Tensor] = {}
        self._handles: List[Any] = []

    def attach(self, model: torch.nn.Module) -> None:
        self.detach()
        for name, param in model.named_parameters():
            if param.requires_grad:
                self._handles.append(param.register_post_accumulate_grad_hook(self._keeper(tag_of(name))))

    def _keeper(self, tag: str) -> Any:
        def keep(param: torch.Tensor) -> None:
            self.grads[tag] = param.grad
        return keep

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def take(self) -> Dict[str, torch.Tensor]:
        grads, self.grads = self.grads, {}
        return grads


# ----------------------------------------------------------------- embedding projector
def embedding_layers(model: Any) -> List[Any]:
    """The model's `Embedding` layers (nested ones included), in order."""
    from kerasish.layers.embedding import Embedding

    return [m for m in model.modules() if isinstance(m, Embedding)]


def check_embeddings(model: Any, metadata: Any) -> List[Any]:
    """Raises when `embeddings_freq` cannot be honoured for `model`; returns its Embedding layers."""
    layers = embedding_layers(model)
    if not layers:
        raise ValueError(
            f"embeddings_freq is set but model {getattr(model, 'name', type(model).__name__)!r} has no Embedding "
            "layer, so there is nothing for the projector to show. Pass embeddings_freq=0, or add a "
            "kerasish.layers.Embedding layer.")
    if isinstance(metadata, Mapping):
        names = [layer.name for layer in layers]
        unknown = [k for k in metadata if k not in names]
        if unknown:
            raise ValueError(
                f"Unrecognized Embedding layer names in embeddings_metadata: {unknown}. The model's Embedding "
                f"layers are {names}. Use those names as the dict's keys.")
    return layers


def check_metadata_argument(embeddings_metadata: Any, embeddings_freq: int, log_dir: str) -> None:
    if embeddings_metadata is None:
        return
    paths = (list(embeddings_metadata.values()) if isinstance(embeddings_metadata, Mapping)
             else [embeddings_metadata])
    if not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise TypeError(
            f"embeddings_metadata must be a file name or a dict of Embedding layer name -> file name, received "
            f"embeddings_metadata={embeddings_metadata!r}. Example: embeddings_metadata='metadata.tsv' (a file "
            "inside log_dir with one label per row of the embedding matrix).")
    if not embeddings_freq:
        raise ValueError(
            f"embeddings_metadata={embeddings_metadata!r} has no effect with embeddings_freq=0: no embeddings "
            "are written. Pass embeddings_freq=1 (every epoch) or drop embeddings_metadata.")
    root = os.path.realpath(log_dir)
    for path in paths:
        path = os.fspath(path)
        if os.path.isabs(path) and os.path.commonpath([root, os.path.realpath(path)]) != root:
            raise ValueError(
                f"embeddings_metadata file {path!r} is outside log_dir={log_dir!r}; the projector only reads files "
                "inside the log folder. Write the labels file into log_dir (e.g. os.path.join(log_dir, "
                "'metadata.tsv')) or pass a path relative to log_dir.")


def write_embeddings(log_dir: str, layers: Sequence[Any], epoch: int, metadata: Any,
                     entries: List[Any]) -> None:
    """Writes each layer's matrix as a TSV file and (re)writes the projector config.

    Files: `log_dir/train/embeddings/<layer>/epoch_<epoch>.tsv`, and `log_dir/projector_config.pbtxt`
    (where Keras writes it) listing one tensor per layer and written epoch, named
    `<layer>/embeddings/epoch_<epoch>`. Paths in the config are relative to `log_dir`: the
    projector reads files inside it only, so `embeddings_metadata` names files there.
    """
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    for layer in layers:
        # host copy: every embeddings_freq epochs
        matrix = layer.embeddings.detach().float().cpu().numpy()
        relative = os.path.join("train", "embeddings", layer.name, f"epoch_{epoch}.tsv")
        path = os.path.join(log_dir, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_write(path, "w") as f:
            np.savetxt(f, matrix, delimiter="\t", fmt="%.7g")
        entry = projector_config_pb2.EmbeddingInfo(
            tensor_name=f"{layer.name}/embeddings/epoch_{epoch}", tensor_path=relative,
            tensor_shape=list(matrix.shape))
        path_of = metadata.get(layer.name) if isinstance(metadata, Mapping) else metadata
        if path_of is not None:
            entry.metadata_path = _relative_to(log_dir, os.fspath(path_of))
        entries[:] = [e for e in entries if e.tensor_name != entry.tensor_name] + [entry]  # a later fit's epoch 0
    config = projector_config_pb2.ProjectorConfig(embeddings=entries)
    with atomic_write(os.path.join(log_dir, PROJECTOR_FILENAME), "w") as f:
        f.write(text_format.MessageToString(config))


def _relative_to(log_dir: str, path: str) -> str:
    # The projector resolves relative paths against the config's folder and refuses files outside it.
    return os.path.relpath(os.path.realpath(path), os.path.realpath(log_dir)) if os.path.isabs(path) else path
