"""Optimizers with Keras 3's names, defaults and formulas, running as torch optimizers.

`Adam(learning_rate=1e-3)` holds the settings; the torch optimizer is created when the
model's parameters are known (`build(params)`), which fit does after building the
model. `optimizer.learning_rate` (Keras's variable, a view of the param groups' `lr`) reads the
first group's rate and writes every group's.

By default every optimizer runs Keras 3's own update rule (`keras_rules`,
`keras_adam_rules`: torch optimizers on foreach kernels) with Keras's decoupled weight
decay, so a model trains to Keras's numbers. `formula="torch"` on one optimizer, or
`kerasish.config.set_defaults('torch')` before creating it, runs the `torch.optim` class
instead (torch's epsilon placement, coupled weight decay); string names then also get
torch's default numbers. The README's defaults table lists the differences.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type, Union

import torch

from kerasish import config
from kerasish.optimizers import schedules
from kerasish.optimizers.base import Optimizer
from kerasish.optimizers.keras_adam_rules import (
    KerasAdafactorTorch, KerasAdamaxTorch, KerasAdamTorch, KerasLambTorch, KerasNadamTorch,
)
from kerasish.optimizers.keras_rules import (
    KerasAdadeltaTorch, KerasAdagradTorch, KerasFtrlTorch, KerasLionTorch, KerasRMSpropTorch, KerasRule,
    KerasSGDTorch,
)
from kerasish.optimizers.loss_scale_optimizer import LossScaleOptimizer
from kerasish.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from kerasish.optimizers.muon import KerasMuonTorch, Muon  # noqa: F401  (public, as the other rules)
from kerasish.optimizers.schedule_free import KerasScheduleFreeAdamWTorch, ScheduleFreeAdamW  # noqa: F401
from kerasish.registry import Registry


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Keras's form: `m = momentum * m - lr * g`, `w += m` (Nesterov: `w += momentum * m - lr * g`).

    Args:
        learning_rate: a number, schedule or callable. Defaults to `0.01`.
        momentum: a float in [0, 1]. Defaults to `0.0`.
        nesterov: use Nesterov momentum. Defaults to `False`.
        **kwargs: the shared arguments of `Optimizer` (`weight_decay`, `clipnorm`, `use_ema`, ...).

    Example:
        >>> opt = SGD(learning_rate=0.1, momentum=0.9)
        >>> opt.get_config()["momentum"]
        0.9
    """

    keras_rule, torch_rule = KerasSGDTorch, torch.optim.SGD

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any):
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}.")
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = momentum, nesterov

    def torch_arguments(self):
        return {**super().torch_arguments(), "momentum": self.momentum, "nesterov": self.nesterov}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop with Keras's formula: epsilon inside the square root, `g / sqrt(v + eps)`.

    Args:
        learning_rate: Defaults to `0.001`.
        rho: discount of the squared-gradient average. Defaults to `0.9`.
        momentum: Defaults to `0.0`.
        epsilon: Defaults to `1e-7`.
        centered: divide by the gradient's estimated variance. Defaults to `False`.
        **kwargs: the shared arguments of `Optimizer`.

    With `formula="torch"` it runs `torch.optim.RMSprop` (epsilon outside the root,
    coupled weight decay).
    """

    keras_rule, torch_rule = KerasRMSpropTorch, torch.optim.RMSprop

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7,
                 centered: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def torch_arguments(self):
        rho = "alpha" if self._formula == "torch" else "rho"
        return {**super().torch_arguments(), rho: self.rho, "momentum": self.momentum, "eps": self.epsilon,
                "centered": self.centered}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adam(Optimizer):
    """Adam with Keras's "epsilon hat" (epsilon added to `sqrt(v)`, bias correction in the step size).

    Args:
        learning_rate: Defaults to `0.001`.
        beta_1: decay of the first moment. Defaults to `0.9`.
        beta_2: decay of the second moment. Defaults to `0.999`.
        epsilon: Defaults to `1e-7`.
        amsgrad: use the running maximum of the second moment (AMSGrad). Defaults to `False`.
        **kwargs: the shared arguments of `Optimizer`.
    """

    keras_rule, torch_rule = KerasAdamTorch, torch.optim.Adam

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def torch_arguments(self):
        kw = {**super().torch_arguments(), "eps": self.epsilon, "amsgrad": self.amsgrad}
        if self._formula == "torch":
            return {**kw, "betas": (self.beta_1, self.beta_2)}
        return {**kw, "beta_1": self.beta_1, "beta_2": self.beta_2}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay. Defaults: learning_rate 0.001, weight_decay 0.004.

    Raises:
        ValueError: for `weight_decay=None` (as Keras).
    """

    torch_rule = torch.optim.AdamW

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float = 0.004, **kwargs: Any):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None. Use Adam for "
                             "no weight decay.")
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class _AdamLike(Optimizer):
    """Adamax, Nadam and Lamb: Adam's three numbers without AMSGrad."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def torch_arguments(self):
        kw = {**super().torch_arguments(), "eps": self.epsilon}
        if self._formula == "torch":
            return {**kw, "betas": (self.beta_1, self.beta_2)}
        return {**kw, "beta_1": self.beta_1, "beta_2": self.beta_2}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adamax(_AdamLike):
    """Adamax (Adam with the infinity norm), Keras's epsilon placement: `lr * m / ((1 - beta_1**t) * (u + eps))`.

    Args: as `Adam` without `amsgrad` (learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7).
    """

    keras_rule, torch_rule = KerasAdamaxTorch, torch.optim.Adamax


class Nadam(_AdamLike):
    """Nadam with Keras's momentum schedule `u_t = beta_1 * (1 - 0.5 * 0.96**t)` and epsilon placement.

    Args: as `Adam` without `amsgrad` (learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7).
    With `formula="torch"` it runs `torch.optim.NAdam` (its own momentum decay).
    """

    keras_rule, torch_rule = KerasNadamTorch, torch.optim.NAdam


class Lamb(_AdamLike):
    """LAMB: Adam's direction scaled per weight tensor by `||w|| / ||update||` (Keras's formula).

    Args: as `Adam` without `amsgrad` (learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7).
    torch.optim has no LAMB, so it always runs Keras's formula.
    """

    keras_rule = KerasLambTorch


class Adagrad(Optimizer):
    """Adagrad with Keras's formula: `w -= lr * g / sqrt(acc + eps)`.

    Args:
        learning_rate: Defaults to `0.001`.
        initial_accumulator_value: starting value of the accumulators. Defaults to `0.1`.
        epsilon: Defaults to `1e-7`.
        **kwargs: the shared arguments of `Optimizer`.
    """

    keras_rule, torch_rule = KerasAdagradTorch, torch.optim.Adagrad

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def torch_arguments(self):
        return {**super().torch_arguments(), "initial_accumulator_value": self.initial_accumulator_value,
                "eps": self.epsilon}

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta. Defaults: learning_rate 0.001, rho 0.95, epsilon 1e-7 (plus the shared arguments)."""

    keras_rule, torch_rule = KerasAdadeltaTorch, torch.optim.Adadelta

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def torch_arguments(self):
        return {**super().torch_arguments(), "rho": self.rho, "eps": self.epsilon}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion: the sign of an interpolated momentum as the step (Keras's formula; no torch.optim counterpart).

    Args:
        learning_rate: Defaults to `0.001`.
        beta_1: interpolation of the step direction, in (0, 1]. Defaults to `0.9`.
        beta_2: decay of the momentum. Defaults to `0.99`.
        **kwargs: the shared arguments of `Optimizer`.

    Raises:
        ValueError: for `beta_1` outside (0, 1].
    """

    keras_rule = KerasLionTorch

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.99, **kwargs: Any):
        if not 0 < beta_1 <= 1:
            raise ValueError("Argument `beta_1` must be in the (0, 1] range. Otherwise, the optimizer degenerates "
                             f"to SignSGD. Received: beta_1={beta_1}.")
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2 = beta_1, beta_2

    def torch_arguments(self):
        return {**super().torch_arguments(), "beta_1": self.beta_1, "beta_2": self.beta_2}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


_FTRL_ARGS = ("learning_rate_power", "initial_accumulator_value", "l1_regularization_strength",
              "l2_regularization_strength", "l2_shrinkage_regularization_strength", "beta")


class Ftrl(Optimizer):
    """FTRL-proximal, Keras's formula (no torch.optim counterpart).

    Args:
        learning_rate: Defaults to `0.001`.
        learning_rate_power: <= 0. Defaults to `-0.5`.
        initial_accumulator_value: >= 0. Defaults to `0.1`.
        l1_regularization_strength: >= 0. Defaults to `0.0`.
        l2_regularization_strength: >= 0. Defaults to `0.0`.
        l2_shrinkage_regularization_strength: >= 0. Defaults to `0.0`.
        beta: Defaults to `0.0`.
        **kwargs: the shared arguments of `Optimizer`.

    Raises:
        ValueError: for an argument outside its range (named, with the received value).
    """

    keras_rule = KerasFtrlTorch

    def __init__(self, learning_rate: Any = 0.001, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0, l2_shrinkage_regularization_strength: float = 0.0,
                 beta: float = 0.0, **kwargs: Any):
        values = dict(zip(_FTRL_ARGS, (learning_rate_power, initial_accumulator_value, l1_regularization_strength,
                                       l2_regularization_strength, l2_shrinkage_regularization_strength, beta)))
        if learning_rate_power > 0:
            raise ValueError("`learning_rate_power` needs to be negative or zero. Received: "
                             f"learning_rate_power={learning_rate_power}.")
        for arg in _FTRL_ARGS[1:5]:
            if values[arg] < 0:
                raise ValueError(f"`{arg}` needs to be positive or zero. Received: {arg}={values[arg]}.")
        super().__init__(learning_rate, **kwargs)
        for arg, value in values.items():
            setattr(self, arg, value)

    def torch_arguments(self):
        return {**super().torch_arguments(), **{arg: getattr(self, arg) for arg in _FTRL_ARGS}}

    def get_config(self):
        return {**super().get_config(), **{arg: getattr(self, arg) for arg in _FTRL_ARGS}}


_ADAFACTOR_ARGS = ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step")


class Adafactor(Optimizer):
    """Adafactor with factored second moments, Keras's formula.

    Args:
        learning_rate: Defaults to `0.001`.
        beta_2_decay: Defaults to `-0.8`.
        epsilon_1: added to the squared gradients. Defaults to `1e-30`.
        epsilon_2: floor of the weights' RMS in the step size. Defaults to `1e-3`.
        clip_threshold: clip threshold of the update's RMS. Defaults to `1.0`.
        relative_step: cap the rate at `1 / sqrt(step)` (Keras caps it either way). Defaults to `True`.
        **kwargs: the shared arguments of `Optimizer`.
    """

    keras_rule = KerasAdafactorTorch

    def __init__(self, learning_rate: Any = 0.001, beta_2_decay: float = -0.8, epsilon_1: float = 1e-30,
                 epsilon_2: float = 1e-3, clip_threshold: float = 1.0, relative_step: bool = True, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_2_decay, self.epsilon_1, self.epsilon_2 = beta_2_decay, epsilon_1, epsilon_2
        self.clip_threshold, self.relative_step = clip_threshold, relative_step

    def torch_arguments(self):
        return {**super().torch_arguments(), **{arg: getattr(self, arg) for arg in _ADAFACTOR_ARGS}}

    def get_config(self):
        return {**super().get_config(), **{arg: getattr(self, arg) for arg in _ADAFACTOR_ARGS}}


class TorchOptimizer(Optimizer):
    """Wraps a torch optimizer the user built (or a torch optimizer class to build).

    The shared Keras arguments that act outside the update (clipping, EMA, gradient
    accumulation) work here too; the update itself is the torch optimizer's.
    """

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
        return {"learning_rate": self._rate(), "name": self.name}


# torch's own defaults, used when kerasish.config.set_defaults('torch') is active (Lion, Ftrl,
# Lamb and Adafactor have no torch.optim counterpart and keep Keras's numbers and formula).
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
               "adagrad": Adagrad, "adadelta": Adadelta, "lion": Lion, "ftrl": Ftrl, "lamb": Lamb,
               "adafactor": Adafactor, "muon": Muon, "schedulefreeadamw": ScheduleFreeAdamW}.items():
    _registry.add(_n, _c)


#: Keras's table for `deserialize`: every optimizer by its lower-case class name (matched in any case).
_MODULE_OBJECTS: Dict[str, Any] = {c.__name__.lower(): c for c in (
    Optimizer, SGD, RMSprop, Adam, AdamW, Adamax, Nadam, Adagrad, Adadelta, Lion, Ftrl, Lamb, Adafactor,
    LossScaleOptimizer, Muon, ScheduleFreeAdamW, MultiOptimizer, OptimizerMap)}


def serialize(optimizer: Optimizer) -> Dict[str, Any]:
    """The optimizer's description in Keras 3's format, as `keras.optimizers.serialize` writes it.

    `{'module': 'keras.optimizers', 'class_name': 'Adam', 'config': optimizer.get_config(),
    'registered_name': None}` for kerasish's own optimizers (a subclass gets its module and
    registered name), which Keras's `keras.optimizers.deserialize` reads.

    Raises:
        ValueError: for a `TorchOptimizer` (a torch optimizer has no Keras description).
        TypeError: for an object without `get_config()`.

    Example:
        >>> serialize(SGD(learning_rate=0.1))["config"]["learning_rate"]
        0.1
    """
    from kerasish.saving.keras_objects import serialize_keras_object

    if isinstance(optimizer, TorchOptimizer):
        raise ValueError(
            f"optimizers.serialize cannot describe {optimizer!r}: it wraps the torch optimizer "
            f"{getattr(optimizer, 'torch_class', type(getattr(optimizer, 'torch_optimizer', None))).__name__}, which "
            "Keras has no config for, so deserialize could not rebuild it. Use a kerasish optimizer "
            "(e.g. kerasish.optimizers.AdamW(...)) where the optimizer must be serialized."
        )
    return serialize_keras_object(optimizer)


def deserialize(config: Dict[str, Any], custom_objects: Optional[Dict[str, Any]] = None) -> Optimizer:
    """The optimizer `config` describes, as `keras.optimizers.deserialize`.

    Args:
        config: `serialize()`'s dict, what Keras writes (any `module`, even the torch backend's
            `keras.src.backend.torch.optimizers.torch_adam`), or the short form
            `{'class_name': 'adam', 'config': {...}}`; built-in class names match in any case.
        custom_objects: `{name: class}` for your own optimizers that are not registered.
            Defaults to `None`.

    Returns:
        A new optimizer (not built: fit builds it on the model's parameters).

    Raises:
        ValueError: for a class name found nowhere (valid names listed) or a dict without `class_name`.
        TypeError: for a config that is not a dict, or whose `module` is None, as Keras.

    Example:
        >>> deserialize({"class_name": "Adam", "config": {"learning_rate": 0.5}}).learning_rate
        0.5
    """
    from kerasish.saving.keras_objects import deserialize_module_object

    if not isinstance(config, dict):
        raise TypeError(
            f"optimizers.deserialize expects a config dict, received {config!r} of type {type(config).__name__}. "
            "Pass what optimizers.serialize() returned, e.g. {'class_name': 'Adam', 'config': {'learning_rate': "
            "0.001}}; for a name such as 'adam' use optimizers.get('adam')."
        )
    return deserialize_module_object(config, _MODULE_OBJECTS, custom_objects, kind="optimizer",
                                     case_insensitive=True)


def get(identifier: Any) -> Optional[Optimizer]:
    """Returns a kerasish Optimizer for a name, a config dict, an Optimizer, a torch optimizer or class.

    A name gives the optimizer with Keras's defaults (torch's under
    `kerasish.config.set_defaults('torch')`); a dict is read by `deserialize`; an Optimizer comes
    back as it is; None gives None, as in Keras.

    Raises:
        ValueError: unknown name (valid names listed with the closest one), or a config that
            does not describe an optimizer.
        TypeError: anything else.
    """
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _registry.get(identifier, fix="Or pass kerasish.optimizers.Adam(...) or a torch.optim optimizer.")
        kwargs = _TORCH_DEFAULTS.get(identifier.lower(), {}) if config.defaults() == "torch" else {}
        return cls(**kwargs)
    if isinstance(identifier, dict):
        found = deserialize(identifier)
        if not isinstance(found, Optimizer):
            raise ValueError(
                f"The optimizer config {identifier!r} describes {found!r} of type {type(found).__name__}, not an "
                "optimizer. Pass optimizers.serialize(...)'s dict, e.g. {'class_name': 'Adam', 'config': {}}."
            )
        return found
    if isinstance(identifier, torch.optim.Optimizer):
        return TorchOptimizer(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, type) and issubclass(identifier, torch.optim.Optimizer):
        return TorchOptimizer(identifier)
    raise TypeError(
        f"optimizer must be a name such as 'adam', a config dict, a kerasish.optimizers.Optimizer, a "
        f"torch.optim.Optimizer instance or class, received {identifier!r} of type {type(identifier).__name__}."
    )


def names() -> list:
    return _registry.names()


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, globals())
