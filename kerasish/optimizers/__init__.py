"""Optimizers with Keras's names and defaults, running torch.optim underneath.

`Adam(learning_rate=1e-3)` holds the settings; the torch optimizer is created when the
model's parameters are known (`build(params)`), which fit does after building the
model. `optimizer.learning_rate` reads and writes every param group's `lr`.

Keras and torch differ in a few numbers and formulas; the README's defaults table
lists them. `kerasish.config.set_defaults('torch')` makes string-named optimizers use
torch's numbers instead.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Type, Union

import torch

from kerasish import config
from kerasish.optimizers import schedules
from kerasish.optimizers.schedules import LearningRateSchedule
from kerasish.registry import Registry


class Optimizer:
    """Base class: Keras-style settings over a lazily built `torch.optim.Optimizer`.

    Args:
        learning_rate: the step size: a number, a `schedules.LearningRateSchedule` (evaluated
            from the host step counter before every update, no device sync), or a callable
            without arguments returning the rate (Keras's rule for callables).
        weight_decay: passed to torch (coupled L2 except in AdamW). Defaults to `None`.
        clipnorm: clip each parameter's gradient norm to this value. Defaults to `None`.
        clipvalue: clip gradient values to [-v, v]. Defaults to `None`.
        global_clipnorm: clip the global gradient norm. Defaults to `None`.
    """

    torch_class: Optional[Type[torch.optim.Optimizer]] = None

    def __init__(
        self,
        learning_rate: float = 0.001,
        weight_decay: Optional[float] = None,
        clipnorm: Optional[float] = None,
        clipvalue: Optional[float] = None,
        global_clipnorm: Optional[float] = None,
        name: Optional[str] = None,
        **torch_kwargs: Any,
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
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self._torch_kwargs = torch_kwargs
        self.torch_optimizer: Optional[torch.optim.Optimizer] = None
        self._params: list = []
        self._constrained: list = []
        self._param_ids: Optional[set] = None
        # A host counter: reading it costs no device sync (schedules, logs, callbacks).
        self._iterations = 0

    # ----------------------------------------------------------------- building
    def torch_arguments(self) -> Dict[str, Any]:
        """Keyword arguments for the torch optimizer class."""
        kw = dict(self._torch_kwargs)
        if self.weight_decay is not None:
            kw["weight_decay"] = self.weight_decay
        return kw

    def build(self, params: Iterable[torch.nn.Parameter]) -> "Optimizer":
        params = [p for p in params if p.requires_grad]
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
        # foreach kernels: one launch per op over all parameters, as a hand loop gets by default.
        self.torch_optimizer = self.torch_class(params, lr=self._lr, **kwargs)
        return self

    @property
    def built(self) -> bool:
        return self.torch_optimizer is not None

    # ----------------------------------------------------------------- lr
    def _scheduled_rate(self, step: int) -> float:
        schedule = self._schedule
        if isinstance(schedule, LearningRateSchedule):
            if type(schedule).__module__ == "kerasish.optimizers.schedules":
                return schedule(step)  # Python floats: no tensors at all
            from kerasish.ops.dtypes import device_scope

            with device_scope("cpu"):  # a user's schedule written with ops stays on the host
                value = schedule(step)
        else:
            value = schedule()
        return float(value)  # a CPU tensor or a number: no device sync

    def before_step(self) -> None:
        """Sets the scheduled learning rate for the coming update (no-op without a schedule)."""
        if self._schedule is not None:
            self._set_rate(self._scheduled_rate(self._iterations))

    @property
    def learning_rate(self) -> float:
        """The current rate (a schedule's value at the current step)."""
        if self._schedule is not None:
            return self._scheduled_rate(self._iterations)
        if self.torch_optimizer is not None:
            return float(self.torch_optimizer.param_groups[0]["lr"])
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if self._schedule is not None:
            raise TypeError(
                f"{type(self).__name__} was created with a learning-rate schedule ({type(self._schedule).__name__}), "
                "so its learning rate cannot be set. Create the optimizer with a number to set the rate yourself "
                "(e.g. from ReduceLROnPlateau or LearningRateScheduler)."
            )
        self._set_rate(float(value))

    @property
    def learning_rate_schedule(self) -> Any:
        """The schedule (or callable) given as `learning_rate`, or None for a constant rate."""
        return self._schedule

    def _set_rate(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"learning_rate must be >= 0, received {value!r}.")
        if self.torch_optimizer is not None:
            groups = self.torch_optimizer.param_groups
            old = float(groups[0]["lr"])
            # Several param groups (a torch optimizer with per-layer rates): scale them all
            # by the same factor, so their ratios survive ReduceLROnPlateau and schedules.
            for group in groups:
                group["lr"] = value if old == 0 or len(groups) == 1 else float(group["lr"]) * value / old
        self._lr = value

    lr = learning_rate  # Keras 2 spelling

    @property
    def iterations(self) -> int:
        """Number of steps taken (a host integer: reading it costs no device sync)."""
        return self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._iterations = int(value)

    @property
    def variables(self) -> List[torch.Tensor]:
        """The optimizer's state tensors (moments, accumulators), in parameter order."""
        if self.torch_optimizer is None:
            return []
        out: List[torch.Tensor] = []
        for p in self._params:
            for value in self.torch_optimizer.state.get(p, {}).values():
                if isinstance(value, torch.Tensor):
                    out.append(value)
        return out

    # ----------------------------------------------------------------- stepping
    def clip_gradients(self) -> None:
        if self.global_clipnorm is not None:
            torch.nn.utils.clip_grad_norm_(self._params, self.global_clipnorm)
        if self.clipnorm is not None:
            for p in self._params:
                if p.grad is not None:
                    torch.nn.utils.clip_grad_norm_([p], self.clipnorm)
        if self.clipvalue is not None:
            torch.nn.utils.clip_grad_value_(self._params, self.clipvalue)

    @property
    def clips(self) -> bool:
        return self.global_clipnorm is not None or self.clipnorm is not None or self.clipvalue is not None

    def step(self) -> None:
        if self._schedule is not None:
            self._set_rate(self._scheduled_rate(self._iterations))
        if self.clips:
            self.clip_gradients()
        self.torch_optimizer.step()
        self.after_step()

    def after_step(self) -> None:
        """Counts the step and applies the variables' constraints (Keras applies them after each update)."""
        self._iterations += 1
        if self._constrained:
            with torch.no_grad():
                for p in self._constrained:
                    p.copy_(p.constraint(p))

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
        self.torch_optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> Dict[str, Any]:
        """torch's state dict plus the step counter (`iterations`), which schedules read."""
        if self.torch_optimizer is None:
            return {}
        return {**self.torch_optimizer.state_dict(), "iterations": self._iterations}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        state = dict(state)
        iterations = state.pop("iterations", None)
        self.torch_optimizer.load_state_dict(state)
        if iterations is not None:
            self._iterations = int(iterations)
            return
        for st in self.torch_optimizer.state.values():  # a state saved by torch itself
            step = st.get("step")
            if step is not None:
                self._iterations = int(step)  # host sync: once, when a state is loaded
                break

    def get_config(self) -> Dict[str, Any]:
        c = {"learning_rate": self._learning_rate_config(), "name": self.name}
        for k in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, k) is not None:
                c[k] = getattr(self, k)
        return c

    def _learning_rate_config(self) -> Any:
        if self._schedule is None:
            return self.learning_rate
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
        return f"{type(self).__name__}(learning_rate={self.learning_rate})"


class SGD(Optimizer):
    """Stochastic gradient descent. Defaults: learning_rate 0.01, momentum 0.0, nesterov False."""

    torch_class = torch.optim.SGD

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = momentum, nesterov

    def torch_arguments(self):
        return {**super().torch_arguments(), "momentum": self.momentum, "nesterov": self.nesterov}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class KerasRMSpropTorch(torch.optim.Optimizer):
    """RMSprop with Keras's update, as a torch optimizer (foreach kernels).

    Keras puts epsilon inside the square root: `p -= lr * g / sqrt(v + eps)` with
    `v = rho * v + (1 - rho) * g**2` (centered: `v - avg_g**2 + eps`). torch's RMSprop
    uses `sqrt(v) + eps`; for small gradients (v near eps) the two differ a lot, so
    kerasish runs Keras's formula. Weight decay is decoupled, as in Keras.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 0.001, rho: float = 0.9,
                 momentum: float = 0.0, eps: float = 1e-7, centered: bool = False, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, rho=rho, momentum=momentum, eps=eps, centered=centered,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            states = [self.state[p] for p in params]
            for p, st in zip(params, states):
                if not st:
                    st["step"] = torch.zeros((), dtype=torch.float32)
                    st["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    if group["centered"]:
                        st["average_gradient"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    if group["momentum"] > 0:
                        st["momentum"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["step"] += 1  # a CPU scalar: no device sync
            lr, rho, eps = group["lr"], group["rho"], group["eps"]
            if group["weight_decay"]:
                torch._foreach_mul_(params, 1.0 - lr * group["weight_decay"])
            vs = [st["velocity"] for st in states]
            torch._foreach_mul_(vs, rho)
            torch._foreach_addcmul_(vs, grads, grads, value=1.0 - rho)
            if group["centered"]:
                avgs = [st["average_gradient"] for st in states]
                torch._foreach_mul_(avgs, rho)
                torch._foreach_add_(avgs, grads, alpha=1.0 - rho)
                denom = torch._foreach_addcmul(vs, avgs, avgs, value=-1.0)
                torch._foreach_add_(denom, eps)
            else:
                denom = torch._foreach_add(vs, eps)
            torch._foreach_sqrt_(denom)
            if group["momentum"] > 0:
                ms = [st["momentum"] for st in states]
                torch._foreach_mul_(ms, group["momentum"])
                torch._foreach_addcdiv_(ms, grads, denom, value=lr)
                torch._foreach_sub_(params, ms)
            else:
                torch._foreach_addcdiv_(params, grads, denom, value=-lr)
        return loss


class RMSprop(Optimizer):
    """RMSprop with Keras's formula. Defaults: learning_rate 0.001, rho 0.9, momentum 0.0, epsilon 1e-7,
    centered False.

    Runs `KerasRMSpropTorch` (epsilon inside the square root, as Keras). With
    `kerasish.config.set_defaults('torch')` in effect when it is created, it runs
    `torch.optim.RMSprop` instead (epsilon outside the root, coupled weight decay).
    """

    def __init__(
        self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7,
        centered: bool = False, **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered
        self._torch_formula = config.defaults() == "torch"
        self.torch_class = torch.optim.RMSprop if self._torch_formula else KerasRMSpropTorch

    def torch_arguments(self):
        kw = super().torch_arguments()
        if self._torch_formula:
            return {**kw, "alpha": self.rho, "momentum": self.momentum, "eps": self.epsilon, "centered": self.centered}
        return {**kw, "rho": self.rho, "momentum": self.momentum, "eps": self.epsilon, "centered": self.centered}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adam(Optimizer):
    """Adam. Defaults: learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7, amsgrad False."""

    torch_class = torch.optim.Adam

    def __init__(
        self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
        amsgrad: bool = False, **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def torch_arguments(self):
        return {**super().torch_arguments(), "betas": (self.beta_1, self.beta_2), "eps": self.epsilon,
                "amsgrad": self.amsgrad}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """AdamW (decoupled weight decay). Defaults: learning_rate 0.001, weight_decay 0.004."""

    torch_class = torch.optim.AdamW

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004, **kwargs: Any):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class Adamax(Adam):
    """Adamax. Defaults: learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7."""

    torch_class = torch.optim.Adamax

    def torch_arguments(self):
        kw = super().torch_arguments()
        kw.pop("amsgrad")
        return kw


class Nadam(Adam):
    """Nadam. Defaults: learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7."""

    torch_class = torch.optim.NAdam

    def torch_arguments(self):
        kw = super().torch_arguments()
        kw.pop("amsgrad")
        return kw


class Adagrad(Optimizer):
    """Adagrad. Defaults: learning_rate 0.001, initial_accumulator_value 0.1, epsilon 1e-7."""

    torch_class = torch.optim.Adagrad

    def __init__(
        self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7, **kwargs: Any
    ):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def torch_arguments(self):
        return {**super().torch_arguments(), "initial_accumulator_value": self.initial_accumulator_value,
                "eps": self.epsilon}

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta. Defaults: learning_rate 0.001, rho 0.95, epsilon 1e-7."""

    torch_class = torch.optim.Adadelta

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def torch_arguments(self):
        return {**super().torch_arguments(), "rho": self.rho, "eps": self.epsilon}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class TorchOptimizer(Optimizer):
    """Wraps a torch optimizer the user built (or a torch optimizer class to build)."""

    def __init__(self, optimizer: Union[torch.optim.Optimizer, Type[torch.optim.Optimizer]], **kwargs: Any):
        if isinstance(optimizer, torch.optim.Optimizer):
            super().__init__(optimizer.param_groups[0].get("lr", 0.0), name=type(optimizer).__name__.lower())
            self.torch_optimizer = optimizer
            self._params = [p for g in optimizer.param_groups for p in g["params"]]
        else:
            super().__init__(kwargs.pop("lr", kwargs.pop("learning_rate", 0.001)), name=optimizer.__name__.lower())
            self.torch_class = optimizer
            self._torch_kwargs = kwargs

    def get_config(self):
        return {"learning_rate": self.learning_rate, "name": self.name}


# torch's own defaults, used when kerasish.config.set_defaults('torch') is active.
_TORCH_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "sgd": {"learning_rate": 0.001},
    "rmsprop": {"learning_rate": 0.01, "rho": 0.99, "epsilon": 1e-8},
    "adam": {"epsilon": 1e-8},
    "adamw": {"epsilon": 1e-8, "weight_decay": 0.01},
    "adamax": {"learning_rate": 0.002, "epsilon": 1e-8},
    "nadam": {"learning_rate": 0.002, "epsilon": 1e-8},
    "adagrad": {"learning_rate": 0.01, "initial_accumulator_value": 0.0, "epsilon": 1e-10},
    "adadelta": {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6},
}

_registry: Registry[type] = Registry("optimizer")
for _n, _c in {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adamax": Adamax, "nadam": Nadam,
               "adagrad": Adagrad, "adadelta": Adadelta}.items():
    _registry.add(_n, _c)


def get(identifier: Any) -> Optimizer:
    """Returns a kerasish Optimizer for a name, an Optimizer, a torch optimizer or class.

    Raises:
        ValueError: unknown name (valid names listed with the closest one).
        TypeError: anything else.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _registry.get(identifier, fix="Or pass kerasish.optimizers.Adam(...) or a torch.optim optimizer.")
        kwargs = _TORCH_DEFAULTS[identifier.lower()] if config.defaults() == "torch" else {}
        return cls(**kwargs)
    if isinstance(identifier, torch.optim.Optimizer):
        return TorchOptimizer(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, type) and issubclass(identifier, torch.optim.Optimizer):
        return TorchOptimizer(identifier)
    raise TypeError(
        f"optimizer must be a name such as 'adam', a kerasish.optimizers.Optimizer, a torch.optim.Optimizer "
        f"instance or class, received {identifier!r} of type {type(identifier).__name__}."
    )


def names() -> list:
    return _registry.names()
