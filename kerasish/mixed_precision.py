"""Mixed precision: a global dtype policy wired to torch autocast (and a gradient scaler).

    kerasish.mixed_precision.set_global_policy("mixed_bfloat16")

makes every `fit`/`evaluate`/`predict` started afterwards run the forward pass and
the loss under `torch.autocast(dtype=torch.bfloat16)` while the weights stay float32.
'mixed_float16' also scales the loss with `torch.amp.GradScaler` so small float16
gradients do not underflow; note that torch's scaler reads one flag per step on the
host (one sync per step), which bfloat16 does not need.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ContextManager, Optional

import torch

_POLICIES = {
    "float32": None,
    "mixed_bfloat16": torch.bfloat16,
    "mixed_float16": torch.float16,
}
#: Plain dtypes a policy may name besides float32 (a layer's `dtype="float64"`): variables and computation
#: both in that dtype, as Keras's DTypePolicy. Not global policies: see `set_global_policy`.
_SINGLE_DTYPES = ("float64", "float16", "bfloat16")


class Policy:
    """A dtype policy: weights in `variable_dtype`, computation in `compute_dtype`.

    Keras 3 calls it `DTypePolicy` (`kerasish.mixed_precision.DTypePolicy` is this class).

    Args:
        name: 'float32', 'mixed_bfloat16' or 'mixed_float16', or a plain dtype ('float64', 'float16',
            'bfloat16': variables and computation both in it, as Keras's). Defaults to `None`
            (`kerasish.config.floatx()`, as Keras).
    """

    def __init__(self, name: Optional[str] = None) -> None:
        if name is None:
            from kerasish import config

            name = config.floatx()
        if name not in _POLICIES and name not in _SINGLE_DTYPES:
            from kerasish.utils.text import unknown_name_message

            raise ValueError(unknown_name_message("dtype policy", name, [*_POLICIES, *_SINGLE_DTYPES],
                                                  "Example: set_global_policy('mixed_bfloat16')."))
        self.name = name

    @property
    def compute_dtype(self) -> str:
        if self.name in _SINGLE_DTYPES:
            return self.name
        dtype = _POLICIES[self.name]
        return "float32" if dtype is None else str(dtype).replace("torch.", "")

    @property
    def variable_dtype(self) -> str:
        return self.name if self.name in _SINGLE_DTYPES else "float32"

    @property
    def autocast_dtype(self) -> Optional[torch.dtype]:
        return _POLICIES.get(self.name)

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Policy":
        return cls(**config)

    def __repr__(self) -> str:
        return f'<Policy "{self.name}">'


#: Keras 3's name for the policy class (`keras.mixed_precision.DTypePolicy`, `keras.DTypePolicy`).
DTypePolicy = Policy


_policy = Policy("float32")


def set_global_policy(policy: Any) -> None:
    """Sets the policy for training started afterwards ('float32' turns mixed precision off)."""
    global _policy
    policy = policy if isinstance(policy, Policy) else Policy(str(policy))
    if policy.name in _SINGLE_DTYPES:
        raise ValueError(
            f"set_global_policy({policy.name!r}): kerasish's layers take their weights' dtype from "
            f"kerasish.config.floatx(), not from the global policy, so this policy would not change them. Call "
            f"kerasish.config.set_floatx({policy.name!r}) before building the model (or pass dtype={policy.name!r} "
            "to the layers); global policies are 'float32', 'mixed_float16' and 'mixed_bfloat16'."
        )
    _policy = policy


def global_policy() -> Policy:
    return _policy


#: Keras 3's newer names for the two functions above.
set_dtype_policy = set_global_policy
dtype_policy = global_policy


def autocast(device: torch.device) -> ContextManager[Any]:
    """The autocast context for the current policy on `device` (a no-op for float32)."""
    dtype = _policy.autocast_dtype
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device) -> Optional[Any]:
    """A GradScaler for 'mixed_float16', else None."""
    if _policy.autocast_dtype is not torch.float16:
        return None
    return torch.amp.GradScaler(device.type)


def __getattr__(name: str) -> Any:
    if name == "LossScaleOptimizer":  # Keras exports it here too; the optimizers load on first use
        from kerasish.optimizers.loss_scale_optimizer import LossScaleOptimizer

        return LossScaleOptimizer
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)


__all__ = ["DTypePolicy", "LossScaleOptimizer", "Policy", "dtype_policy", "global_policy", "set_dtype_policy",
           "set_global_policy", "autocast", "grad_scaler"]
