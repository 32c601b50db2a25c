"""`compile(jit_compile=...)`: the built-in train and test steps under `torch.compile`.

What is compiled, per batch of the built-in step (`step.Steps`):
- train (`CompiledTrainStep`): the whole step as one graph: the forward pass, the loss
  (compiled loss, weights, `add_loss` terms, penalties), the loss-tracker and metric
  updates, the gradients (`torch.autograd.grad`, traced by dynamo) and the optimizer's
  update (`optimizers.compiled_update`: Keras's clipping, `clipnorm`, `global_clipnorm` or
  `clipvalue`, then its SGD, RMSprop, Adam, AdamW, Adamax, Nadam or Lion rule, with the
  step's scalars, e.g. a schedule's rate, Adam's bias correction or Nadam's momentum cache,
  as 0-d tensors, so one graph serves every step). A step is one compiled call plus a few
  microseconds of host bookkeeping: no autograd engine, no AOTAutograd backward wrapper, no
  eager optimizer. Where the update has no compiled form (another optimizer: Adagrad,
  Adadelta, Ftrl, Lamb, Adafactor, a wrapped torch optimizer or `formula="torch"`; gradient
  accumulation; loss scaling; an optimizer overriding `step`; hooks on the torch
  optimizer; `skip_nonfinite`; mixed precision; a torch without
  `torch._dynamo.config.trace_autograd_ops`) the step runs as before: forward, loss and
  metrics as one graph (`CompiledLoss`) whose backward AOTAutograd compiles, then the eager
  update. `CompiledUpdate.unsupported(optimizer)` says which applies.
- test: the forward pass, the loss and the metric updates.

Why the whole step: on a CPU a compiled call costs some tens of microseconds whatever it
holds (measured for linear regression: dynamo's guards about 8 us, of which 3-4 are the
NaN checks of the float64 tracker totals; the eval-frame hook, AOTAutograd's runtime
wrapper and inductor's Python wrapper the rest of a ~45 us call). Compiling the forward
and loss alone pays that and then runs `loss.backward()` through the autograd engine into
a second compiled function (AOTAutograd's backward wrappers), then the eager update: slower
than the eager step for a tiny model (measured 1.6x). One graph for everything pays it once
and replaces the engine and the update: per fit step 0.40x the eager step on linreg, 0.79x
on the benchmarks' MLP, 0.97x on their CNN (1.22x while inductor generated max pooling's
backward, a slow scatter on a CPU; `ops/opaque.py` keeps aten's kernels for it).
benchmarks/compiled_step.py prints these numbers.

Left eager, with the same results:
- the first batch of each fit/evaluate call: it checks what the loss and metric functions
  return (`Steps.check_values`) and creates the optimizer's state;
- a batch whose size differs from the compiled one (the last, short batch of an epoch): it
  runs the same step eagerly instead of compiling a second graph. Compiling takes tens of
  seconds on a CPU, the eager step milliseconds, and marking the batch dimension dynamic does
  not avoid the recompile (torch specialises sizes 0 and 1 and the storage offset of sliced
  batches). Pass `jit_compile={"dynamic": True}` to compile every batch size instead;
- a model that overrides `train_step` or `test_step`: the override runs eagerly (a
  `super().train_step(data)` inside it reaches the compiled built-in step);
- under torchrun, where the trainer compiles the DDP-wrapped forward only.

`torch.compile` options are passed as a dict: `jit_compile={"mode": "reduce-overhead"}`
(CUDA graphs on a GPU). Accepted keys: `mode`, `backend`, `fullgraph`, `dynamic`, `options`;
`True` means `{}` (torch's defaults, the inductor backend, as Keras 3 on torch). `"auto"`
resolves to `False` (eager), as in Keras 3 on the torch backend.

If compiling fails (no C++ compiler, an unsupported operation, a backend error), the batch
is rerun eagerly and the model stays eager (for these options), with one warning that says
why. If only the whole step cannot be one graph (a graph break in a layer: the whole step
is compiled with `fullgraph=True`), the warning says so and the forward pass and loss
still compile. An error of the step itself is raised as the eager step raises it. The
seconds spent in first compiled calls (tracing and code generation) add up in
`model.compile_time_s`.

Nothing here synchronises with the host: routing by batch size reads tensor metadata, and
the update's scalars are written with `fill_` (a kernel argument, not a host copy). On a
CPU, dynamo's guards read the 0-d float64 tracker totals (a NaN check, host memory only);
torch installs no such guard for CUDA tensors.

Example:
    >>> import numpy as np, kerasish
    >>> model = kerasish.Sequential([kerasish.layers.Dense(1, input_shape=(3,))])
    >>> model.compile(optimizer="sgd", loss="mse", jit_compile={"backend": "aot_eager"})
    >>> history = model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), batch_size=2, verbose=0)
    >>> model.compile_time_s > 0
    True
"""

