"""The Optimizer base class: Keras 3's optimizer arguments over a lazily built torch optimizer.

`Optimizer` holds the settings Keras's optimizers share (learning rate or schedule, weight
decay, clipping, EMA of the weights, gradient accumulation, loss scaling) and creates its
torch optimizer when the model's parameters are known (`build(params)`, which fit calls).
Each step runs Keras's order: unscale the gradients (`loss_scale_factor`), accumulate them
(`gradient_accumulation_steps`), clip them, let the torch optimizer apply weight decay and
the update, update the moving average of the weights, apply the variables' constraints and
count the step. Everything runs on the device with foreach kernels; the step counter is a
host integer and the rate a Python float in torch's param groups, so schedules and the
accumulation/EMA bookkeeping cost no device sync. `learning_rate` and `iterations` show them
as Keras 3's variables (`rate_variable.py`), which the step never touches.
"""

from __future__ import annotations

import inspect
import re
import warnings
from typing import Any, Dict, Iterable, List, Optional, Sequence, Type

import numpy as np
import torch

from kerasish import config
from kerasish.optimizers import schedules, torch_calls
from kerasish.optimizers.rate_variable import IterationVariable, LearningRateVariable, RateAndCounter
from kerasish.optimizers.schedules import LearningRateSchedule

_FORMULAS = ("keras", "torch")


