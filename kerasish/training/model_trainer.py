"""Trainer: compile / fit / evaluate / predict and the overridable per-batch steps.

`Model` inherits this class (`class Model(Trainer, Layer)`), as in Keras 3. The loops in
`kerasish.training.trainer` only ever call the model's methods:

- `train_step(data)`, `test_step(data)`, `predict_step(data)`: one batch. `data` is the
  batch as the user's data yields it (`x`, `(x, y)` or `(x, y, sample_weight)`); the
  dict a step returns becomes the logs that callbacks and History see. The default
  bodies run the compiled loss and metrics without any host synchronisation.
- `compute_loss(x, y, y_pred, sample_weight, training)`: the compiled loss plus the
  model's `losses` (`add_loss` values and weight penalties).
- `compute_metrics(x, y, y_pred, sample_weight)`: updates the compiled metrics and
  returns every metric's current result.
- `metrics`: the loss tracker, the compiled metrics and the metrics of the layers; each
  is reset at the start of every epoch and of every evaluation.
"""

from __future__ import annotations

import warnings

from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from kerasish.layers import call_context
from kerasish.metrics import Mean
from kerasish.training import trainer
from kerasish.training.compile_config import CompileConfig, build_compile_config, keep_previous
from kerasish.training.compile_metrics import CompileMetrics
from kerasish.training.trainer_surface import PRE_COMPILE_SETTINGS, STEP_FUNCTIONS, TrainerSurface
from kerasish.utils.tree import unpack_x_y_sample_weight


class NotCompiledError(ValueError, RuntimeError):
    """A model used before `compile()`: a ValueError as in Keras 3 (and a RuntimeError, as kerasish raised before)."""


# What fit/evaluate keep on the model while they run (see `Stepper` and `trainer.fit`).
_RUNNING_FIT_STATE = ("_active_train_steps", "_active_test_steps", "_layer_metrics_cache")


def model_metrics(model: Any) -> List[Any]:
    """The metrics the layers of `model` hold, as Keras's `Trainer.metrics` lists them after the
    compiled ones: a nested model's own trackers are left out (they belong to its own fit)."""
    from kerasish.layers.layer_state import held_metrics

    return held_metrics(model, skip=lambda m: isinstance(m, Trainer))


