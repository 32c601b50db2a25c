"""LossScaleOptimizer: dynamic loss scaling around another optimizer, as Keras 3's.

The loss is multiplied by a scale before `backward()` (`scale_loss`); each step divides the
gradients by it and, when they are all finite, lets the inner optimizer update. Non-finite
gradients skip the update and halve the scale; `dynamic_growth_steps` finite steps in a row
double it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch

from kerasish.optimizers.base import Optimizer
from kerasish.utils.host_sync import labelled_sync

_SHARED_DEFAULTS = {
    "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
    "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


class LossScaleOptimizer(Optimizer):
    """An optimizer that scales the loss dynamically, for float16 training (Keras 3's semantics).

    Deciding whether a step's gradients are finite costs one host sync per step (Keras
    branches on the same flag); the scale itself stays on the device.

    Args:
        inner_optimizer: the kerasish optimizer that applies the updates.
        initial_scale: the starting loss scale. Defaults to `2.0 ** 15`.
        dynamic_growth_steps: finite steps in a row before the scale doubles. Defaults to `2000`.
        name: Defaults to `None` (`"loss_scale_optimizer"`).
        **kwargs: Keras's shared optimizer arguments are refused here (set them on the inner
            optimizer); `dynamic=False` is refused as in Keras 3.

    Raises:
        ValueError: for a shared argument, `dynamic=False` or an unknown argument.
        TypeError: when `inner_optimizer` is not a kerasish optimizer.

    Example:
        >>> from kerasish import optimizers
        >>> opt = optimizers.LossScaleOptimizer(optimizers.SGD(0.1), initial_scale=8.0)
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt.build([w]).scale_loss((w ** 2).sum()).backward()
        >>> opt.step()
        >>> w.detach().tolist()
        [0.800000011920929, 0.800000011920929]
    """

    def __init__(self, inner_optimizer: Any, initial_scale: float = 2.0 ** 15, dynamic_growth_steps: int = 2000,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, set "
                             "`loss_scale_factor` directly on the `inner_optimizer`.")
        for arg, default in _SHARED_DEFAULTS.items():
            if arg in kwargs and kwargs.pop(arg) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{arg}`. Instead, set `{arg}` on the "
                                 "`inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: {sorted(kwargs)}. Valid arguments: "
                             "inner_optimizer, initial_scale, dynamic_growth_steps, name.")
        if isinstance(inner_optimizer, dict):
            inner_optimizer = _deserialize(inner_optimizer)
        if not isinstance(inner_optimizer, Optimizer) or isinstance(inner_optimizer, LossScaleOptimizer):
            raise TypeError(f"inner_optimizer must be a kerasish optimizer such as kerasish.optimizers.Adam(), "
                            f"received {inner_optimizer!r} of type {type(inner_optimizer).__name__}.")
        super().__init__(0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.inner_optimizer.loss_scale_factor = None
        self.initial_scale, self.dynamic_growth_steps = float(initial_scale), int(dynamic_growth_steps)
        self.dynamic_scale: Optional[torch.Tensor] = None
        self._step_counter = 0

    def build(self, params: Any) -> "LossScaleOptimizer":
        inner = self.inner_optimizer.build(params)
        self.torch_optimizer, self._params, self._param_ids = inner.torch_optimizer, inner._params, None
        device = self._params[0].device if self._params else None
        self.dynamic_scale = torch.tensor(self.initial_scale, dtype=torch.float32, device=device)
        self._step_counter = 0
        return self

    # The rate, the step count and the per-step hooks are the inner optimizer's.
    @property
    def learning_rate(self) -> Any:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        self.inner_optimizer.learning_rate = value

    @property
    def learning_rate_schedule(self) -> Any:
        return self.inner_optimizer.learning_rate_schedule

    def _rate(self) -> float:
        return self.inner_optimizer._rate()

    @property
    def iterations(self) -> Any:
        return self.inner_optimizer.iterations

    def _updates(self) -> int:
        return self.inner_optimizer._updates()

    @iterations.setter
    def iterations(self, value: int) -> None:
        self.inner_optimizer.iterations = value

    @property
    def variables(self) -> List[torch.Tensor]:
        own = [] if self.dynamic_scale is None else [self.dynamic_scale]
        return own + self.inner_optimizer.variables

    @property
    def clips(self) -> bool:
        return self.inner_optimizer.clips

    def clip_gradients(self) -> None:
        self.inner_optimizer.clip_gradients()

    def before_step(self) -> None:
        self.inner_optimizer.before_step()

    def after_step(self) -> None:
        self.inner_optimizer.after_step()

    def finalize_variable_values(self, var_list: Optional[Sequence[torch.Tensor]] = None) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    def scale_loss(self, loss: Any) -> Any:
        """The loss times the current scale (before `build`: `initial_scale`)."""
        self._loss_scaled = True
        return loss * (self.initial_scale if self.dynamic_scale is None else self.dynamic_scale)

    def step(self) -> None:
        """Unscales the gradients and updates when they are finite, then adjusts the scale.

        Raises:
            RuntimeError: when the loss was not passed through `scale_loss` since the last step.
        """
        if not self._loss_scaled:
            raise RuntimeError("LossScaleOptimizer divides the gradients by its loss scale, but the loss was not "
                               "multiplied by it: call loss = optimizer.scale_loss(loss) before loss.backward().")
        self._loss_scaled = False
        params, grads = self.inner_optimizer._grads()
        finite = True
        if grads:
            found_inf = torch.zeros((), dtype=torch.float32, device=self.dynamic_scale.device)
            with torch.no_grad():
                torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, self.dynamic_scale.reciprocal())
            with labelled_sync("LossScaleOptimizer, once per step: whether the scaled gradients overflowed "
                               "decides on the host whether this update is skipped, as Keras skips it"):
                finite = not bool(found_inf)
        if finite:
            self.inner_optimizer.step()
            if self._step_counter == self.dynamic_growth_steps - 1:
                self._step_counter = 0
                self.dynamic_scale.mul_(2.0)
            else:
                self._step_counter += 1
        else:
            self._step_counter = 0
            self.dynamic_scale.mul_(0.5)

    def zero_grad(self) -> None:
        self.inner_optimizer.zero_grad()

    def state_dict(self) -> Dict[str, Any]:
        state = self.inner_optimizer.state_dict()
        if self.dynamic_scale is not None:
            state["loss_scale"] = {"scale": self.dynamic_scale, "step_counter": self._step_counter}
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        state = dict(state)
        scale = state.pop("loss_scale", None)
        self.inner_optimizer.load_state_dict(state)
        if scale is not None and self.dynamic_scale is not None:
            with torch.no_grad():
                self.dynamic_scale.copy_(scale["scale"])
            self._step_counter = int(scale["step_counter"])

    def get_config(self) -> Dict[str, Any]:
        from kerasish.saving.keras_objects import serialize_keras_object

        # Keras's envelope, which keras.optimizers.LossScaleOptimizer.from_config needs; _deserialize reads both.
        return {"name": self.name, "inner_optimizer": serialize_keras_object(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    def __repr__(self) -> str:
        return f"LossScaleOptimizer({self.inner_optimizer!r})"


def _deserialize(envelope: Dict[str, Any]) -> Optimizer:
    """An inner optimizer from `{'class_name': ..., 'config': ...}` (Keras's extra keys are ignored)."""
    from kerasish import optimizers

    name = envelope.get("class_name")
    cls = getattr(optimizers, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise ValueError(f"Unknown inner optimizer class {name!r}. Known optimizers: "
                         f"{', '.join(sorted(optimizers.names()))} (by class name, e.g. 'Adam').")
    return cls.from_config(dict(envelope.get("config", {})))
