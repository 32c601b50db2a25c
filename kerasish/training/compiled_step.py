"""`compile(jit_compile=...)`: the built-in train and test steps under `torch.compile`.

What is compiled, per batch of the built-in step (`step.Steps`):
- train: the forward pass, the loss (compiled loss, weights, `add_loss` terms, penalties) and
  the loss-tracker and metric updates, as one graph; AOTAutograd compiles its backward graph
  with it, so `loss.backward()` runs compiled code too. The optimizer update then runs as
  kerasish's foreach update rules (a handful of multi-tensor kernels). It is not compiled:
  Keras's rules compute their step scalars (bias corrections, the scheduled rate) on the host
  from the step count, and `torch.compile` of the update specialises on that count, so it
  recompiles on every step until it reaches dynamo's recompile limit (measured).
- test: the forward pass, the loss and the metric updates.

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
why. An error of the step itself is raised as the eager step raises it. The seconds spent in
first compiled calls (tracing and code generation) add up in `model.compile_time_s`.

When it pays: a compiled call has a fixed cost (dynamo's guards, AOTAutograd's wrappers)
of some tens to hundreds of microseconds on a CPU, so a step that does little work (linear
regression on a batch of 4) gets slower, and one that does real work (an MLP on batches of
128) faster; see benchmarks/compiled_step.py.

Nothing here synchronises with the host: routing by batch size reads tensor metadata. On a
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

_BODY_IDS = itertools.count()
OPTION_NAMES = ("mode", "backend", "fullgraph", "dynamic", "options")
_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


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
    """Makes `steps.train_step` / `steps.test_step` run their loss and metrics under torch.compile.

    The step's own code (`Steps.train_step`: autocast, backward, the optimizer, the non-finite
    guard, mixed-float16's scaler) stays as it is; only its `_loss_and_metrics` is replaced,
    on this object, by a `CompiledLoss`.

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
    steps._loss_and_metrics = CompiledLoss(steps, options)


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
        # One compiled body, and one failure, per model, step kind and options.
        self.key = (self.kind, repr(sorted(options.items())))
        self.failures = steps.model.__dict__.setdefault("_jit_compile_failures", {})

    def __call__(self, x: Any, y: Any, w: Optional[torch.Tensor]) -> torch.Tensor:
        from kerasish.training.step import batch_size_of

        n = batch_size_of(x)  # host metadata: no sync
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


def _reason(error: Exception) -> str:
    """The first line of the error behind a compile failure (dynamo wraps the backend's own error)."""
    inner = getattr(error, "inner_exception", None) or error.__cause__ or error
    lines = str(inner).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(inner).__name__}: {text[:300]}"


def _loss_and_metrics_body(steps: Any, x: Any, y: Any, w: Any) -> torch.Tensor:
    return type(steps)._loss_and_metrics(steps, x, y, w)


def _compiled_body(model: Any, key: Any, options: Dict[str, Any]) -> Callable:
    """torch.compile of the step body, one per model and step kind, reused by later fits.

    Each gets its own copy of the body's code object, under its own name: dynamo keeps its cache
    and recompile limit per code object, and its record of which sizes changed (automatic
    dynamic shapes) per code name, so models and step kinds neither use up each other's
    budget nor make each other's shapes dynamic.
    """
    cache = model.__dict__.setdefault("_compiled_step_bodies", {})
    if key not in cache:
        body = _loss_and_metrics_body
        name = f"{key[0]}_step_body_{next(_BODY_IDS)}"
        code = body.__code__.replace(co_name=name, co_qualname=name)
        cache[key] = torch.compile(types.FunctionType(code, body.__globals__, name), **options)
    return cache[key]