class Trainer(TrainerSurface):
    """The training half of `Model`; see the module docstring for the contract."""

    _compile_config: Optional[CompileConfig] = None

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
                a dict by output name or a list in output order. Defaults to `None` (on a model
                compiled before, the earlier loss stays, as in Keras; so do the earlier metrics
                when neither `metrics` nor `weighted_metrics` is given).
            metrics: list of names ('accuracy', 'mae', 'precision', 'recall', 'auc',
                'f1_score' ...), Metric objects or callables; for a model with several
                outputs, a dict by output name or a list of lists. Defaults to `None`.
            loss_weights: a scale for the loss (a number); for several outputs, a dict by
                output name or a list, one weight per output. Defaults to `None`.
            weighted_metrics: metrics that see `sample_weight`/`class_weight` (the ones in
                `metrics` do not, as in Keras 3). A name also in `metrics` is logged as
                `weighted_<name>`. Defaults to `None`.
            run_eagerly: `True` runs every step eagerly, which in kerasish means without
                `torch.compile`: it turns `jit_compile` off (with a warning when both are given),
                as Keras does. Readable and settable afterwards as `model.run_eagerly`.
                Defaults to `False`.
            steps_per_execution: accepted; it has no effect (see the README). Defaults to `1`.
            jit_compile: `True` runs the built-in train and test steps (forward, loss, metrics and
                their backward) under `torch.compile`; a dict passes torch.compile's options
                (`mode`, `backend`, `fullgraph`, `dynamic`, `options`); `"auto"` and `False` run
                eagerly, as Keras 3 does on torch. The optimizer update stays eager. See
                `kerasish.training.compiled_step` (and the README: on a CPU it is slower for small
                models). Readable and settable afterwards as `model.jit_compile` (the next fit
                uses the new value). Defaults to `False`.
            device: 'cpu', 'cuda', 'cuda:1', 'mps'. Defaults to `None`
                (kerasish.config's choice: CUDA, then MPS, then CPU; under torchrun,
                `cuda:LOCAL_RANK`, and compile joins the process group).

        Raises:
            ValueError: for unknown optimizer/loss/metric names (the valid names are listed).
        """
        from kerasish import distributed

        if "_active_train_steps" in self.__dict__:
            raise RuntimeError(
                f"compile() was called on {self.name!r} while its fit() is running (from a callback?). The running "
                "fit keeps the loss and optimizer it started with, so the new ones would be ignored (Keras fails at "
                "the next step). Call compile() before fit(), or between two fit() calls."
            )
        if run_eagerly and jit_compile and jit_compile != "auto":
            # Keras does the same: an eager run is not compiled.
            warnings.warn(f"compile() received run_eagerly=True with jit_compile={jit_compile!r}: an eager run is "
                          "not compiled, so jit_compile is turned off.", stacklevel=2)
            jit_compile = False
        device = distributed.setup(device)  # under torchrun: join the process group, use cuda:LOCAL_RANK
        names = getattr(self, "output_names", None)
        cfg = build_compile_config(optimizer, loss, metrics, loss_weights, jit_compile, device, steps_per_execution,
                                   output_names=names if names and len(names) > 1 else None,
                                   weighted_metrics=weighted_metrics, run_eagerly=run_eagerly)
        if self._compile_config is not None:  # a recompile keeps what it was not given, as Keras's does
            keep_previous(cfg, self._compile_config, keep_loss=loss is None,
                          keep_metrics=metrics is None and weighted_metrics is None)
        self._compile_config = cfg
        for key in PRE_COMPILE_SETTINGS + STEP_FUNCTIONS:  # settings made before compile, and the step functions
            self.__dict__.pop(key, None)
        self.__dict__.pop("_assigned_optimizer", None)  # compile's optimizer replaces one assigned before, as in Keras
        # Fresh trackers per compile (Keras rebuilds its compiled metrics too).
        self.__dict__["_loss_tracker"] = Mean(name="loss")
        self.__dict__.pop("_compile_metrics", None)
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
        """The optimizer `compile()` set (or one assigned to `model.optimizer`); None before either."""
        if self._compile_config is None:
            return self.__dict__.get("_assigned_optimizer")
        return self._compile_config.optimizer

    @optimizer.setter
    def optimizer(self, value: Any) -> None:
        # Keras keeps `optimizer` as a plain attribute: a subclass may set one in __init__ for its own
        # train_step, and a later compile() replaces it with compile's (its default 'rmsprop' included).
        from kerasish import optimizers

        opt = None if value is None else optimizers.get(value)
        if self._compile_config is None:
            self.__dict__["_assigned_optimizer"] = opt
        elif opt is None:
            raise ValueError(
                f"model.optimizer = None on the compiled model {self.name!r}: a compiled model needs an optimizer. "
                "Assign an optimizer object or name (e.g. keras.optimizers.Adam()), or call compile() again."
            )
        else:
            self._compile_config.optimizer = opt
            if opt.torch_optimizer is None and self.built and not self._has_unbuilt_layers():
                self._build_optimizer()

    @property
    def loss(self) -> Any:
        return None if self._compile_config is None else self._compile_config.loss

    @property
    def compiled(self) -> bool:
        return self._compile_config is not None

    # ----------------------------------------------------------------- compile config (saving)
    def get_compile_config(self) -> Dict[str, Any]:
        """The compile settings as Keras 3 writes them in a `.keras` file's `compile_config` (optimizer,
        loss, metrics ... as Keras envelopes or names); `{}` when the model is not compiled.

        A model whose `compile()` takes other arguments overrides this and `compile_from_config`:
        the `.keras` writer stores what this returns and the reader passes it back.

        Raises:
            ValueError: for settings a file cannot name (a loss function that is not registered, a
                torch optimizer).
        """
        if self._compile_config is None:
            return {}
        from kerasish.saving.keras_compile import compile_to_keras

        return compile_to_keras(self) or {}

    def compile_from_config(self, config: Dict[str, Any]) -> None:
        """Compiles the model from `get_compile_config()`'s dict (what loading a `.keras` file does).

        As in Keras, a class that overrides `compile()` without overriding this method is not
        compiled here (its `compile` may take other arguments): a warning says so, and the model
        loads uncompiled.

        Raises:
            ValueError: for a setting kerasish does not restore (naming it).
        """
        if type(self).compile is not Trainer.compile and type(self).compile_from_config is Trainer.compile_from_config:
            warnings.warn(
                f"{type(self).__name__}.compile() is custom, so loading did not call it: the model is not compiled. "
                "Override get_compile_config() and compile_from_config(config) in the class to save and restore "
                "its compile arguments, or call compile() yourself after loading.",
                UserWarning, stacklevel=2)
            return
        from kerasish.saving.keras_compile import compile_from_keras

        compile_from_keras(self, config)  # a built model's optimizer is built by compile(), as Keras builds it here

    # ----------------------------------------------------------------- finders (beyond Keras)
    def find_learning_rate(self, *args: Any, **kwargs: Any) -> Any:
        """A learning-rate range test on a snapshot of the model (see `training.lr_finder`)."""
        from kerasish.training import lr_finder  # loaded on first use: import kerasish stays cheap

        return lr_finder.find_learning_rate(self, *args, **kwargs)

    def find_batch_size(self, *args: Any, **kwargs: Any) -> int:
        """The largest batch that trains within memory (see `training.batch_finder`)."""
        from kerasish.training import batch_finder

        return batch_finder.find_batch_size(self, *args, **kwargs)

    def fit_one_cycle(self, *args: Any, **kwargs: Any) -> Any:
        """`fit` with fastai's one-cycle policy (see `callbacks.OneCycle`)."""
        from kerasish.training import one_cycle

        return one_cycle.fit_one_cycle(self, *args, **kwargs)

    def require_compiled(self, what: str) -> None:
        if self._compile_config is None:
            raise NotCompiledError(
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
        *,
        skip_nonfinite: bool = False,
        max_nonfinite_steps: Optional[int] = 10,
    ) -> Any:
        """Trains the model for a number of epochs.

        With `skip_nonfinite=True` (off by default; Keras has no such option), an update whose
        loss, gradients or (for batches from an iterable) inputs hold NaN or inf is undone on
        the device, without a host sync (see `training.nonfinite`): the weights keep their last
        finite values, and once an update was skipped the epoch logs
        carry `skipped_steps` (the epoch's count). The logged loss still includes the batch,
        so `TerminateOnNaN` stops training as in Keras.

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
            shuffle: reshuffle array data every epoch: `True` or `False` (anything else is a
                `TypeError`; Keras's TensorFlow-only `'batch'` included). Defaults to `True`.
            class_weight: `{class_index: weight}` multiplying each sample's loss; weights finite and
                >= 0, keys classes of the model's output. Defaults to `None`.
            sample_weight: per-sample weights (1-D array, finite and >= 0). Defaults to `None`.
            initial_epoch: epoch to start from (for resuming). Defaults to `0`.
            steps_per_epoch: batches per epoch; a generator is then drawn across epochs. Defaults to `None`.
            validation_steps: batches per validation. Defaults to `None`.
            validation_batch_size: Defaults to `None` (batch_size).
            validation_freq: validate every N epochs, or at the listed (1-based) epochs. Defaults to `1`.
            skip_nonfinite: keyword-only, kerasish's: undo updates whose loss, gradients or batch
                hold NaN/inf, on the device without a host sync (a batch of NaN then never
                destroys the weights; `skipped_steps` appears in the logs). It costs a copy and a
                blend of the weights and optimizer state per step (measured +17-21% per step on the
                CPU), so it is opt-in; `False` lets non-finite updates reach the weights, as Keras
                does (the logged loss shows `nan`; `TerminateOnNaN` stops there). Defaults to `False`.
            max_nonfinite_steps: keyword-only, kerasish's: after this many consecutive skipped
                updates fit raises `NonFiniteStepsError` at the end of the epoch, naming the epoch
                and batch; `None` never raises. Defaults to `10`.

        Returns:
            A `History` whose `.history` maps 'loss', each metric and their 'val_' twins to
            per-epoch values.

        Raises:
            RuntimeError: if the model is not compiled.
            ValueError / TypeError: for bad data or arguments, before any weight changes.
            NonFiniteStepsError: (a RuntimeError) after `max_nonfinite_steps` consecutive skipped updates.
        """
        self._check_step_functions_not_overridden("fit", ("make_train_function", "make_test_function"))
        return trainer.fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                           shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                           validation_batch_size, validation_freq, skip_nonfinite=skip_nonfinite,
                           max_nonfinite_steps=max_nonfinite_steps)

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
            x: the inputs, as in `fit`. Defaults to `None`.
            y: the targets, as in `fit`. Defaults to `None`.
            batch_size: samples per batch for arrays. Defaults to `None` (32).
            verbose: as in `fit`. Defaults to `'auto'`.
            sample_weight: per-sample loss weights, as in `fit`. Defaults to `None`.
            steps: batches to evaluate before stopping. Defaults to `None` (all the data).
            callbacks: callbacks for the `on_test_*` hooks. Defaults to `None`.
            return_dict: return a dict with its keys sorted, as Keras (`{'accuracy': ..., 'loss': ...}`).
                Defaults to `False`.

        Returns:
            The scalar loss when there are no metrics, else `[loss, *metrics]` (Keras's order: the
            names of `model.metrics`, then a custom step's other results sorted), or a dict.
        """
        self._check_step_functions_not_overridden("evaluate", ("make_test_function",))
        return trainer.evaluate(self, x, y, batch_size, verbose, sample_weight, steps, callbacks, return_dict)

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: Union[str, int] = "auto",
                steps: Optional[int] = None, callbacks: Optional[Sequence[Any]] = None) -> Any:
        """Returns the model's outputs as NumPy arrays (eval mode, no gradients).

        Works on an uncompiled model. Args as in `fit`; batch_size defaults to 32.
        """
        self._check_step_functions_not_overridden("predict", ("make_predict_function",))
        return trainer.predict(self, x, batch_size, verbose, steps, callbacks)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: Optional[Dict[int, float]] = None, return_dict: bool = False) -> Any:
        """One gradient step on one batch; returns the loss (and metrics) of that batch."""
        return trainer.on_batch(self, "train", x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False) -> Any:
        """Loss (and metrics) on one batch, without updating weights."""
        return trainer.on_batch(self, "test", x, y, sample_weight, None, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch as NumPy arrays (one step: `config.set_max_steps_per_epoch` does not apply)."""
        return trainer.predict(self, x, trainer.num_samples_or(x), 0, 1, None)

    # ----------------------------------------------------------------- the steps
    def train_step(self, data: Any) -> Any:
        """One training step on one batch; `fit` calls it once per batch.

        Override it to customise training (Keras 3's torch contract): call
        `self.zero_grad()`, `y_pred = self(x, training=True)`, `loss = self.compute_loss(
        y=y, y_pred=y_pred)`, `loss.backward()`, `self.optimizer.apply(grads,
        self.trainable_weights)`, update `self.metrics`, and return a dict of results.

        Args:
            data: the batch: `x`, `(x, y)` or `(x, y, sample_weight)`.

        Returns:
            A mapping of metric names to results (tensors or floats): the batch logs.
        """
        return self._default_step("train", data)

    def test_step(self, data: Any) -> Any:
        """One evaluation step on one batch (`evaluate` and validation call it per batch).

        Args:
            data: the batch: `x`, `(x, y)` or `(x, y, sample_weight)`.

        Returns:
            A mapping of metric names to results.
        """
        return self._default_step("test", data)

    def predict_step(self, data: Any) -> Any:
        """The model's outputs for one batch (`predict` calls it per batch).

        Args:
            data: the batch's inputs `x` (or `(x,)`).
        """
        x, _, _ = unpack_x_y_sample_weight(data)
        # Several inputs are spread as positional arguments, as the built-in predict loop does.
        if isinstance(x, (list, tuple)):
            return self(*x, training=False)
        return self(x, training=False)

    def _default_step(self, kind: str, data: Any) -> Any:
        """The built-in step's body: the compiled loss and metrics, lazy logs (no host sync)."""
        steps = self.__dict__.get(f"_active_{kind}_steps")
        if steps is None:
            raise RuntimeError(
                f"The default {kind}_step() runs inside fit/evaluate (or train_on_batch/test_on_batch), where the "
                f"compiled loss and metrics are prepared. Call model.{'fit' if kind == 'train' else 'evaluate'}(...) "
                f"instead of calling {kind}_step() directly."
            )
        x, y, w = unpack_x_y_sample_weight(data)
        if kind == "train":
            steps.train_step(x, y, w)
        else:
            steps.test_step(x, y, w)
        return steps.lazy_logs()

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> torch.Tensor:
        """The compiled loss of `(y, y_pred)` plus the model's `losses`.

        Args:
            x: the inputs (unused by the default; available to overrides). Defaults to `None`.
            y: the targets. Defaults to `None`.
            y_pred: the model's outputs. Defaults to `None`.
            sample_weight: per-sample weights. Defaults to `None`.
            training: whether this is a training step. Defaults to `True`.

        Returns:
            A scalar tensor.

        Raises:
            ValueError: when there is nothing to compute: no compiled loss and no `add_loss`.
        """
        parts: List[torch.Tensor] = []
        if trainer.has_compiled_loss(self):
            parts.append(trainer.compiled_loss(self, y, y_pred, sample_weight))
        steps = self.__dict__.get("_active_train_steps") or self.__dict__.get("_active_test_steps")
        if steps is not None:
            # Inside fit/evaluate: this pass's add_loss values, and penalties only when some layer
            # has a regularizer (found once per call), instead of walking every layer per batch.
            parts.extend(call_context.pass_losses(steps.module_ids))
            if steps.regularized:
                parts.extend(self.regularization_losses())
        else:
            parts.extend(self.losses)
        if not parts:
            raise ValueError(
                "No loss to compute: the model was compiled without a loss and added none with add_loss(). "
                "Pass loss=... to compile(), or call self.add_loss(...) in a layer's call()."
            )
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Dict[str, Any]:
        """Updates the compiled metrics with a batch and returns every metric's result.

        Returns:
            `{name: result}` for each metric in `self.metrics` (tensors, no host sync).
        """
        self._compile_metrics_obj().update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self) -> Dict[str, Any]:
        """`{name: result}` of `self.metrics`, with the compiled metrics listed one by one."""
        out: Dict[str, Any] = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[m.name] = r
        return out

    @property
    def metrics(self) -> List[Any]:
        """The loss tracker (named 'loss'), the compiled metrics ('compile_metrics', whose
        `result()` is a dict) and the metrics held by the layers."""
        out: List[Any] = []
        if self._compile_config is not None:
            out.append(self._loss_tracker_obj())
            if self._compile_config.has_metrics:  # as Keras: compile() without metrics lists none
                out.append(self._compile_metrics_obj())
        cached = self.__dict__.get("_layer_metrics_cache")
        if cached is None:
            cached = model_metrics(self)
        out.extend(cached)
        return out

    @property
    def metrics_names(self) -> List[str]:
        return [m.name for m in self.metrics]

    def __getstate__(self) -> Dict[str, Any]:
        """The model without the state of a running fit/evaluate: a copy or pickle made from a
        callback mid-fit (a best-model snapshot) is a model at rest, not one inside that fit."""
        state = super().__getstate__()
        for key in _RUNNING_FIT_STATE + STEP_FUNCTIONS:  # step functions call the original model
            state.pop(key, None)
        return state

    def reset_metrics(self) -> None:
        """Resets every metric in `self.metrics`."""
        for m in self.metrics:
            m.reset_state()

    def _loss_tracker_obj(self) -> Mean:
        tracker = self.__dict__.get("_loss_tracker")
        if tracker is None:
            tracker = self.__dict__["_loss_tracker"] = Mean(name="loss")
        return tracker

    def _compile_metrics_obj(self) -> CompileMetrics:
        cm = self.__dict__.get("_compile_metrics")
        if cm is None:
            if self._compile_config is None:
                raise RuntimeError("The model is not compiled, so it has no compiled metrics. Call compile() first.")
            cm = self.__dict__["_compile_metrics"] = CompileMetrics(self)
        return cm