from __future__ import annotations

import itertools
import time
import types
import warnings
from typing import Any, Callable, Dict, Optional

import torch

from kerasish.layers import call_context
from kerasish.utils.host_sync import labelled_sync

_BODY_IDS = itertools.count()
OPTION_NAMES = ("mode", "backend", "fullgraph", "dynamic", "options")
_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")

# Tracing and code generation read tensors on the host; a graph's first call only.
COMPILE_SYNC = "torch.compile's first call of a graph (tracing and code generation): once per compiled graph"


def resolve_jit_compile(jit_compile: Any) -> Optional[Dict[str, Any]]:
    """The `torch.compile` keyword arguments for `compile(jit_compile=...)`, or None for eager.

    Args:
        jit_compile: `True`, `False`, `"auto"` (eager on torch, as in Keras 3) or a dict of
            `torch.compile` options (`mode`, `backend`, `fullgraph`, `dynamic`, `options`).

    Returns:
        A dict (empty for `True`) to compile with, or None to run eagerly.

    Raises:
        ValueError: for another value, an unknown option name or mode, or `mode` together
            with `options`.
        TypeError: for an option of the wrong type.
    """
    if jit_compile is True:
        return {}
    if jit_compile is False or jit_compile is None or (isinstance(jit_compile, str) and jit_compile == "auto"):
        return None
    if not isinstance(jit_compile, dict):
        raise ValueError(
            f"jit_compile must be True, False, 'auto' or a dict of torch.compile options, received "
            f"{jit_compile!r}. Example: jit_compile=True or jit_compile={{'mode': 'reduce-overhead'}}."
        )
    unknown = [k for k in jit_compile if k not in OPTION_NAMES]
    if unknown:
        import difflib

        close = difflib.get_close_matches(str(unknown[0]), OPTION_NAMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"jit_compile received unknown torch.compile option(s) {unknown}; the accepted options are "
            f"{list(OPTION_NAMES)}.{hint} Pass other settings through jit_compile={{'options': {{...}}}} "
            "(torch.compile's inductor options)."
        )
    options = dict(jit_compile)
    mode = options.get("mode")
    if mode not in _MODES:
        raise ValueError(
            f"jit_compile received mode={mode!r}; torch.compile's modes are {[m for m in _MODES if m]}. "
            "Example: jit_compile={'mode': 'reduce-overhead'}."
        )
    if mode is not None and options.get("options") is not None:
        raise ValueError(
            f"jit_compile received both mode={mode!r} and options={options['options']!r}; torch.compile takes "
            "one or the other. Drop 'mode', or put the mode's settings in 'options'."
        )
    for name in ("fullgraph",):
        if name in options and not isinstance(options[name], bool):
            raise TypeError(f"jit_compile's {name!r} must be True or False, received {options[name]!r}.")
    if "dynamic" in options and options["dynamic"] not in (None, True, False):
        raise TypeError(f"jit_compile's 'dynamic' must be True, False or None, received {options['dynamic']!r}.")
    if "options" in options and not isinstance(options["options"], (dict, type(None))):
        raise TypeError(f"jit_compile's 'options' must be a dict, received {type(options['options']).__name__}.")
    backend = options.get("backend")
    if backend is None:
        pass  # torch.compile's default (inductor): listing the backends costs an import, skip it
    elif isinstance(backend, str):
        known = torch._dynamo.list_backends(exclude_tags=())
        if backend not in known:
            raise ValueError(
                f"jit_compile received backend={backend!r}, which torch.compile does not know; the available "
                f"backends are {known}. Example: jit_compile={{'backend': 'inductor'}}."
            )
    elif not callable(backend):
        raise TypeError(f"jit_compile's 'backend' must be a name or a callable, received {backend!r}.")
    return options


