"""Window functions for short-time Fourier transforms, by name, as `scipy.signal.get_window` gives them.

The common windows are computed by torch in float64 (the values scipy computes); any other name is
asked of scipy when it is installed. `periodic` is scipy's `fftbins`: a periodic window of length N
is the symmetric window of length N + 1 without its last value.

Example:
    >>> [round(v, 6) for v in window_values("hann", 4, periodic=True).tolist()]
    [0.0, 0.5, 1.0, 0.5]
"""

from __future__ import annotations

import torch

_TORCH_WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window, "blackman": torch.blackman_window,
                  "bartlett": torch.bartlett_window}


def window_values(window: str, length: int, periodic: bool = False) -> torch.Tensor:
    """The float64 CPU values of the window named `window`, `length` long.

    Args:
        window: `"hann"`, `"hamming"`, `"blackman"`, `"bartlett"`, or (with scipy installed) any
            name `scipy.signal.get_window` accepts without parameters.
        length: the number of values.
        periodic: a periodic window (for spectral analysis) rather than a symmetric one.
            Defaults to `False`.

    Raises:
        ValueError: for a name neither torch nor scipy knows.
    """
    if window in _TORCH_WINDOWS:
        return _TORCH_WINDOWS[window](length, periodic=bool(periodic), dtype=torch.float64)
    try:
        from scipy import signal
    except ImportError:
        raise ValueError(
            f"Unknown window type: received window={window!r}. Without scipy, kerasish computes the windows "
            f"{sorted(_TORCH_WINDOWS)}. Pass one of them, an array of frame_length values, or None, or install "
            "scipy (pip install scipy) for every scipy.signal.get_window name."
        ) from None
    try:
        values = signal.get_window(window, length, bool(periodic))
    except ValueError as err:
        raise ValueError(
            f"Unknown window type: received window={window!r} ({err}). Pass a name scipy.signal.get_window "
            f"accepts without parameters (e.g. {sorted(_TORCH_WINDOWS)}), an array of frame_length values, or None."
        ) from err
    return torch.as_tensor(values, dtype=torch.float64)
