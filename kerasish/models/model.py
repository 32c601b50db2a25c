"""Model: Keras's compile/fit/evaluate/predict on any torch module.

Three ways to get one:

- `Sequential([...])`, a stack of layers (see `sequential.py`).
- `Model(module)`: wraps ANY `torch.nn.Module`; its own `forward` is used as is.
- Subclassing: define layers in `__init__` and the computation in `call` (or `forward`).

The facade owns the signatures and docstrings; the loops live in `kerasish.training`.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from kerasish import config
from kerasish.data.adapters import first_leaf, map_structure, move
from kerasish.layers.layer import Layer, Shape, to_snake_case, unique_name
from kerasish.layers.symbolic import is_symbolic
from kerasish.models import summary as summary_mod
from kerasish.training import trainer
from kerasish.training.compile_config import CompileConfig, build_compile_config


class Model(Layer):
    """A trainable model with Keras's API over torch modules.

    Args:
        module: a `torch.nn.Module` to wrap. Omit it when subclassing. Defaults to `None`.
        name: the model's name. Defaults to `None` ('model', 'model_1', ...).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        >>> model = Model(net)
        >>> model.compile(optimizer="adam", loss="mse", device="cpu")
        >>> history = model.fit(np.ones((16, 4)), np.zeros((16, 1)), epochs=2, verbose=0)
        >>> len(history.history["loss"])
        2
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> "Model":
        # Model(inputs, outputs) builds a functional model, as in Keras.
        if cls is Model and ("outputs" in kwargs or len(args) >= 2 or (args and is_symbolic(args[0]))):
            from kerasish.models.functional import Functional

            return object.__new__(Functional)
        return object.__new__(cls)

    def __init__(self, module: Optional[nn.Module] = None, *args: Any, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        if module is not None and not isinstance(module, nn.Module):
            raise TypeError(
                f"Model(module) expects a torch.nn.Module, received {module!r} of type {type(module).__name__}. "
                "Wrap your network as Model(my_module), or build a Sequential."
            )
        super().__init__(name=name or unique_name(to_snake_case(type(self).__name__)), **kwargs)
        self.module = module
        self._compile_config: Optional[CompileConfig] = None
        self._device: Optional[torch.device] = None
        self._output_shape: Optional[Shape] = None
        self.stop_training = False
        self.history: Any = None
        if module is not None:
            self.built = True

    # ----------------------------------------------------------------- forward
    def call(self, *args: Any, **kwargs: Any) -> Any:
        if self.module is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no call(): a subclass of kerasish.Model must define "
                "call(self, inputs) or forward(self, inputs), or wrap a module with Model(module)."
            )
        return self.module(*args, **kwargs)

    def forward_logits(self, x: Any) -> Any:
        """Pre-activation outputs (see `logits_activation`); the model's output otherwise."""
        return self(x)

    def logits_activation(self) -> Optional[str]:
        """'softmax'/'sigmoid' if the model ends in that activation and can skip it for the loss."""
        return None

    def regularization_losses(self) -> List[torch.Tensor]:
        """Penalties of every layer's regularisers (added to the training loss)."""
        out: List[torch.Tensor] = []
        for m in self.modules():
            if isinstance(m, Layer) and not isinstance(m, Model):
                out.extend(m.losses)
        return out

    @property
    def losses(self) -> List[torch.Tensor]:
        return self.regularization_losses()

    # ----------------------------------------------------------------- state
    @property
    def device(self) -> torch.device:
        if self._device is None:
            self._device = config.default_device()
        return self._device

    def ensure_device(self) -> None:
        """Moves the model to its device (on first use)."""
        self.to(self.device)

    def casts_integer_inputs(self) -> bool:
        """Whether integer x is cast to float (False when the model starts with an embedding)."""
        return False

    def expected_input_shape(self) -> Optional[Shape]:
        return None

    def accepts_strings(self) -> bool:
        """Whether x may be strings (the model starts with a TextVectorization layer)."""
        return False

    def output_shape_or_none(self) -> Optional[Shape]:
        return self._output_shape

    @property
    def output_shape(self) -> Optional[Shape]:
        return self._output_shape

    def ensure_built(self, x: Any) -> None:
        """Builds lazy layers and learns the output shape by running 2 samples (eval, no grad)."""
        if self._output_shape is not None and self.built and not self._has_unbuilt_layers():
            return
        sample = move(map_structure(lambda t: t[:2], x), self.device)
        self.to(self.device)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                out = self(*sample) if isinstance(sample, (list, tuple)) else self(sample)
        except (RuntimeError, ValueError, TypeError) as e:
            raise ValueError(
                f"Model {self.name!r} failed on a sample of the input (x samples of shape "
                f"{tuple(first_leaf(x).shape[1:])}, dtype {first_leaf(x).dtype}): {e}. Check that x matches "
                "what the model's forward expects."
            ) from e
        finally:
            self.train(was_training)
        self.built = True
        self.to(self.device)
        first = out
        while isinstance(first, (list, tuple)):
            first = first[0]
        if isinstance(first, torch.Tensor):
            self._output_shape = (None,) + tuple(first.shape[1:])

    def _has_unbuilt_layers(self) -> bool:
        return any(isinstance(m, Layer) and not m.built for m in self.modules() if m is not self)

    # ----------------------------------------------------------------- compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Union[bool, str] = False,
        *,
        device: Union[str, torch.device, None] = None,
    ) -> None:
        """Configures the model for training.

        Args:
            optimizer: a name ('sgd', 'rmsprop', 'adam', 'adamw', 'adagrad', 'adadelta',
                'adamax', 'nadam'), a `kerasish.optimizers` object, a `torch.optim.Optimizer`
                instance or class. Names use Keras's defaults. Defaults to `'rmsprop'`.
            loss: a name ('categorical_crossentropy', 'mse', ...), a `kerasish.losses.Loss`,
                a callable `fn(y_true, y_pred)` or a torch loss module; for several outputs,
                a dict by output name or a list in output order. Defaults to `None`.
            metrics: list of names ('accuracy', 'mae', 'precision', 'recall', 'auc',
                'f1_score' ...), Metric objects or callables; for a model with several
                outputs, a dict by output name or a list of lists. Defaults to `None`.
            loss_weights: a scale for the loss (a number); for several outputs, a dict by
                output name or a list, one weight per output. Defaults to `None`.
            weighted_metrics: metrics that see `sample_weight`/`class_weight` (the ones in
                `metrics` do not, as in Keras 3). A name also in `metrics` is logged as
                `weighted_<name>`. Defaults to `None`.
            run_eagerly: accepted for Keras compatibility (kerasish always runs eagerly unless
                `jit_compile`). Defaults to `False`.
            steps_per_execution: accepted; it has no effect (see the README). Defaults to `1`.
            jit_compile: wrap the forward pass with `torch.compile`. Defaults to `False`.
            device: 'cpu', 'cuda', 'cuda:1', 'mps'. Defaults to `None`
                (kerasish.config's choice: CUDA, then MPS, then CPU; under torchrun,
                `cuda:LOCAL_RANK`, and compile joins the process group).

        Raises:
            ValueError: for unknown optimizer/loss/metric names (the valid names are listed).
        """
        from kerasish import distributed

        device = distributed.setup(device)  # under torchrun: join the process group, use cuda:LOCAL_RANK
        names = getattr(self, "output_names", None)
        cfg = build_compile_config(optimizer, loss, metrics, loss_weights, jit_compile, device, steps_per_execution,
                                   output_names=names if names and len(names) > 1 else None,
                                   weighted_metrics=weighted_metrics)
        self._compile_config = cfg
        self._device = cfg.device
        self.to(cfg.device)
        if cfg.optimizer.torch_optimizer is None and self.built and not self._has_unbuilt_layers():
            self._build_optimizer()

    def _build_optimizer(self) -> None:
        self._compile_config.optimizer.build(self.parameters())

    def ensure_optimizer(self) -> None:
        if self._compile_config.optimizer.torch_optimizer is None:
            self._build_optimizer()

    @property
    def optimizer(self) -> Any:
        return None if self._compile_config is None else self._compile_config.optimizer

    @property
    def loss(self) -> Any:
        return None if self._compile_config is None else self._compile_config.loss

    @property
    def compiled(self) -> bool:
        return self._compile_config is not None

    def require_compiled(self, what: str) -> None:
        if self._compile_config is None:
            raise RuntimeError(
                f"You must compile your model before calling {what}(): call "
                "model.compile(optimizer=..., loss=...) first."
            )

    # ----------------------------------------------------------------- training API
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: Optional[int] = None,
        epochs: int = 1,
        verbose: Union[str, int] = "auto",
        callbacks: Optional[Sequence[Any]] = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Optional[Dict[int, float]] = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: Optional[int] = None,
        validation_steps: Optional[int] = None,
        validation_batch_size: Optional[int] = None,
        validation_freq: Union[int, Sequence[int]] = 1,
    ) -> Any:
        """Trains the model for a number of epochs.

        Args:
            x: NumPy arrays or torch tensors (or a list/dict of them), a torch `Dataset`,
                a `DataLoader`, or any iterable of `(x, y)` / `(x, y, sample_weight)` batches.
            y: targets when x is arrays. Defaults to `None`.
            batch_size: samples per step for arrays/Datasets; under torchrun, per process (the
                global batch is batch_size × processes). Defaults to `None` (32).
            epochs: index of the epoch to stop before. Defaults to `1`.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch; 'auto' is 1 in a
                terminal or notebook and 2 otherwise. Defaults to `'auto'`.
            callbacks: list of `kerasish.callbacks.Callback`. Defaults to `None`.
            validation_split: fraction of the arrays (the LAST samples, before shuffling)
                held out for validation. Defaults to `0.0`.
            validation_data: `(x_val, y_val[, w_val])` or a Dataset/iterable. Defaults to `None`.
            shuffle: reshuffle array data every epoch. Defaults to `True`.
            class_weight: `{class_index: weight}` multiplying each sample's loss. Defaults to `None`.
            sample_weight: per-sample weights (1-D array). Defaults to `None`.
            initial_epoch: epoch to start from (for resuming). Defaults to `0`.
            steps_per_epoch: batches per epoch; a generator is then drawn across epochs. Defaults to `None`.
            validation_steps: batches per validation. Defaults to `None`.
            validation_batch_size: Defaults to `None` (batch_size).
            validation_freq: validate every N epochs, or at the listed (1-based) epochs. Defaults to `1`.

        Returns:
            A `History` whose `.history` maps 'loss', each metric and their 'val_' twins to
            per-epoch values.

        Raises:
            RuntimeError: if the model is not compiled.
            ValueError / TypeError: for bad data, before any weight changes.
        """
        return trainer.fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                           shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                           validation_batch_size, validation_freq)

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: Optional[int] = None,
        verbose: Union[str, int] = "auto",
        sample_weight: Any = None,
        steps: Optional[int] = None,
        callbacks: Optional[Sequence[Any]] = None,
        return_dict: bool = False,
    ) -> Any:
        """Returns the loss (and metrics) on the given data, in eval mode.

        Args:
            x, y, batch_size, sample_weight, steps, callbacks: as in `fit`.
            verbose: as in `fit`. Defaults to `'auto'`.
            return_dict: return `{'loss': ..., 'accuracy': ...}`. Defaults to `False`.

        Returns:
            The scalar loss when there are no metrics, else `[loss, *metrics]`, or a dict.
        """
        return trainer.evaluate(self, x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict)

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: Union[str, int] = "auto",
                steps: Optional[int] = None, callbacks: Optional[Sequence[Any]] = None) -> Any:
        """Returns the model's outputs as NumPy arrays (eval mode, no gradients).

        Works on an uncompiled model. Args as in `fit`; batch_size defaults to 32.
        """
        return trainer.predict(self, x, batch_size, verbose, steps, callbacks)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: Optional[Dict[int, float]] = None, return_dict: bool = False) -> Any:
        """One gradient step on one batch; returns the loss (and metrics) of that batch."""
        self.require_compiled("train_on_batch")
        data = trainer.prepare(self, x, y, sample_weight, trainer.num_samples_or(x), False, None, need_y=True)
        self.ensure_optimizer()
        trainer._check_first_batch_labels(self, data.y_sample)
        st = trainer._make_steps(self, data.y_sample, class_weight, train=True)
        was_training = self.training
        self.train()
        try:
            for bx, by, bw in data.adapter:
                st.train_step(bx, by, bw)
        finally:
            self.train(was_training)
        return self._batch_result(st, return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False) -> Any:
        """Loss (and metrics) on one batch, without updating weights."""
        self.require_compiled("test_on_batch")
        data = trainer.prepare(self, x, y, sample_weight, trainer.num_samples_or(x), False, None, need_y=True)
        st = trainer._make_steps(self, data.y_sample)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                for bx, by, bw in data.adapter:
                    st.test_step(bx, by, bw)
        finally:
            self.train(was_training)
        return self._batch_result(st, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch as NumPy arrays."""
        return self.predict(x, batch_size=trainer.num_samples_or(x), verbose=0)

    @staticmethod
    def _batch_result(st: Any, return_dict: bool) -> Any:
        from kerasish.training.logs import results_to_floats

        logs = results_to_floats(st.tracker_names(), st.trackers())
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # ----------------------------------------------------------------- inspection
    def summary_rows(self) -> List[summary_mod.Row]:
        rows = []
        children = [self.module] if self.module is not None and not list(self.module.children()) else (
            list(self.module.named_children()) if self.module is not None else list(self.named_children()))
        for item in children:
            name, child = item if isinstance(item, tuple) else (to_snake_case(type(item).__name__), item)
            label = f"{getattr(child, 'name', name)} ({type(child).__name__})"
            rows.append((label, "?", sum(p.numel() for p in child.parameters())))
        return rows

    def summary(self, line_length: int = 80, print_fn: Optional[Callable[[str], Any]] = None, **kwargs: Any) -> None:
        """Prints a table of layers, output shapes and parameter counts.

        Args:
            line_length: total width. Defaults to `80`.
            print_fn: called with the text. Defaults to `None` (print).
        """
        if not self.built or self._has_unbuilt_layers():
            raise ValueError(
                f"Model {self.name!r} has not been built yet, so summary() cannot count its parameters. "
                "Give the first layer input_shape=... (or start with Input(shape=...)), or call fit/"
                "build(input_shape) first."
            )
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        non_trainable = sum(p.numel() for p in self.parameters() if not p.requires_grad) + sum(
            b.numel() for b in self.buffers() if b.is_floating_point())
        summary_mod.render(self.name, self.summary_rows(), trainable, non_trainable, line_length=line_length,
                           print_fn=print_fn)

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def get_weights(self) -> List[np.ndarray]:
        return [t.detach().cpu().numpy().copy() for t in self.state_dict().values() if t.is_floating_point()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        targets = [t for t in self.state_dict().values() if t.is_floating_point()]
        if len(weights) != len(targets):
            raise ValueError(
                f"Model {self.name!r} has {len(targets)} weight arrays, received {len(weights)}. "
                "Pass the list get_weights() returns."
            )
        for i, (t, w) in enumerate(zip(targets, weights)):
            if tuple(np.shape(w)) != tuple(t.shape):
                raise ValueError(f"Weight {i} has shape {tuple(t.shape)}, received shape {tuple(np.shape(w))}.")
        with torch.no_grad():
            for t, w in zip(targets, weights):
                t.copy_(torch.as_tensor(np.asarray(w)))

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name}

    # ----------------------------------------------------------------- saving
    def save(self, filepath: str, overwrite: bool = True) -> None:
        """Writes the architecture, weights and optimizer state to one `.kerasish` file."""
        from kerasish import saving

        saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        """Writes the weights to a `.safetensors` file (no pickle)."""
        from kerasish import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def export(self, filepath: str, format: str = "torchscript", sample_input: Any = None) -> None:
        """Exports the model for inference without kerasish.

        Args:
            filepath: where to write.
            format: 'torchscript', 'onnx' (needs the onnx package) or 'torch_export'
                (`torch.export`, a `.pt2` file). Defaults to `'torchscript'`.
            sample_input: an example batch used for tracing. Defaults to `None` (zeros of
                the model's input shape, batch of 1).
        """
        from kerasish import export as export_mod

        export_mod.export_model(self, filepath, format=format, sample_input=sample_input)

    def load_weights(self, filepath: str) -> None:
        """Loads weights written by `save_weights` (or a `.kerasish` file), checking shapes."""
        from kerasish import saving

        saving.load_weights(self, filepath)