def install(steps: Any, options: Optional[Dict[str, Any]] = None) -> None:
    """Makes `steps.train_step` / `steps.test_step` run under torch.compile.

    On this object only: `_loss_and_metrics` becomes a `CompiledLoss` (the test step, and the
    train steps the whole graph does not cover) and `train_step` a `CompiledTrainStep` (the
    whole step as one graph where the optimizer's update has a compiled form).

    Args:
        steps: a `Steps` or `MultiSteps` (kerasish.training.step) for one fit/evaluate call.
        options: `torch.compile` keyword arguments (see `resolve_jit_compile`). Defaults to
            `None` (the model's compile options, else torch's defaults).
    """
    from kerasish import distributed

    if distributed.is_distributed():
        return  # the trainer compiles the DDP-wrapped forward (see the module docstring)
    model = steps.model
    if options is None:
        cfg = getattr(model, "_compile_config", None)
        options = dict(getattr(cfg, "jit_compile_options", None) or {})
    partial = CompiledLoss(steps, options)
    steps._loss_and_metrics = partial
    if partial.kind == "train":
        steps.train_step = CompiledTrainStep(steps, partial)


class CompiledLoss:
    """`Steps._loss_and_metrics` for one step object, compiled from its second batch on.

    Batches of another size than the first run eagerly, unless the options set `dynamic`.

    Args:
        steps: the `Steps` object whose `_loss_and_metrics` this replaces.
        options: `torch.compile` keyword arguments.
    """

    def __init__(self, steps: Any, options: Dict[str, Any]) -> None:
        self.steps = steps
        self.eager = types.MethodType(type(steps)._loss_and_metrics, steps)
        self.options = options
        self.kind = "train" if steps.optimizer is not None else "test"
        self.all_sizes = options.get("dynamic") is True
        self.batch_size: Optional[int] = None
        self.compiled: Optional[Callable] = None
        self.forced_eager = False  # set while CompiledTrainStep reruns a failed step eagerly
        # One compiled body, and one failure, per model, step kind and options.
        self.key = (self.kind, repr(sorted(options.items())))
        self.failures = steps.model.__dict__.setdefault("_jit_compile_failures", {})

    def __call__(self, x: Any, y: Any, w: Optional[torch.Tensor]) -> torch.Tensor:
        from kerasish.training.step import batch_size_of

        n = batch_size_of(x)  # host metadata: no sync
        if self.forced_eager:
            return self.eager(x, y, w)
        if self.batch_size is None:
            # The first batch runs eagerly (it checks the loss and metric values and creates
            # the optimizer's state) and sets the batch size the graph is compiled for.
            self.batch_size = n
            return self.eager(x, y, w)
        if self.key in self.failures or (n != self.batch_size and not self.all_sizes):
            return self.eager(x, y, w)  # a short last batch: no second graph (see the module docstring)
        if self.compiled is None:
            return self._first_call(x, y, w)
        try:
            return self.compiled(self.steps, x, y, w)
        except Exception as e:  # noqa: BLE001 - a late compile (a new shape, a guard) may fail too
            return self._fall_back(e, x, y, w)

    def _first_call(self, x: Any, y: Any, w: Optional[torch.Tensor]) -> torch.Tensor:
        model = self.steps.model
        start = time.perf_counter()
        try:
            self.compiled = _compiled_body(model, self.key, self.options)
            with labelled_sync(COMPILE_SYNC):
                loss = self.compiled(self.steps, x, y, w)
        except Exception as e:  # noqa: BLE001 - any compiler or backend failure: run eagerly
            return self._fall_back(e, x, y, w)
        elapsed = time.perf_counter() - start
        model.__dict__["compile_time_s"] = model.__dict__.get("compile_time_s", 0.0) + elapsed
        return loss

    def _fall_back(self, error: Exception, x: Any, y: Any, w: Optional[torch.Tensor]) -> torch.Tensor:
        # The eager step tells a compiler failure from an error of the step itself: the latter
        # raises here again, unchanged, and the model keeps compiling.
        loss = self.eager(x, y, w)
        model = self.steps.model
        reason = _reason(error)
        self.failures[self.key] = reason
        warnings.warn(
            f"jit_compile: torch.compile could not compile {type(model).__name__}'s {self.kind} step "
            f"({reason}). This model now runs eagerly (same results, no compile speed-up). Pass "
            "jit_compile=False to skip compiling, or jit_compile={'backend': 'aot_eager'} to compile "
            "without code generation.",
            RuntimeWarning,
            stacklevel=2,
        )
        return loss


