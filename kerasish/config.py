"""Process-wide settings: the device, the float dtype and which defaults (Keras's or torch's) apply.

Nothing here probes hardware at import time; the device is chosen on first use.
"""

from __future__ import annotations

import os
from typing import Optional, Union

import torch

_device: Optional[torch.device] = None
_probed: Optional[torch.device] = None
_floatx: str = "float32"
_defaults: str = "keras"
_epsilon: float = 1e-7
_image_data_format: str = "channels_last"

_VALID_DEFAULTS = ("keras", "torch")


def default_device() -> torch.device:
    """The device models train on unless `compile(device=...)` says otherwise.

    CUDA when available, then Apple's MPS, else the CPU. `set_device` overrides it.
    """
    global _probed
    if _device is not None:
        return _device
    if _probed is None:  # probed once: ops that create tensors ask on every call
        mps = getattr(torch.backends, "mps", None)
        _probed = torch.device("cuda") if torch.cuda.is_available() else (
            torch.device("mps") if mps is not None and mps.is_available() else torch.device("cpu"))
    return _probed


def resolve_device(device: Union[str, torch.device, None]) -> torch.device:
    """Turns a user's `device` argument into a torch.device, with a clear error."""
    if device is None:
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(
            f"Invalid device {device!r}: {e}. Expected 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine. "
            "Pass device='cpu' (or leave device unset to pick the best available device)."
        )
    return dev


def set_device(device: Union[str, torch.device, None]) -> None:
    """Sets the default device for every model compiled afterwards (None: automatic)."""
    global _device
    _device = None if device is None else resolve_device(device)


def floatx() -> str:
    """The default float dtype name, 'float32' as in Keras."""
    return _floatx


def set_floatx(value: str) -> None:
    global _floatx
    if value not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(
            f"Unknown floatx {value!r}. Expected one of 'float16', 'bfloat16', 'float32', 'float64'."
        )
    _floatx = value


def floatx_dtype() -> torch.dtype:
    return getattr(torch, _floatx)


def epsilon() -> float:
    """The fuzz factor Keras code adds to denominators, 1e-7 as in Keras."""
    return _epsilon


def set_epsilon(value: float) -> None:
    global _epsilon
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"epsilon must be a positive number, received {value!r}. Example: set_epsilon(1e-7).")
    _epsilon = float(value)


def image_data_format() -> str:
    """'channels_last' (Keras's default) or 'channels_first': the default `data_format` of image layers and ops."""
    return _image_data_format


def set_image_data_format(data_format: str) -> None:
    """Sets the `data_format` that image layers and ops created afterwards use when given None."""
    global _image_data_format
    value = data_format.lower() if isinstance(data_format, str) else data_format
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            f"Unknown data_format {data_format!r}. Expected 'channels_last' (batch, height, width, channels) "
            "or 'channels_first' (batch, channels, height, width)."
        )
    _image_data_format = value


def backend() -> str:
    """The backend's name: always 'torch' (as `keras.config.backend()` under KERAS_BACKEND=torch)."""
    return "torch"


def enable_flash_attention() -> None:
    """Lets torch's scaled_dot_product_attention use its flash kernel (torch's default)."""
    torch.backends.cuda.enable_flash_sdp(True)


def disable_flash_attention() -> None:
    """Keeps torch's scaled_dot_product_attention off its flash kernel (other fused kernels stay)."""
    torch.backends.cuda.enable_flash_sdp(False)


def is_flash_attention_enabled() -> bool:
    return bool(torch.backends.cuda.flash_sdp_enabled())


def enable_unsafe_deserialization() -> None:
    """Lets every later `load_model` run code saved in files (a Lambda's source). Only for trusted files."""
    from kerasish.utils import safe_mode

    safe_mode.enable_unsafe_deserialization()


def defaults() -> str:
    """Which defaults apply to new objects: 'keras' (the default) or 'torch'."""
    return _defaults


def set_defaults(which: str) -> None:
    """Chooses Keras's defaults (the default) or PyTorch's for objects created afterwards.

    This changes: optimizers (`torch.optim`'s update rule, as `formula="torch"`; torch's
    numbers for those named by string), the initialisation of Dense, Conv, Embedding and recurrent
    layers (torch's `reset_parameters()` instead of glorot_uniform/zeros) and
    BatchNormalization's moving-variance rule (torch's unbiased variance; momentum and
    epsilon stay Keras's). See README's table.

    Args:
        which: 'keras' or 'torch'.
    """
    global _defaults
    if which not in _VALID_DEFAULTS:
        raise ValueError(
            f"Unknown defaults {which!r}. Expected 'keras' or 'torch': "
            "call kerasish.config.set_defaults('keras') or set_defaults('torch')."
        )
    _defaults = which


def enable_determinism() -> None:
    """Asks torch for deterministic algorithms (slower; opt-in).

    Sets `torch.use_deterministic_algorithms(True)`, turns off cuDNN benchmarking and
    sets `CUBLAS_WORKSPACE_CONFIG` so cuBLAS is deterministic on CUDA.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
