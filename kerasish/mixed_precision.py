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


class Policy:
    """A dtype policy: weights in `variable_dtype`, computation in `compute_dtype`.

    Args:
        name: 'float32', 'mixed_bfloat16' or 'mixed_float16'.
    """

    def __init__(self, name: str) -> None:
        if name not in _POLICIES:
            from kerasish.utils.text import unknown_name_message

            raise ValueError(unknown_name_message("dtype policy", name, _POLICIES,
                                                  "Example: set_global_policy('mixed_bfloat16')."))
        self.name = name

    @property
    def compute_dtype(self) -> str:
        dtype = _POLICIES[self.name]
        return "float32" if dtype is None else str(dtype).replace("torch.", "")

    @property
    def variable_dtype(self) -> str:
        return "float32"

    @property
    def autocast_dtype(self) -> Optional[torch.dtype]:
        return _POLICIES[self.name]

    def __repr__(self) -> str:
        return f'<Policy "{self.name}">'


_policy = Policy("float32")


def set_global_policy(policy: Any) -> None:
    """Sets the policy for training started afterwards ('float32' turns mixed precision off)."""
    global _policy
    _policy = policy if isinstance(policy, Policy) else Policy(str(policy))


def global_policy() -> Policy:
    return _policy


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