class CompiledTrainStep:
    """`Steps.train_step` for one step object: the whole step as one compiled graph.

    The graph holds the forward pass, the loss, the tracker and metric updates, the gradients
    (`torch.autograd.grad`, traced) and the optimizer's update (`CompiledUpdate`, with the
    step's scalars as tensors), so a step is one compiled call plus a few microseconds of host
    bookkeeping. Batches this graph does not take run `Steps.train_step` as before (its loss
    through `CompiledLoss`, the update eager): the first batch, a batch of another size, an
    optimizer or setting without a compiled update, observed optimizer steps (hooks),
    `skip_nonfinite`, mixed precision.

    Args:
        steps: the `Steps` whose `train_step` this replaces.
        partial: the `CompiledLoss` installed as the same object's `_loss_and_metrics`.
    """

    def __init__(self, steps: Any, partial: CompiledLoss) -> None:
        from kerasish.training.step import Steps

        self.steps, self.partial = steps, partial
        self.builtin = type(steps).train_step is Steps.train_step  # a subclass's own step stays as it is
        self.eager = types.MethodType(type(steps).train_step, steps)
        self.options = {**partial.options, "fullgraph": True}
        self.key = ("train_whole", partial.key[1])
        self.update: Any = None
        self.possible: Optional[bool] = None  # whether the whole graph can run, decided at the second batch
        self.compiled: Optional[Callable] = None
        self.why_eager: Optional[str] = None  # why this step object keeps the eager update (None: it does not)

    def _whole_step_possible(self) -> bool:
        """Whether this step object can run the whole graph at all (decided once, after the first batch)."""
        steps = self.steps
        if steps.scaler is not None or steps.mixed or not self.builtin:
            return False
        if not hasattr(torch._dynamo.config, "trace_autograd_ops"):
            # A torch whose dynamo cannot trace `torch.autograd.grad`: forward and loss compile only.
            self.why_eager = f"torch {torch.__version__} cannot trace torch.autograd.grad into a graph"
            return False
        from kerasish.optimizers.compiled_update import CompiledUpdate

        self.why_eager = CompiledUpdate.unsupported(steps.optimizer)
        if self.why_eager is None:
            self.update = CompiledUpdate(steps.optimizer)
        return self.update is not None

    def __call__(self, x: Any, y: Any, w: Optional[torch.Tensor]) -> None:
        partial = self.partial
        if self.possible is None:
            if partial.batch_size is None:
                self.eager(x, y, w)  # the first batch: checks values, creates the optimizer's state
                return
            self.possible = self._whole_step_possible()
        # Per batch, host checks only (about a microsecond): whatever the graph does not cover
        # runs the eager step.
        n = x.shape[0] if type(x) is torch.Tensor else _batch_size_of(x)
        failed = partial.failures and (self.key in partial.failures or partial.key in partial.failures)
        other_size = n != partial.batch_size and not partial.all_sizes
        if not self.possible or failed or other_size or self.steps.guard is not None or self.update.observed():
            self.eager(x, y, w)
            return
        update = self.update
        prepared = update.prepare()
        try:
            with call_context.training_scope(True, self.steps.module_ids):
                if self.compiled is None:
                    self._first_call(x, y, w, prepared)
                else:
                    self._call(x, y, w, prepared)
        except Exception as e:  # noqa: BLE001 - a compiler failure, or the step's own error
            update.undo(prepared)
            self._fall_back(e, x, y, w)
            return
        update.finish()

    def _call(self, x: Any, y: Any, w: Any, prepared: Any) -> torch.Tensor:
        try:
            return self.compiled(self.steps, x, y, w, prepared, self.update)
        except torch._dynamo.exc.Unsupported:
            # A recompile (a guard failed) traced without autograd ops: trace again with them.
            # Tracing raises before the graph runs, so nothing was updated twice.
            with torch._dynamo.config.patch(trace_autograd_ops=True):
                return self.compiled(self.steps, x, y, w, prepared, self.update)

    def _first_call(self, x: Any, y: Any, w: Any, prepared: Any) -> None:
        model = self.steps.model
        start = time.perf_counter()
        self.compiled = _compiled_body(model, self.key, self.options, _train_step_body)
        # The gradients are traced into the graph (`torch.autograd.grad`), which dynamo does
        # only with this setting; it is read while tracing, so it is set for this call only.
        with torch._dynamo.config.patch(trace_autograd_ops=True), labelled_sync(COMPILE_SYNC):
            self.compiled(self.steps, x, y, w, prepared, self.update)
        model.__dict__["compile_time_s"] = model.__dict__.get("compile_time_s", 0.0) + time.perf_counter() - start

    def _fall_back(self, error: Exception, x: Any, y: Any, w: Optional[torch.Tensor]) -> None:
        # Rerun the step eagerly first: an error of the step itself raises here, unchanged.
        partial = self.partial
        partial.forced_eager = True
        try:
            self.eager(x, y, w)
        finally:
            partial.forced_eager = False
        model = self.steps.model
        reason = _reason(error)
        if isinstance(error, torch._dynamo.exc.Unsupported):
            # Something in the step that one graph cannot hold: the forward pass and loss still
            # compile (CompiledLoss), the update runs eagerly.
            partial.failures[self.key] = reason
            outcome = ("its forward pass and loss still compile, the optimizer update runs eagerly (same "
                       "results, less speed-up)")
        else:
            partial.failures[self.key] = partial.failures[partial.key] = reason
            outcome = "this model now runs eagerly (same results, no compile speed-up)"
        warnings.warn(
            f"jit_compile: torch.compile could not compile {type(model).__name__}'s train step as one graph "
            f"({reason}); {outcome}. Pass jit_compile=False to skip compiling, or "
            "jit_compile={'backend': 'aot_eager'} to compile without code generation.",
            RuntimeWarning,
            stacklevel=3,
        )


