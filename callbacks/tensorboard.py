"""TensorBoard: scalars, histograms, images and the graph for the TensorBoard app.

Also `log_activations`, which logs a layer's outputs for a few sample inputs as images.
The optional outputs (profiles, embeddings, gradients, hparams) live in `tensorboard_extras`.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import torch

from kerasish import distributed
from kerasish.callbacks import tensorboard_extras as extras
from kerasish.callbacks.callback import Callback, rate_holders


def _writer_class() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ImportError(
            f"The TensorBoard callback needs the tensorboard package ({e}). Install it with "
            '`pip install "kerasish[tensorboard]"` (or `pip install tensorboard`).') from None
    return SummaryWriter


def _summary_writer(log_dir: str) -> Any:
    return _writer_class()(log_dir=log_dir)


def _find_layer(model: torch.nn.Module, layer_name: str) -> torch.nn.Module:
    names = []
    for path, module in model.named_modules():
        name = getattr(module, "name", None)
        if layer_name in (name, path) and module is not model:
            return module
        if module is not model:
            names.append(name if isinstance(name, str) else path)
    raise ValueError(
        f"No layer named {layer_name!r} in model {getattr(model, 'name', type(model).__name__)!r}. Layers: "
        f"{', '.join(dict.fromkeys(names))}. Pass one of these names (a kerasish layer's name or a module path).")


def _to_image_grid(maps: torch.Tensor) -> torch.Tensor:
    """(C, H, W) feature maps → one (H', W') image tiling them, each scaled to [0, 1]."""
    c, h, w = maps.shape
    flat = maps.reshape(c, -1)
    lo, hi = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
    maps = ((flat - lo) / (hi - lo).clamp_min(1e-12)).reshape(c, h, w)
    cols = int(c ** 0.5 + 0.999999)
    rows = (c + cols - 1) // cols
    grid = torch.zeros(rows * (h + 1) - 1, cols * (w + 1) - 1)
    for i in range(c):
        r, col = divmod(i, cols)
        grid[r * (h + 1): r * (h + 1) + h, col * (w + 1): col * (w + 1) + w] = maps[i]
    return grid


def _activation_images(output: torch.Tensor, channels_last: bool) -> List[torch.Tensor]:
    out = output.detach().float().cpu()
    images = []
    for sample in out:
        if sample.dim() == 3:  # an image-like map: one tile per channel
            images.append(_to_image_grid(sample.permute(2, 0, 1) if channels_last else sample))
        elif sample.dim() == 2:  # a sequence (steps, features)
            images.append(_to_image_grid(sample.unsqueeze(0)))
        else:  # a vector: a one-row strip
            images.append(_to_image_grid(sample.reshape(1, 1, -1)))
    return images


def log_activations(writer_or_logdir: Any, model: torch.nn.Module, layer_name: str, x: Any,
                    step: int = 0) -> List[str]:
    """Logs the outputs of one layer for sample inputs as images (one image per sample).

    A forward hook captures the layer's output while `model` runs on `x` in eval mode
    without gradients. 4-D outputs become a grid of feature maps, one tile per channel
    (kerasish layers are channels-last, plain torch modules channels-first); 2-D and
    3-D outputs become strips. Tags read `activations/<layer_name>/sample_<i>`.

    Args:
        writer_or_logdir: a `torch.utils.tensorboard.SummaryWriter` or a folder to write to.
        model: the model (any torch module).
        layer_name: a kerasish layer's `name` (e.g. 'conv2d') or a module path.
        x: a few sample inputs (array or tensor, batch first).
        step: the step shown in TensorBoard (e.g. the epoch). Defaults to `0`.

    Returns:
        The tags written.

    Raises:
        ValueError: if no layer has that name (the valid names are listed).

    Example:
        >>> import numpy as np, tempfile
        >>> from kerasish import Sequential
        >>> from kerasish.layers import Dense
        >>> model = Sequential([Dense(4, input_shape=(3,), name="hidden")])
        >>> log_activations(tempfile.mkdtemp(), model, "hidden", np.ones((2, 3), "float32"))
        ['activations/hidden/sample_0', 'activations/hidden/sample_1']
    """
    layer = _find_layer(model, layer_name)
    captured: List[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _inp, out: captured.append(out[0] if isinstance(out, tuple) else out))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    inputs = torch.as_tensor(x).to(device)
    if inputs.is_floating_point() is False and getattr(model, "casts_integer_inputs", lambda: True)():
        inputs = inputs.float()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        handle.remove()
        model.train(was_training)
    channels_last = getattr(layer, "data_format", "channels_last" if hasattr(layer, "get_config") else
                            "channels_first") == "channels_last"
    own = isinstance(writer_or_logdir, (str, os.PathLike))
    writer = _summary_writer(os.fspath(writer_or_logdir)) if own else writer_or_logdir
    tags = []
    try:
        for i, image in enumerate(_activation_images(captured[0], channels_last)):
            tag = f"activations/{layer_name}/sample_{i}"
            writer.add_image(tag, image, global_step=step, dataformats="HW")
            tags.append(tag)
        writer.flush()
    finally:
        if own:
            writer.close()
    return tags


class TensorBoard(Callback):
    """Writes logs for TensorBoard: `log_dir/train` and `log_dir/validation` runs, as Keras does.

    Epoch scalars are tagged `epoch_<name>` (`epoch_loss`, `epoch_accuracy`, ...); the
    validation run gets the `val_` values under the same tags without the prefix, and
    the train run also gets `epoch_learning_rate`. With `update_freq='batch'` or an
    integer N, the running means are also written every N batches as `batch_<name>`
    (each write reads the batch logs: one host sync per write). Every evaluation (the
    validation in fit, or `evaluate`) also writes `evaluation_<name>_vs_iterations` to the
    validation run at step `optimizer.iterations`. With `write_graph`, Sequential and
    Functional models also get Keras's `keras` summary (the model's JSON config, drawn by
    the graph plugin's conceptual view). View them with `tensorboard --logdir logs`.

    Optional outputs, each free per batch when off:
    - `profile_batch`: a `torch.profiler` trace of those batches (1-based, counted per fit)
      in `log_dir/train/plugins/profile/<time>/*.pt.trace.json` (the torch-tb-profiler plugin,
      Perfetto or chrome://tracing open it).
    - `embeddings_freq`: each `Embedding` layer's matrix as `log_dir/train/embeddings/<layer>/
      epoch_<epoch>.tsv`, listed in `log_dir/projector_config.pbtxt` for the projector, with
      labels from `embeddings_metadata`.
    - `write_grads`: gradient histograms `<weight>/gradient` with the weight histograms
      (the last batch of the epoch; a hook per weight keeps a reference, no host sync).
    - `hparams`: the compile/fit settings (optimizer, learning_rate, loss, epochs,
      steps_per_epoch) for the HParams dashboard, in a run at `log_dir` itself.

    Args:
        log_dir: the folder for the event files. Defaults to `'logs'`.
        histogram_freq: write weight histograms every this many epochs (0: never). Defaults to `0`.
        write_graph: write the model graph (traced on zeros of the input shape; skipped with a
            warning when tracing fails or the input shape is unknown). Defaults to `True`.
        write_images: write the weights as images (with the histograms). Defaults to `False`.
        write_steps_per_second: log training steps per second. Defaults to `False`.
        update_freq: 'epoch', 'batch', or an integer number of batches. Defaults to `'epoch'`.
        profile_batch: the batch to profile (1-based, e.g. `5`), a `(start, stop)` pair of
            batches, or Keras's legacy `'start,stop'` string; `0` turns profiling off.
            Defaults to `0`.
        embeddings_freq: write the Embedding layers' matrices every this many epochs (0:
            never). Defaults to `0`.
        embeddings_metadata: a labels file (one label per row, one row per token id) for every
            Embedding layer, or a dict of layer name -> file. Paths are relative to `log_dir`
            (the projector reads files inside it only). Defaults to `None`.
        activation_samples: kerasish extra: a few inputs whose `activation_layers` outputs are
            logged as images every epoch (see `log_activations`). Defaults to `None`.
        activation_layers: names of the layers for `activation_samples`. Defaults to `None`.
        write_grads: Keras 2's option: also write gradient histograms (needs
            `histogram_freq > 0`). Defaults to `False`.
        hparams: `True` to log the compile/fit settings for the HParams dashboard, or a dict
            of extra name -> value (bool, int, float, str) logged with them. Defaults to `None`.

    Raises:
        ImportError: when the tensorboard package is not installed.
        ValueError: for a bad `update_freq`, `histogram_freq`, `profile_batch` or
            `embeddings_freq`, `activation_samples` without `activation_layers`,
            `write_grads` without `histogram_freq`, `embeddings_metadata` without
            `embeddings_freq`, and (when fit starts) `embeddings_freq` on a model without
            an Embedding layer or metadata for a layer it lacks.
        TypeError: for a badly typed `embeddings_metadata` or `hparams`.

    Example:
        >>> tensorboard_callback = TensorBoard(log_dir="logs/fit", histogram_freq=1)
    """

    def __init__(self, log_dir: Union[str, "os.PathLike[str]"] = "logs", histogram_freq: int = 0,
                 write_graph: bool = True, write_images: bool = False, write_steps_per_second: bool = False,
                 update_freq: Union[str, int] = "epoch", profile_batch: Any = 0, embeddings_freq: int = 0,
                 embeddings_metadata: Any = None, *, activation_samples: Any = None,
                 activation_layers: Optional[Sequence[str]] = None, write_grads: bool = False,
                 hparams: Any = None) -> None:
        super().__init__()
        _writer_class()  # fail here, before training, when the tensorboard package is missing
        self._profile_range = extras.parse_profile_batch(profile_batch)
        if isinstance(embeddings_freq, bool) or not isinstance(embeddings_freq, int) or embeddings_freq < 0:
            raise ValueError(
                f"embeddings_freq must be an integer >= 0, received embeddings_freq={embeddings_freq!r}. "
                "Use 0 for no embeddings or 1 for every epoch.")
        extras.check_metadata_argument(embeddings_metadata, embeddings_freq, os.fspath(log_dir))
        self._extra_hparams = extras.check_hparams(hparams)
        self._write_hparams = hparams is True or isinstance(hparams, Mapping)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                       or update_freq < 1):
            raise ValueError(
                f"update_freq must be 'epoch', 'batch' or a positive integer, received update_freq={update_freq!r}. "
                "Example: update_freq=100 writes batch scalars every 100 batches.")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(
                f"histogram_freq must be an integer >= 0, received histogram_freq={histogram_freq!r}. "
                "Use 0 for no histograms or 1 for every epoch.")
        if write_grads and not histogram_freq:
            raise ValueError(
                "write_grads=True needs histogram_freq > 0: gradient histograms are written with the weight "
                "histograms, received histogram_freq=0. Pass histogram_freq=1 (every epoch).")
        if (activation_samples is None) != (not activation_layers):
            raise ValueError(
                f"activation_samples and activation_layers go together, received activation_samples="
                f"{'None' if activation_samples is None else 'an array'} and activation_layers={activation_layers!r}. "
                "Pass both, e.g. activation_samples=x_train[:4], activation_layers=['conv2d'].")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self.activation_samples = activation_samples
        self.activation_layers = list(activation_layers or [])
        self.profile_batch = profile_batch
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self.write_grads = write_grads
        self.hparams = hparams
        self._writers: Dict[str, Any] = {}
        self._profiler: Optional[extras.Profiler] = None
        self._fit_batch = 0
        self._grads: Optional[extras.GradientCapture] = None
        self._embedding_entries: List[Any] = []
        self._metric_names: List[str] = []
        self._hparam_values: Dict[str, Any] = {}
        self._global_train_batch = 0
        self._epoch_start = 0.0
        self._batch_start = 0.0
        self._batches_in_epoch = 0

    def _writer(self, run: str) -> Any:
        if run not in self._writers:
            self._writers[run] = _summary_writer(os.path.join(self.log_dir, run))
        return self._writers[run]

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        if self.embeddings_freq:  # Keras configures the projector here, before training
            extras.check_embeddings(model, self.embeddings_metadata)

    # ----------------------------------------------------------------- hooks
    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        # Batch scalars continue from the optimizer's step count (as Keras uses
        # optimizer.iterations), so a second fit() does not draw over the first one's curve.
        optimizer = getattr(self.model, "optimizer", None)
        self._global_train_batch = int(getattr(optimizer, "iterations", 0) or 0)
        self._fit_batch = 0  # profile_batch counts the batches of each fit from 1, as Keras
        self._metric_names = []
        if not distributed.is_main_process():  # data-parallel runs: rank 0 writes
            return
        self._writer("train")
        if self.write_graph:
            summary = extras.keras_model_summary(self.model)
            if summary is not None:
                extras.add_summary(self._writer("train"), summary, 0)
            self._write_graph()
        if self._write_hparams:
            self._hparam_values = extras.fit_hparams(self.model, self.params, self._extra_hparams)
            extras.add_summary(self._writer("."), extras.session_start_summary(self._hparam_values), 0)
        if self._profile_range[0] == 1:
            self._start_profiler()

    def on_epoch_begin(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._epoch_start = self._batch_start = time.perf_counter()
        self._batches_in_epoch = 0
        if self.write_grads and epoch % self.histogram_freq == 0 and distributed.is_main_process():
            self._grads = self._grads or extras.GradientCapture()
            self._grads.attach(self.model)  # only in the epochs that write histograms

    def on_train_batch_end(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._global_train_batch += 1
        self._batches_in_epoch += 1
        self._fit_batch += 1
        start, stop = self._profile_range
        if start:  # host integers only
            if self._profiler is not None and self._profiler.running and self._fit_batch >= stop:
                self._profiler.stop()
            elif self._fit_batch == start - 1:
                self._start_profiler()
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq != 0:
            return
        if not distributed.is_main_process():
            return
        writer = self._writer("train")
        step = self._global_train_batch
        for name, value in dict(logs or {}).items():  # host sync: every update_freq batches
            writer.add_scalar("batch_" + name, float(value), step)
        if self.write_steps_per_second:
            now = time.perf_counter()
            writer.add_scalar("batch_steps_per_second", self.update_freq / max(now - self._batch_start, 1e-9), step)
            self._batch_start = now

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        if not distributed.is_main_process():
            return
        logs = dict(logs or {})
        train, validation = self._writer("train"), None
        for name, value in logs.items():
            if name.startswith("val_"):
                validation = validation or self._writer("validation")
                validation.add_scalar("epoch_" + name[4:], float(value), epoch)
            else:
                train.add_scalar("epoch_" + name, float(value), epoch)
        optimizer = getattr(self.model, "optimizer", None)
        for key, holder in rate_holders(optimizer) if optimizer is not None else ():
            if key not in logs:  # a MultiOptimizer: each sub-optimizer's, as Keras's learning_rate_<name>
                train.add_scalar("epoch_" + key, float(holder.learning_rate), epoch)
        if self.write_steps_per_second:
            elapsed = max(time.perf_counter() - self._epoch_start, 1e-9)
            train.add_scalar("epoch_steps_per_second", self._batches_in_epoch / elapsed, epoch)
        self._metric_names = list(dict.fromkeys(self._metric_names + list(logs)))
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_weights(epoch)
            if self._grads is not None:
                self._grads.detach()
                for tag, grad in self._grads.take().items():
                    if grad is not None:  # host copy: every histogram_freq epochs
                        train.add_histogram(tag + "/gradient", grad.detach().float().cpu(), epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            layers = extras.check_embeddings(self.model, self.embeddings_metadata)
            extras.write_embeddings(self.log_dir, layers, epoch, self.embeddings_metadata, self._embedding_entries)
        for layer_name in self.activation_layers:
            log_activations(train, self.model, layer_name, self.activation_samples, step=epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        # Keras: every evaluation (fit's validation or evaluate) against the optimizer's step count.
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "iterations") or not distributed.is_main_process():
            return
        writer = self._writer("validation")
        step = int(optimizer.iterations)
        for name, value in dict(logs or {}).items():  # floats already: evaluation ended with its host sync
            writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), step)
        writer.flush()

    def on_train_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        if self._profiler is not None:
            self._profiler.stop()  # a range past the last batch ends with training
        if self._grads is not None:
            self._grads.detach()
            self._grads.take()
        if self._write_hparams and distributed.is_main_process() and "." in self._writers:
            root = self._writers["."]
            extras.add_summary(root, extras.experiment_summary(self._hparam_values, self._metric_names), 0)
            extras.add_summary(root, extras.session_end_summary(), 0)
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _start_profiler(self) -> None:
        if not distributed.is_main_process():
            return
        self._profiler = self._profiler or extras.Profiler(os.path.join(self.log_dir, "train", "plugins", "profile"))
        if not self._profiler.running:
            self._profiler.start()

    # ----------------------------------------------------------------- pieces
    def _write_weights(self, epoch: int) -> None:
        writer = self._writer("train")
        for name, param in self.model.named_parameters():
            tag = extras.tag_of(name)
            values = param.detach().float().cpu()  # host copy: every histogram_freq epochs
            writer.add_histogram(tag + "/histogram", values, epoch)
            if self.write_images:
                image = values.reshape(1, -1) if values.dim() <= 1 else values.reshape(values.shape[0], -1)
                lo, hi = image.min(), image.max()
                writer.add_image(tag + "/image", (image - lo) / (hi - lo).clamp_min(1e-12), epoch, dataformats="HW")

    def _write_graph(self) -> None:
        shape_fn = getattr(self.model, "expected_input_shape", None)
        shape = shape_fn() if callable(shape_fn) else None
        if shape is None or any(d is None for d in shape[1:]):
            warnings.warn(
                "TensorBoard could not write the model graph: the model's input shape is not known before training. "
                "Give the first layer input_shape=... (or start with Input(shape=...)), or pass write_graph=False.",
                stacklevel=2)
            return
        integer = not getattr(self.model, "casts_integer_inputs", lambda: True)()
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        sample = torch.zeros((1,) + tuple(shape[1:]), dtype=torch.long if integer else torch.float32, device=device)
        was_training = self.model.training
        self.model.eval()
        captured = io.StringIO()
        try:
            # Tracing failures must not stop training; torch prints its own diagnosis, kept for the warning.
            with contextlib.redirect_stdout(captured), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._writer("train").add_graph(self.model, sample)
        except Exception as e:  # noqa: BLE001 - the tracer raises many types; the graph is optional
            warnings.warn(
                f"TensorBoard skipped the model graph: tracing the model failed ({type(e).__name__}: {e}). "
                "Pass write_graph=False to silence this.", stacklevel=2)
        finally:
            self.model.train(was_training)
