"""The per-batch arithmetic: the train and test steps (single- and multi-output).

Nothing here synchronises with the host: the loss and metrics are added to device
accumulators, batch sizes come from tensor shapes (host metadata), and no value is
converted to a Python number. The loop reads the accumulators once per epoch. The
exceptions are opt-in and labelled: 'mixed_float16' (the gradient scaler's inf check) and
LossScaleOptimizer's skip-the-step check. fit's opt-in non-finite guard (`nonfinite.py`,
`skip_nonfinite=True`) decides on the device whether an update is kept.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from typing import Any, Callable, Dict, List, Optional

import torch

from kerasish import activations
from kerasish.layers import call_context
from kerasish.layers.calling import logits_path_skips, step_forward
from kerasish.metrics import Mean, Metric
from kerasish.utils.host_sync import labelled_sync

# A per-step host read, only under 'mixed_float16' (the others: kerasish.utils.host_sync's docstring).
FLOAT16_SYNC = ("mixed_float16 loss scaling, once per step: whether the scaled gradients overflowed decides "
                "on the host whether this update is skipped, as Keras skips it (mixed_bfloat16 needs no loss "
                "scaling and makes no such read)")


def call_module(module: Callable, x: Any) -> Any:
    """Calls a model on x: lists/tuples are spread as positional arguments."""
    if isinstance(x, (list, tuple)):
        return module(*x)
    return module(x)


def batch_size_of(x: Any) -> int:
    while isinstance(x, (list, tuple)):
        x = x[0]
    if isinstance(x, dict):
        x = next(iter(x.values()))
    return x.shape[0]


class Steps:
    """Holds what the steps need, resolved once per fit/evaluate call.

    Args:
        model: the kerasish Model (facade); `model.forward_logits` gives pre-activation outputs.
        loss: a kerasish Loss or None (predict only).
        metrics: resolved Metric objects on the device.
        optimizer: a built kerasish Optimizer (train only).
        loss_weight: scale of the loss.
        fuse: activation name ('softmax'/'sigmoid') when the loss runs on logits.
        class_weight: a 1-D tensor of per-class weights on the device, or None.
    """

    def __init__(self, model: Any, loss: Any, metrics: List[Metric], optimizer: Any = None,
                 loss_weight: float = 1.0, fuse: Optional[str] = None,
                 class_weight: Optional[torch.Tensor] = None, jit_compile: bool = False,
                 loss_tracker: Optional[Mean] = None) -> None:
        if fuse and logits_path_skips(model):
            # Calling the model or its output layer itself does more than the logits path runs (hooks, a
            # regularizer or policy of its own, a subclass's call). The step also leaves it if one appears mid-fit.
            fuse = None
        self.model = model
        self.loss = loss
        self.metrics = metrics
        self.optimizer = optimizer
        self.loss_weight = loss_weight
        self.fuse = fuse
        self.fuse_fn = activations.get(fuse) if fuse else None
        self.metrics_need_probs = any(not m.logits_invariant for m in metrics)
        self.class_weight = class_weight
        self.loss_tracker = loss_tracker if loss_tracker is not None else Mean(name="loss")
        self.guard: Any = None  # a NonFiniteGuard when fit skips non-finite updates (see nonfinite.py)
        self.check_values = True  # the first batch checks what the loss and metric functions return
        self.regularized = bool(model.regularization_losses())
        # A subclass's compute_loss / compute_metrics override replaces the built-in arithmetic.
        from kerasish.training.model_trainer import Trainer, model_metrics

        cls = type(model)
        self.custom_loss = getattr(cls, "compute_loss", None) is not Trainer.compute_loss
        self.custom_metrics = getattr(cls, "compute_metrics", None) is not Trainer.compute_metrics
        if self.custom_loss or self.custom_metrics:
            fuse = None
            self.fuse, self.fuse_fn = None, None
        # As Keras: an override written before Keras 3.3 has no `training` argument and is called without it.
        self.loss_takes_training = self.custom_loss and "training" in inspect.getfullargspec(model.compute_loss).args
        # Metrics that layers hold as attributes (an endpoint layer's accuracy, updated in its call) are in
        # `model.metrics`, so Keras's built-in step logs and resets them with the compiled ones.
        listed = {id(m) for m in metrics}
        self.layer_metrics = [m for m in model_metrics(model) if id(m) not in listed]
        # The model's layers: add_loss values of other layers never reach this model's loss.
        self.module_ids = {id(m) for m in model.modules()}
        self.plain_forward = step_forward(model)  # the model's outputs (what the logits path is not)
        self.forward = model.forward_logits if fuse else self.plain_forward
        from kerasish import mixed_precision

        device = model.device
        self.autocast = lambda: mixed_precision.autocast(device)
        self.mixed = mixed_precision.global_policy().autocast_dtype is not None
        self.scaler = mixed_precision.grad_scaler(device) if optimizer is not None else None
        if self.scaler is not None:
            _check_float16_optimizer(optimizer)
        if jit_compile:
            from kerasish.training import compiled_step

            compiled_step.install(self)  # the loss and metrics, with their backward (see compiled_step)

    def trackers(self) -> List[Any]:
        return [self.loss_tracker] + list(self.metrics) + self.layer_metrics

    @property
    def ddp_logits(self) -> Any:
        """What the DDP wrapper's forward returns: logits (True), the outputs (False), or for a
        multi-output model the indices of the outputs given as logits."""
        return bool(self.fuse)

    def tracker_names(self) -> List[str]:
        return ["loss"] + [m.name for m in self.metrics] + [m.name for m in self.layer_metrics]

    def results(self, logs: Dict[str, float], return_dict: bool) -> Any:
        """What `evaluate` and `*_on_batch` return: the logs with sorted keys (`return_dict=True`,
        as Keras), else `results_list`."""
        from kerasish.training.logs import keras_order

        return keras_order(logs) if return_dict else self.results_list(logs)

    def results_list(self, logs: Dict[str, float]) -> Any:
        """`evaluate`'s (and `*_on_batch`'s) list of results, in Keras's order: the results named by
        `model.metrics` first (`loss`, then the compiled metrics in compile order), then every other
        key of `logs` (a custom step's own entries) sorted. One result is returned bare."""
        names = self.metric_names()
        values = [logs[n] for n in names if n in logs]  # as Keras: a name listed twice gives its value twice
        values += [logs[k] for k in sorted(logs) if k not in names]
        return values[0] if len(values) == 1 else values

    def metric_names(self) -> List[str]:
        """The names of `model.metrics` (a subclass may override that property), with the compiled
        metrics listed one by one as Keras names them."""
        from kerasish.training.compile_metrics import CompileMetrics

        names: List[str] = []
        for m in self.model.metrics:
            if isinstance(m, CompileMetrics):
                names += self.compiled_names(m)
            else:
                names.append(m.name)
        return names

    def compiled_names(self, container: Any) -> List[str]:
        """The names Keras gives the compiled metrics in `model.metrics` order."""
        return [m.name for m in container.metrics or []]

    def to(self, device: torch.device) -> "Steps":
        self.loss_tracker.to(device)
        for m in self.metrics + self.layer_metrics:
            m.to(device)
        return self

    def reset(self) -> None:
        for t in self.trackers():
            t.reset_state()

    def lazy_logs(self) -> Any:
        """The running results as lazy batch logs (no host sync until read)."""
        from kerasish.training.logs import LazyLogs

        return LazyLogs(self.tracker_names(), self.trackers())

    def sample_weights(self, y: Any, w: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """The batch's sample weights with `class_weight` applied (each sample's class weight, times
        its own weight if it has one); `w` itself without class weights."""
        if self.class_weight is None:
            return w
        labels = y
        if labels.dim() > 1 and labels.shape[-1] > 1:
            labels = labels.argmax(dim=-1)
        elif labels.dim() > 1:
            labels = labels.squeeze(-1)
        cw = self.class_weight[labels.long()]
        return cw if w is None else cw * w

    def leave_logits_path(self) -> None:
        """From now on the loss reads the model's outputs: something now observes the model's own call
        (a hook or regularizer added during fit), which the logits path would skip."""
        from kerasish import distributed

        if distributed.is_distributed():
            raise RuntimeError(
                "A hook, activity regularizer or dtype policy was added to the model during a distributed fit; the "
                "data-parallel forward was built without it. Add it before calling fit."
            )
        self.fuse, self.fuse_fn, self.forward = None, None, self.plain_forward

    def _loss_and_metrics(self, x: Any, y: Any, w: Optional[torch.Tensor]) -> torch.Tensor:
        if self.fuse and logits_path_skips(self.model):
            self.leave_logits_path()
        # The common case (one input tensor, no class weights) skips the generic helpers:
        # this runs once per batch, and tiny models are bound by Python overhead.
        single = type(x) is torch.Tensor
        out = self.forward(x) if single else call_module(self.forward, x)
        if self.class_weight is not None:
            w = self.sample_weights(y, w)
        probs = None
        if self.custom_loss:
            if self.loss_takes_training:
                loss = self.model.compute_loss(x, y, out, w, training=self.optimizer is not None)
            else:
                loss = self.model.compute_loss(x, y, out, w)
        elif self.fuse:
            loss = self.loss.reduced_logits(y, out, w)
            probs = self.fuse_fn(out.detach()) if self.metrics_need_probs else None
        elif self.loss is not None:
            loss = self._checked_loss(y, out, w) if self.check_values else self.loss(y, out, w)
        else:
            loss = None
        if not self.custom_loss:
            if loss is not None and self.loss_weight != 1.0:
                loss = loss * self.loss_weight
            if self.regularized:
                # Keras reports (and trains on) the loss including layer penalties.
                reg = sum(self.model.regularization_losses())
                loss = reg if loss is None else loss + reg
            added = call_context.pass_losses(self.module_ids)
            if added:
                # add_loss() values of this forward pass (a VAE's KL term, activity penalties).
                extra = sum(added[1:], added[0])
                loss = extra if loss is None else loss + extra
            if loss is None:
                raise ValueError(
                    "No loss to compute: the model was compiled without a loss and added none with add_loss(). "
                    "Pass loss=... to compile(), or call self.add_loss(...) in a layer's call()."
                )
        n = x.shape[0] if single else batch_size_of(x)
        # Keras's epoch loss: the batch losses weighted by batch size.
        self.loss_tracker.add_mean(loss, n)
        if self.custom_metrics:
            self.model.compute_metrics(x, y, out, w)
        elif self.metrics:
            if self.check_values:
                self._check_metric_values(y, out.detach(), w, probs)
            else:
                self._update_metrics(y, out.detach(), w, probs)
        self.check_values = False
        return loss

    def _checked_loss(self, y: Any, out: Any, w: Optional[torch.Tensor]) -> torch.Tensor:
        """The first batch's loss, with a look at the unreduced values on their way to the reduction."""
        with checking_values(self.loss, "call", f"The loss {getattr(self.loss, 'name', self.loss)!r}", out,
                             "Return per-sample losses (e.g. the mean over the last axis) or a scalar."):
            return self.loss(y, out, w)

    def _update_metrics(self, y: Any, detached: torch.Tensor, w: Optional[torch.Tensor], probs: Any) -> None:
        for m in self.metrics:
            # Keras 3: `metrics` are unweighted; `weighted_metrics` see sample/class weights.
            m.update_state(y, metric_input(m, detached, probs, bool(self.fuse)), w if m.weighted else None)

    def _check_metric_values(self, y: Any, out: Any, w: Optional[torch.Tensor], probs: Any) -> None:
        """The first batch's metric updates, with a look at what each metric function returns."""
        from kerasish.metrics.metric import MeanMetricWrapper

        with contextlib.ExitStack() as stack:
            for m in self.metrics:
                if type(m) is MeanMetricWrapper:  # a user's function given as a metric
                    stack.enter_context(checking_values(m, "_values", f"The metric {m.name!r}", out,
                                                        "Return one value per sample or a scalar."))
            self._update_metrics(y, out, w, probs)

    def train_step(self, x: Any, y: Any, w: Optional[torch.Tensor]) -> None:
        with call_context.training_scope(True, self.module_ids):
            if self.mixed:
                with self.autocast():
                    loss = self._loss_and_metrics(x, y, w)
            else:
                loss = self._loss_and_metrics(x, y, w)
        if not loss.requires_grad:
            # Nothing depends on a trainable weight (a model without any): as Keras, no update, the
            # optimizer not called (its step count stays), and Keras's warning each step (Python's
            # default filter shows it once).
            warnings.warn("The model does not have any trainable weights.", UserWarning)
        elif self.scaler is None:
            self.optimizer.scale_loss(loss).backward()
            if self.guard is None:
                self.optimizer.step()
            else:
                self.guard.step(loss)  # undone on the device when not finite (no host sync)
        else:
            # float16: scale the loss so small gradients survive, unscale before clipping.
            opt = self.optimizer
            opt.before_step()
            self.scaler.scale(loss).backward()
            if opt.clips:
                self.scaler.unscale_(opt.torch_optimizer)
                opt.clip_gradients()
            with labelled_sync(FLOAT16_SYNC):  # torch's GradScaler reads its inf flag here
                self.scaler.step(opt.torch_optimizer)
            self.scaler.update()
            opt.after_step()
        self.optimizer.zero_grad()

    def test_step(self, x: Any, y: Any, w: Optional[torch.Tensor]) -> None:
        with call_context.training_scope(False, self.module_ids):
            if self.mixed:
                with self.autocast():
                    self._loss_and_metrics(x, y, w)
            else:
                self._loss_and_metrics(x, y, w)


def metric_input(metric: Any, outputs: torch.Tensor, probs: Any, fused: bool) -> Any:
    """What a metric reads: the model's outputs, or, when the step computed logits (`fused`), the
    probabilities, except for metrics whose result logits do not change (accuracy's argmax)."""
    return outputs if not fused or metric.logits_invariant else probs


@contextlib.contextmanager
def checking_values(obj: Any, method: str, what: str, y_pred: Any, fix: str) -> Any:
    """While active, `obj.<method>` (a loss's `call`, a metric's `_values`) checks that it returns a
    scalar or per-sample values for `y_pred` (shapes only: no host sync, no extra evaluation)."""
    from kerasish.data import checks

    original = getattr(obj, method, None)
    if original is None or method in vars(obj):
        yield
        return

    def checked(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        values = result[0] if isinstance(result, tuple) else result
        checks.check_per_sample_values(values, y_pred, what, fix)
        return result

    setattr(obj, method, checked)
    try:
        yield
    finally:
        delattr(obj, method)


def compiled_forward(fn: Callable, options: Optional[dict] = None) -> Callable:
    """torch.compile(fn, **options), falling back to eager (with a warning) if compilation fails.

    Only the trainer's torchrun path uses it (the DDP-wrapped forward); otherwise `jit_compile`
    compiles the whole loss-and-metrics step with its backward (see `compiled_step`).
    """
    try:
        compiled = torch.compile(fn, **(options or {}))
    except Exception as e:  # noqa: BLE001 - any backend failure means: run eagerly
        warnings.warn(f"jit_compile=True: torch.compile is unavailable ({e}); running eagerly.", stacklevel=3)
        return fn
    state = {"fn": compiled}

    def run(*args: Any) -> Any:
        try:
            return state["fn"](*args)
        except Exception as e:  # noqa: BLE001
            if state["fn"] is fn:
                raise
            warnings.warn(f"jit_compile=True: torch.compile failed ({type(e).__name__}: {e}); running eagerly.",
                          stacklevel=2)
            state["fn"] = fn
            return fn(*args)

    return run


def split_targets(y: Any, names: List[str], required: List[str]) -> List[Any]:
    """The targets of each output, in output order.

    `y` is a list/tuple (output order), a dict keyed by output name (outputs without a
    loss may be missing), or one array used for every output.

    Raises:
        ValueError: for a list of the wrong length or a dict missing a `required` name.
    """
    if isinstance(y, dict):
        missing = [n for n in required if n not in y]
        if missing:
            raise ValueError(f"y is missing targets for output(s) {missing}; the model's outputs are {names}.")
        return [y.get(n) for n in names]
    if isinstance(y, (list, tuple)):
        if len(y) != len(names):
            raise ValueError(
                f"The model has {len(names)} outputs {names} but y holds {len(y)} arrays. Pass one target per "
                "output, as a list in output order or a dict keyed by output name."
            )
        return list(y)
    return [y] * len(names)


class MultiSteps(Steps):
    """Steps for a model with several outputs (functional API).

    The training loss is the weighted sum of the per-output losses (`loss_weights`);
    logs carry `loss`, `<output>_loss` (when two or more outputs have a loss) and
    `<output>_<metric>` as Keras names them.
    Targets `y` are a list (output order) or a dict keyed by output name. A cross-entropy head
    whose output layer ends in the matching softmax/sigmoid is computed from that layer's logits
    (as single-output models are: the same value as Keras's clipped probabilities away from
    saturation, and finite gradients where those vanish); its metrics see the probabilities.

    Args:
        model: a Functional model (its `flatten_outputs` orders the outputs).
        heads: `(name, loss, weight, [Metric, ...])` per output; loss may be None.
    """

    def __init__(self, model: Any, heads: List[Any], optimizer: Any = None, jit_compile: bool = False,
                 loss_tracker: Optional[Mean] = None) -> None:
        super().__init__(model, None, [], optimizer, 1.0, None, None, jit_compile, loss_tracker)
        self.heads = heads
        self.head_trackers = [Mean(name=f"{name}_loss") for name, loss, _, _ in heads]
        self.metrics = [m for _, _, _, ms in heads for m in ms]
        self.names = [name for name, _, _, _ in heads]
        self.required = [name for name, loss, _, _ in heads if loss is not None]
        # Output i is fused when its loss has a logits form for its output layer's activation.
        self.fused: List[Optional[Any]] = []
        for i, (_, loss_fn, _, _) in enumerate(heads):
            fuses = getattr(loss_fn, "fuses", None)
            act = model.output_logits_activation(i) if hasattr(model, "output_logits_activation") else None
            ok = (fuses and act == fuses and not getattr(loss_fn, "from_logits", True) and not self.custom_loss
                  and not logits_path_skips(model, i))
            self.fused.append(activations.get(fuses) if ok else None)
        self.logits_outputs = tuple(i for i, f in enumerate(self.fused) if f is not None)
        if self.logits_outputs:
            self.forward = functools.partial(model.forward_logits, logits_outputs=self.logits_outputs)

    @property
    def ddp_logits(self) -> Any:
        return self.logits_outputs or False

    def trackers(self) -> List[Any]:
        with_loss = [t for t, (_, loss, _, _) in zip(self.head_trackers, self.heads) if loss is not None]
        # Keras logs `<output>_loss` only when two or more outputs have a loss: with one, it equals `loss`.
        return [self.loss_tracker] + (with_loss if len(with_loss) > 1 else []) + self.metrics + self.layer_metrics

    def tracker_names(self) -> List[str]:
        return [t.name for t in self.trackers()]

    def compiled_names(self, container: Any) -> List[str]:
        """For several outputs Keras lists each compiled metric by its own name (`mae`, not the
        `<output>_mae` of the logs), then the per-output loss trackers: so `loss` and the per-output
        losses lead evaluate's list and the `<output>_<metric>` entries follow in sorted key order."""
        own = [m.name[len(self.names[h]) + 1:] if h is not None else m.name
               for m, h in zip(container.metrics or [], container.heads)]
        return own + [t.name for t, (_, loss, _, _) in zip(self.head_trackers, self.heads) if loss is not None]

    def to(self, device: torch.device) -> "MultiSteps":
        super().to(device)
        for t in self.head_trackers:
            t.to(device)
        return self

    def leave_logits_path(self) -> None:
        super().leave_logits_path()
        self.fused = [None] * len(self.fused)
        self.logits_outputs = ()

    def _loss_and_metrics(self, x: Any, y: Any, w: Optional[torch.Tensor]) -> torch.Tensor:
        if self.logits_outputs and any(logits_path_skips(self.model, i) for i in self.logits_outputs):
            self.leave_logits_path()
        outs = self.model.flatten_outputs(call_module(self.forward, x))
        ys = split_targets(y, self.names, self.required)
        n = batch_size_of(x)
        total = None
        heads = zip(self.heads, self.head_trackers, outs, ys, self.fused)
        for (name, loss_fn, weight, metrics), tracker, out, target, fuse_fn in heads:
            if loss_fn is not None:
                value = loss_fn.reduced_logits(target, out, w) if fuse_fn is not None else loss_fn(target, out, w)
                tracker.add_mean(value, n)
                total = value * weight if total is None else total + value * weight
            detached = out.detach()
            probs = fuse_fn(detached) if fuse_fn is not None and any(not m.logits_invariant for m in metrics) \
                else None
            for m in metrics:
                m.update_state(target, metric_input(m, detached, probs, fuse_fn is not None), None)  # unweighted
        if self.regularized:
            total = total + sum(self.model.regularization_losses())
        added = call_context.pass_losses(self.module_ids)
        if added:
            total = total + sum(added[1:], added[0])
        self.loss_tracker.add_mean(total, n)
        return total


def _check_float16_optimizer(optimizer: Any) -> None:
    """mixed_float16 steps through torch's GradScaler, which bypasses these optimizer features: refuse them."""
    from kerasish.optimizers import LossScaleOptimizer

    held = [optimizer] + list(getattr(optimizer, "optimizers", []))  # a MultiOptimizer's sub-optimizers too
    unsupported = [name for name in ("gradient_accumulation_steps", "loss_scale_factor")
                   if any(getattr(o, name, None) is not None for o in held)]
    if isinstance(optimizer, LossScaleOptimizer):
        unsupported.append("LossScaleOptimizer")
    if unsupported:
        raise ValueError(
            f"The 'mixed_float16' policy scales the loss with torch's GradScaler, which cannot be combined with the "
            f"optimizer's {', '.join(unsupported)}. Use the 'mixed_bfloat16' policy, or drop "
            f"{'it' if len(unsupported) == 1 else 'them'} (GradScaler already scales the loss dynamically)."
        )