def _batch_size_of(x: Any) -> int:
    from kerasish.training.step import batch_size_of

    return batch_size_of(x)


def _train_step_body(steps: Any, x: Any, y: Any, w: Any, prepared: Any, update: Any) -> torch.Tensor:
    """What one compiled graph runs: `Steps._loss_and_metrics`, the gradients, the update.

    The conditions below are decided while tracing (dynamo guards them): a weight frozen
    since the optimizer was built, or one the loss does not reach, gets no gradient and no
    update, as in the eager step.
    """
    loss = type(steps)._loss_and_metrics(steps, x, y, w)
    params = update.params(prepared)
    wanted = [p for p in params if p.requires_grad] if loss.requires_grad else []
    found = iter(torch.autograd.grad(loss, wanted, allow_unused=True) if wanted else ())
    update.apply(prepared, [next(found) if loss.requires_grad and p.requires_grad else None for p in params])
    return loss.detach()


def _reason(error: Exception) -> str:
    """The first line of the error behind a compile failure (dynamo wraps the backend's own error)."""
    inner = getattr(error, "inner_exception", None) or error.__cause__ or error
    lines = str(inner).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(inner).__name__}: {text[:300]}"


def _loss_and_metrics_body(steps: Any, x: Any, y: Any, w: Any) -> torch.Tensor:
    return type(steps)._loss_and_metrics(steps, x, y, w)


def _compiled_body(model: Any, key: Any, options: Dict[str, Any], body: Callable = _loss_and_metrics_body
                   ) -> Callable:
    """torch.compile of the step body, one per model and step kind, reused by later fits.

    Each gets its own copy of the body's code object, under its own name: dynamo keeps its cache
    and recompile limit per code object, and its record of which sizes changed (automatic
    dynamic shapes) per code name, so models and step kinds neither use up each other's
    budget nor make each other's shapes dynamic.
    """
    cache = model.__dict__.setdefault("_compiled_step_bodies", {})
    if key not in cache:
        name = f"{key[0]}_step_body_{next(_BODY_IDS)}"
        code = body.__code__.replace(co_name=name, co_qualname=name)
        cache[key] = torch.compile(types.FunctionType(code, body.__globals__, name), **options)
    return cache[key]
