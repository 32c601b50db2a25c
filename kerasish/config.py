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
_max_epochs: Optional[int] = None  # Keras's debugging caps (see set_max_epochs); read from the environment below
_max_steps_per_epoch: Optional[int] = None

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


def _check_limit(value: Optional[int], setter: str, env: str) -> Optional[int]:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError(
        f"{setter} takes a positive integer or None (no limit), received {value!r}. Keras reads 0 as no limit; "
        f"kerasish asks for None there (or unset {env}) so that a limit of 0 is never silently ignored."
    )


def set_max_epochs(max_epochs: Optional[int]) -> None:
    """Caps the number of epochs of every later `fit` (a debugging aid, as Keras's).

    `fit(epochs=n)` then stops after `min(n, max_epochs)` epochs and warns "Limiting epochs to
    ...". The `KERAS_MAX_EPOCHS` environment variable sets it at import, so a script runs
    shortened without edits.

    Args:
        max_epochs: a positive integer, or `None` for no limit.

    Raises:
        ValueError: for anything else.
    """
    global _max_epochs
    _max_epochs = _check_limit(max_epochs, "set_max_epochs", "KERAS_MAX_EPOCHS")


def max_epochs() -> Optional[int]:
    """The cap `set_max_epochs` (or `KERAS_MAX_EPOCHS`) put on `fit`'s epochs, or None."""
    return _max_epochs


def set_max_steps_per_epoch(max_steps_per_epoch: Optional[int]) -> None:
    """Caps the steps of every later epoch of `fit` (training and validation), `evaluate` and
    `predict` (a debugging aid, as Keras's).

    A call then runs at most that many batches, as if given `steps_per_epoch`/`steps` (a smaller
    one given stays), and warns "Limiting steps_per_epoch to ...". The
    `KERAS_MAX_STEPS_PER_EPOCH` environment variable sets it at import.

    Args:
        max_steps_per_epoch: a positive integer, or `None` for no limit.

    Raises:
        ValueError: for anything else.
    """
    global _max_steps_per_epoch
    _max_steps_per_epoch = _check_limit(max_steps_per_epoch, "set_max_steps_per_epoch", "KERAS_MAX_STEPS_PER_EPOCH")


def max_steps_per_epoch() -> Optional[int]:
    """The cap `set_max_steps_per_epoch` (or `KERAS_MAX_STEPS_PER_EPOCH`) put on steps, or None."""
    return _max_steps_per_epoch


def _limit_from_env(env: str) -> Optional[int]:
    raw = os.environ.get(env)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"The environment variable {env} must be a positive integer, received {raw!r}. Set it to a number "
            "of epochs/steps, or unset it for no limit."
        ) from None
    return _check_limit(value, f"{env} (environment)", env)


_max_epochs = _limit_from_env("KERAS_MAX_EPOCHS")
_max_steps_per_epoch = _limit_from_env("KERAS_MAX_STEPS_PER_EPOCH")


def __getattr__(name: str):
    # Keras 3 also exports the dtype policy functions here; they live in kerasish.mixed_precision.
    if name in ("dtype_policy", "set_dtype_policy"):
        from kerasish import mixed_precision

        return getattr(mixed_precision, name)
    if name in ("enable_interactive_logging", "disable_interactive_logging", "is_interactive_logging_enabled"):
        from kerasish.utils import interactive_logging  # stdout or the "kerasish" logger for progress output

        return getattr(interactive_logging, name)
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, globals())