class Optimizer(RateAndCounter):
    """Base class: Keras-style settings over a lazily built `torch.optim.Optimizer`.

    Subclasses name two torch optimizer classes: `keras_rule` runs Keras's formula
    (the default) and `torch_rule` runs torch's (`formula="torch"`, or
    `kerasish.config.set_defaults("torch")` in effect when the optimizer is created).

    Args:
        learning_rate: the step size: a number, a `schedules.LearningRateSchedule` (evaluated
            from the host step counter before every update, no device sync), or a callable
            without arguments returning the rate (Keras's rule for callables). Defaults to `0.001`.
        weight_decay: decoupled weight decay, as Keras 3: before each update every variable
            (except those given to `exclude_from_weight_decay`) is multiplied by
            `1 - weight_decay * learning_rate`. With `formula="torch"` it is torch's argument
            (coupled L2 except in AdamW). Defaults to `None`.
        clipnorm: clip each gradient so that its norm is at most this value. Defaults to `None`.
        clipvalue: clip gradient values to `[-clipvalue, clipvalue]`. Defaults to `None`.
        global_clipnorm: clip all gradients together so that their global norm is at most this
            value. Defaults to `None`. At most one of the three clipping arguments may be set.
        use_ema: keep an exponential moving average of the weights and write it into the model
            at the end of `fit` (`finalize_variable_values`). Defaults to `False`.
        ema_momentum: the average's momentum: `average = m * average + (1 - m) * weight`.
            Defaults to `0.99`.
        ema_overwrite_frequency: also write the average into the weights every this many
            steps. Defaults to `None`.
        loss_scale_factor: the loss is multiplied by this (`scale_loss`) and the gradients
            divided by it before the update. Defaults to `None`.
        gradient_accumulation_steps: update the weights every this many steps with the mean
            of the gradients since the last update (`iterations` counts updates, schedules
            see every step, as in Keras). Defaults to `None`.
        name: the optimizer's name. Defaults to `None` (Keras's: the snake-case class name).
        formula: keyword-only, kerasish's: `"keras"` or `"torch"`. Defaults to `None`
            (`kerasish.config.defaults()` when the optimizer is created).
        **kwargs: with `formula="torch"`, further arguments of the torch optimizer class
            (e.g. `foreach=False`); Keras's removed `decay` is ignored with a warning.

    Raises:
        ValueError: for a bad learning rate, two clipping arguments, bad EMA or accumulation
            settings, or an unknown argument (the valid ones are listed).
    """

    keras_rule: Optional[Type[torch.optim.Optimizer]] = None
    torch_rule: Optional[Type[torch.optim.Optimizer]] = None

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: Optional[float] = None,
        clipnorm: Optional[float] = None,
        clipvalue: Optional[float] = None,
        global_clipnorm: Optional[float] = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: Optional[int] = None,
        loss_scale_factor: Optional[float] = None,
        gradient_accumulation_steps: Optional[int] = None,
        name: Optional[str] = None,
        *,
        formula: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        self._schedule: Any = None
        if isinstance(learning_rate, dict):  # a serialized schedule (get_config / Keras configs)
            learning_rate = schedules.deserialize(learning_rate)
        if isinstance(learning_rate, LearningRateSchedule) or (
                callable(learning_rate) and not isinstance(learning_rate, (int, float))):
            self._schedule = learning_rate
            learning_rate = self._scheduled_rate(0)
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or learning_rate < 0:
            raise ValueError(
                f"learning_rate must be a number >= 0, a LearningRateSchedule or a callable returning the rate, "
                f"received {learning_rate!r}. Example: learning_rate=0.001 or "
                "learning_rate=kerasish.optimizers.schedules.CosineDecay(0.001, decay_steps=1000)."
            )
        self._lr = float(learning_rate)
        _check_settings(clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
                        loss_scale_factor, gradient_accumulation_steps)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = use_ema, ema_momentum, ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        if name is None:
            from kerasish.layers.layer import to_snake_case, unique_name

            name = unique_name(to_snake_case(type(self).__name__))
        self.name = name
        self._formula = self._resolve_formula(formula)
        if self._formula is not None:
            self.torch_class = self.torch_rule if self._formula == "torch" else self.keras_rule
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored (as in Keras 3). Use a "
                          "learning-rate schedule instead.", stacklevel=3)
        self._torch_kwargs = self._check_torch_kwargs(kwargs)
        self.torch_optimizer: Optional[torch.optim.Optimizer] = None
        self._params: list = []
        self._constrained: list = []
        self._param_ids: Optional[set] = None
        self._exclude_ids: set = set()
        self._exclude_pattern: Optional[re.Pattern] = None
        self._ema: List[torch.Tensor] = []
        self._accumulators: Dict[int, torch.Tensor] = {}
        self._loss_scaled = False
        # A host counter: reading it costs no device sync (schedules, logs, callbacks).
        self._iterations = 0
        # Keras's two optimizer variables, as views of the host numbers: one object each per optimizer.
        self._learning_rate_variable = LearningRateVariable(self, "learning_rate")
        self._iteration_variable = IterationVariable(self, "iteration")

    # ----------------------------------------------------------------- construction helpers
    def _resolve_formula(self, formula: Optional[str]) -> Optional[str]:
        if formula is not None and formula not in _FORMULAS:
            raise ValueError(f"formula must be 'keras' or 'torch', received {formula!r}.")
        if self.keras_rule is None and self.torch_rule is None:
            return None  # a wrapped torch optimizer (TorchOptimizer)
        if formula == "torch" and self.torch_rule is None:
            raise ValueError(
                f"{type(self).__name__} has no torch.optim counterpart, so formula='torch' is not available. "
                "Remove formula='torch' to run Keras's formula."
            )
        chosen = formula or config.defaults()
        if chosen == "torch" and self.torch_rule is None:
            return "keras"  # the only formula this optimizer has (documented in the README)
        return chosen

    def _check_torch_kwargs(self, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        if not kwargs:
            return {}
        cls = getattr(self, "torch_class", None)
        if self._formula == "torch" and cls is not None:
            accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "params"}
            unknown = sorted(set(kwargs) - accepted)
            if not unknown:
                return dict(kwargs)
            raise ValueError(
                f"{type(self).__name__}(formula='torch') does not recognize argument(s) {unknown}: "
                f"{cls.__module__}.{cls.__name__} accepts {sorted(accepted)}."
            )
        valid = sorted(set(inspect.signature(type(self).__init__).parameters) - {"self", "kwargs"}
                       | set(inspect.signature(Optimizer.__init__).parameters) - {"self", "kwargs"})
        raise ValueError(
            f"Argument(s) not recognized by {type(self).__name__}: {kwargs}. Valid arguments: {valid}. "
            "torch.optim's own arguments are accepted with formula='torch'."
        )

    def exclude_from_weight_decay(self, var_list: Optional[Sequence[Any]] = None,
                                  var_names: Optional[Sequence[str]] = None) -> None:
        """Keeps some variables out of weight decay (call before the optimizer is built).

        Args:
            var_list: variables to exclude. Defaults to `None`.
            var_names: strings; a variable whose name contains any of them is excluded
                (e.g. `["bias"]`). Defaults to `None`.

        Raises:
            ValueError: when the optimizer is already built.
        """
        if self.built:
            raise ValueError(
                "exclude_from_weight_decay() can only be configured before the optimizer is built. Call it before "
                "model.fit / optimizer.apply, or create a new optimizer."
            )
        self._exclude_ids = {id(v) for v in (var_list or [])}
        self._exclude_pattern = re.compile("|".join(sorted(set(var_names)))) if var_names else None

    def _use_weight_decay(self, p: torch.Tensor) -> bool:
        if id(p) in self._exclude_ids:
            return False
        return not (self._exclude_pattern is not None
                    and self._exclude_pattern.search(str(getattr(p, "name", "") or "")))

    # ----------------------------------------------------------------- building
    def torch_arguments(self) -> Dict[str, Any]:
        """Keyword arguments for the torch optimizer class."""
        kw = dict(self._torch_kwargs)
        if self.weight_decay is not None:
            kw["weight_decay"] = self.weight_decay
        return kw

    def build(self, params: Iterable[torch.nn.Parameter]) -> "Optimizer":
        params = [p for p in params if p.requires_grad]
        self._ema, self._accumulators = [], {}
        if not params:
            # A model without trainable weights (e.g. only add_loss layers) still fits, as in
            # Keras: the torch optimizer holds one empty placeholder that never gets a gradient.
            self._params, self._param_ids = [], None
            self._constrained = []
            self.torch_optimizer = self.torch_class([torch.zeros(0, requires_grad=True)], lr=self._lr,
                                                    **self.torch_arguments())
            return self
        self._params = params
        self._param_ids = None  # the ids apply() checks against, found on first use
        self._constrained = [p for p in params if getattr(p, "constraint", None) is not None]
        kwargs = self.torch_arguments()
        groups: Any = params
        if self.weight_decay and (self._exclude_ids or self._exclude_pattern is not None):
            decayed = [p for p in params if self._use_weight_decay(p)]
            kept = [p for p in params if not self._use_weight_decay(p)]
            groups = [g for g in ({"params": decayed}, {"params": kept, "weight_decay": 0.0}) if g["params"]]
        self.torch_optimizer = self.torch_class(groups, lr=self._lr, **kwargs)
        with torch.no_grad():
            if self.use_ema:
                # Keras starts the averages at zero and copies the weights in at the first update; starting
                # them at the weights gives the same numbers, and keeps them right when that first update is
                # undone (fit(skip_nonfinite=True)), after which the counter no longer reads 0.
                self._ema = [p.detach().clone(memory_format=torch.preserve_format) for p in params]
            if self.gradient_accumulation_steps:
                self._accumulators = {id(p): torch.zeros_like(p, memory_format=torch.preserve_format)
                                      for p in params}
        return self

    @property
    def built(self) -> bool:
        return self.torch_optimizer is not None

    # ----------------------------------------------------------------- lr (the rest: RateAndCounter)
    def before_step(self) -> None:
        """Sets the scheduled learning rate for the coming update (no-op without a schedule)."""
        if self._schedule is not None:
            # Keras evaluates schedules at the raw step count, also under gradient accumulation.
            self._set_rate(self._scheduled_rate(self._iterations))

    @property
    def variables(self) -> List[torch.Tensor]:
        """The optimizer's state tensors (moments, accumulators, averages), in parameter order."""
        if self.torch_optimizer is None:
            return []
        out: List[torch.Tensor] = []
        for p in self._params:
            for value in self.torch_optimizer.state.get(p, {}).values():
                if isinstance(value, torch.Tensor):
                    out.append(value)
        return out + list(self._ema) + [self._accumulators[id(p)] for p in self._params if id(p) in self._accumulators]

    # ----------------------------------------------------------------- stepping
    def scale_loss(self, loss: Any) -> Any:
        """The loss times `loss_scale_factor` (Keras's `scale_loss`; the loss itself without one).

        Call it on the loss before `backward()` in a hand-written step: the update divides
        the gradients by the same factor.
        """
        if self.loss_scale_factor is None:
            return loss
        self._loss_scaled = True
        return loss * self.loss_scale_factor

    def _grads(self) -> tuple:
        params = [p for p in self._params if p.grad is not None]
        return params, [p.grad for p in params]

    @torch.no_grad()
    def clip_gradients(self) -> None:
        """Clips the parameters' gradients in place by Keras's rule for the clipping argument set."""
        _, grads = self._grads()
        if grads:
            self._clip(grads)

    def _clip(self, grads: List[torch.Tensor]) -> None:
        if self.clipnorm and self.clipnorm > 0:
            # Keras: g * clipnorm / max(norm(g), clipnorm), per gradient.
            norms = torch._foreach_norm(grads)
            torch._foreach_clamp_min_(norms, float(self.clipnorm))
            torch._foreach_mul_(grads, float(self.clipnorm))
            torch._foreach_div_(grads, norms)
        elif self.global_clipnorm and self.global_clipnorm > 0:
            total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            clip = float(self.global_clipnorm)
            # min(clip / norm, 1), and NaN for a non-finite norm (as Keras's clip_by_global_norm).
            # clamp_max takes the bound as a kernel argument: no host-to-device copy, so no sync.
            scale = clip * (1.0 / total).clamp_max(1.0 / clip) + (total - total)
            torch._foreach_mul_(grads, scale)
        elif self.clipvalue and self.clipvalue > 0:
            torch._foreach_clamp_min_(grads, -float(self.clipvalue))
            torch._foreach_clamp_max_(grads, float(self.clipvalue))

    @property
    def clips(self) -> bool:
        return bool(self.global_clipnorm or self.clipnorm or self.clipvalue)

    def step(self) -> None:
        """One update from the parameters' `.grad`, in Keras's order (see the module docstring).

        Raises:
            RuntimeError: with `loss_scale_factor` set, when the loss was not passed through
                `scale_loss` since the last step (the gradients would be divided by the factor
                without having been multiplied by it).
        """
        self.before_step()
        if self.loss_scale_factor is not None:
            if not self._loss_scaled:
                raise RuntimeError(
                    f"{type(self).__name__}(loss_scale_factor={self.loss_scale_factor}) divides the gradients by the "
                    "factor, but the loss was not multiplied by it: call loss = optimizer.scale_loss(loss) before "
                    "loss.backward()."
                )
            self._loss_scaled = False
        elif not self.gradient_accumulation_steps and not self.clips:
            torch_calls.step(self.torch_optimizer)  # the common case: nothing to do to the gradients first
            self.after_step()
            return
        params, grads = self._grads()
        if params:
            with torch.no_grad():
                if self.loss_scale_factor is not None:
                    torch._foreach_div_(grads, float(self.loss_scale_factor))
                if self.gradient_accumulation_steps and not self._accumulate(params, grads):
                    self.after_step()
                    return
                if self.clips:
                    self._clip(grads)
            torch_calls.step(self.torch_optimizer)
        self.after_step()

    def _accumulate(self, params: list, grads: list) -> bool:
        """Adds to the accumulators; True (with the mean gradient in `.grad`) on an update step."""
        n = self.gradient_accumulation_steps
        accs = [self._accumulators[id(p)] for p in params]
        if (self._iterations + 1) % n != 0:  # host arithmetic: no sync
            torch._foreach_add_(accs, grads)
            return False
        torch._foreach_add_(grads, accs)
        torch._foreach_div_(grads, float(n))
        torch._foreach_zero_(accs)
        return True

    def after_step(self) -> None:
        """Updates the weights' moving average, applies the variables' constraints and counts the step."""
        if self.use_ema and self._ema:
            with torch.no_grad():
                self._update_ema()
        if self._constrained:
            with torch.no_grad():
                for p in self._constrained:
                    p.copy_(p.constraint(p))
        self._iterations += 1

    def _update_ema(self) -> None:
        step = self._updates()  # before this step is counted, as Keras reads it
        if step == 0:
            torch._foreach_copy_(self._ema, self._params)  # momentum 0 on the first step
        else:
            f = np.float64 if self._params[0].dtype == torch.float64 else np.float32
            m = f(self.ema_momentum)
            torch._foreach_mul_(self._ema, float(m))
            torch._foreach_add_(self._ema, self._params, alpha=float(f(1) - m))
        if self.ema_overwrite_frequency and (step + 1) % self.ema_overwrite_frequency == 0:
            torch._foreach_copy_(self._params, self._ema)

    def finalize_variable_values(self, var_list: Optional[Sequence[torch.Tensor]] = None) -> None:
        """Writes the moving average into the weights when `use_ema=True` (fit calls it at the end).

        Args:
            var_list: the model's trainable weights, in the order the optimizer was built
                with. Defaults to `None` (the variables the optimizer was built for).

        Raises:
            ValueError: when `var_list` holds a different number of variables.
        """
        if not (self.use_ema and self._ema):
            return
        targets = list(self._params if var_list is None else var_list)
        if len(targets) != len(self._ema):
            raise ValueError(
                f"finalize_variable_values received {len(targets)} variables, but the optimizer averages "
                f"{len(self._ema)}. Pass model.trainable_weights of the model this optimizer trains."
            )
        with torch.no_grad():
            torch._foreach_copy_(targets, self._ema)

    def apply(self, grads: Sequence[Any], trainable_variables: Optional[Sequence[torch.Tensor]] = None) -> None:
        """Applies gradients to variables (Keras 3's `optimizer.apply`), usable in any torch loop.

        The first call builds the optimizer for `trainable_variables`; later calls must pass
        variables it was built for. Only the given variables change.

        Args:
            grads: one gradient per variable (None skips that variable).
            trainable_variables: the variables, e.g. `model.trainable_weights`. Defaults to
                `None` (the variables the optimizer was built for).

        Raises:
            ValueError: for a count mismatch, an unbuilt optimizer without variables, or a
                variable the optimizer was not built for.
        """
        grads = list(grads)
        params = self._params if self.torch_optimizer is not None else None
        if (params is not None and trainable_variables is not None and len(grads) == len(params)
                and len(trainable_variables) == len(params)
                and all(v is p and g is p.grad for v, p, g in zip(trainable_variables, params, grads))):
            # A custom train_step's `apply([v.grad for v in weights], weights)` with the variables the
            # optimizer was built for, in its order, and their own gradients: nothing to check or move.
            self.step()
            return
        if trainable_variables is None:
            if self.torch_optimizer is None:
                raise ValueError(
                    "optimizer.apply(grads) was called before the optimizer knows its variables. Pass them: "
                    "optimizer.apply(grads, model.trainable_weights)."
                )
            variables = list(self._params)
        else:
            variables = list(trainable_variables)
        if len(grads) != len(variables):
            raise ValueError(
                f"optimizer.apply received {len(grads)} gradients for {len(variables)} variables. Pass one gradient "
                "per variable, in the same order (e.g. [v.value.grad for v in model.trainable_weights])."
            )
        if self.torch_optimizer is None:
            self.build(variables)
        known = self._param_ids
        if known is None:
            known = self._param_ids = {id(p) for p in self._params}
        unknown = [getattr(v, "path", tuple(v.shape)) for v in variables if id(v) not in known]
        if unknown:
            raise ValueError(
                f"optimizer.apply received variables this optimizer was not built for: {unknown[:5]}. An optimizer "
                "updates the variables of its first apply() (or of model.compile); use one optimizer per set of "
                "variables."
            )
        given = {id(v) for v in variables}
        held = []
        with torch.no_grad():
            for g, v in zip(grads, variables):
                if g is not None and g is not v.grad:
                    v.grad = g.detach().to(v.dtype)
                elif g is None:
                    v.grad = None
            if len(given) != len(self._params):
                # Variables not passed keep their values: hide their gradients for this step.
                for p in self._params:
                    if id(p) not in given and p.grad is not None:
                        held.append((p, p.grad))
                        p.grad = None
            try:
                self.step()
            finally:
                for p, g in held:
                    p.grad = g

    def apply_gradients(self, grads_and_vars: Iterable[Any]) -> None:
        """`apply` for `zip(grads, variables)` pairs (Keras's older spelling)."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def zero_grad(self) -> None:
        torch_calls.zero_grad(self.torch_optimizer)

    # ----------------------------------------------------------------- state and config
    def state_dict(self) -> Dict[str, Any]:
        """torch's state dict plus the step counter (`iterations`, raw steps), the weights' moving
        average and the gradient accumulators."""
        if self.torch_optimizer is None:
            return {}
        state = {**self.torch_optimizer.state_dict(), "iterations": self._iterations}
        if self._ema:
            state["ema_averages"] = list(self._ema)
        if self._accumulators:
            state["gradient_accumulators"] = [self._accumulators[id(p)] for p in self._params]
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        state = dict(state)
        iterations = state.pop("iterations", None)
        ema, accs = state.pop("ema_averages", None), state.pop("gradient_accumulators", None)
        self.torch_optimizer.load_state_dict(state)
        with torch.no_grad():
            for saved, mine in ((ema, self._ema), (accs, [self._accumulators[id(p)] for p in self._params
                                                          if id(p) in self._accumulators])):
                if saved is not None and len(saved) == len(mine):
                    for dst, src in zip(mine, saved):
                        dst.copy_(src)
        if iterations is not None:
            self._iterations = int(iterations)
            return
        for st in self.torch_optimizer.state.values():  # a state saved by torch itself
            step = st.get("step")
            if step is not None:
                self._iterations = int(step)  # host sync: once, when a state is loaded
                break

    def get_config(self) -> Dict[str, Any]:
        """Keras's base keys (all of them, as Keras lists them) plus `formula` when it is torch's."""
        c = {"name": self.name, "learning_rate": self._learning_rate_config(), "weight_decay": self.weight_decay,
             "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
             "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
             "ema_overwrite_frequency": self.ema_overwrite_frequency, "loss_scale_factor": self.loss_scale_factor,
             "gradient_accumulation_steps": self.gradient_accumulation_steps}
        if self._formula == "torch":
            c["formula"] = "torch"
        return c

    def _learning_rate_config(self) -> Any:
        if self._schedule is None:
            return self._rate()  # the number given, exactly (Keras writes its float32 value)
        from kerasish.optimizers.schedules import serialize

        if not isinstance(self._schedule, LearningRateSchedule):
            raise ValueError(
                f"{type(self).__name__}'s learning_rate is a plain callable ({self._schedule!r}), which a config cannot "
                "describe. Use a kerasish.optimizers.schedules.LearningRateSchedule subclass with get_config()."
            )
        return serialize(self._schedule)

    @classmethod
    def from_config(cls, config_: Dict[str, Any]) -> "Optimizer":
        return cls(**config_)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self._rate()})"


def _check_settings(clipnorm: Any, clipvalue: Any, global_clipnorm: Any, use_ema: bool, ema_momentum: Any,
                    ema_overwrite_frequency: Any, loss_scale_factor: Any, gradient_accumulation_steps: Any) -> None:
    """Keras's checks of the shared arguments, with the received values."""
    if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
        raise ValueError(
            "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
            f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}."
        )
    for arg, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm),
                       ("loss_scale_factor", loss_scale_factor)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"`{arg}` must be a number or None. Received: {arg}={value!r}.")
    if gradient_accumulation_steps is not None and (
            isinstance(gradient_accumulation_steps, bool) or not isinstance(gradient_accumulation_steps, int)
            or gradient_accumulation_steps < 2):
        raise ValueError(
            "`gradient_accumulation_steps` must be an integer >= 2 (or None to update on every step). "
            f"Received: gradient_accumulation_steps={gradient_accumulation_steps!r}."
        )
    if use_ema:
        if isinstance(ema_momentum, bool) or not isinstance(ema_momentum, (int, float)) or not 0 <= ema_momentum <= 1:
            raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum!r}.")
        if ema_overwrite_frequency is not None and (
                isinstance(ema_overwrite_frequency, bool) or not isinstance(ema_overwrite_frequency, int)
                or ema_overwrite_frequency < 1):
            raise ValueError(
                "`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                f"ema_overwrite_frequency={ema_overwrite_frequency!r}."
            )
