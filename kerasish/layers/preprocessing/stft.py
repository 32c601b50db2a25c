"""STFTSpectrogram: Keras 3's short-time Fourier transform layer, as a strided 1-D convolution on torch.

Every channel of a signal `(batch, time, channels)` is cut into frames of `frame_length` samples,
`frame_step` apart; one convolution with the cosine and sine kernels of `kerasish.initializers.STFT`
(window and scaling folded in) gives the real and imaginary parts of each frame's FFT bins. The kernels
are weights, so the transform can be fine-tuned with the rest of a model (or frozen with
`trainable=False`). The output is the log magnitude, magnitude, power spectral density, real or
imaginary part, phase, or real and imaginary parts side by side.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F

from kerasish.layers.conv_utils import conv_output_length, same_padding
from kerasish.layers.input_spec import InputSpec
from kerasish.layers.layer import Layer, Shape

_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
_FLOATS = (torch.float16, torch.float32, torch.float64)


class STFTSpectrogram(Layer):
    """Spectrograms of 1-D signals by a short-time Fourier transform (Keras 3's `keras.layers.STFTSpectrogram`).

    Each input channel is transformed on its own with the same kernels; the frequency bins of all
    channels are stacked on the last axis (or on an axis of their own with `expand_dims`).

    Differences from Keras: a `dtype="float64"` layer returns float64 in every mode (Keras rounds
    the `"log"`, `"magnitude"` and `"angle"` outputs to float32); a window given as an array is a
    list in `get_config()` (JSON-ready); the real and imaginary kernels run as one convolution;
    under the `"mixed_bfloat16"` policy the layer works (its convolution runs in bfloat16 under
    fit's autocast; Keras's raises "Invalid input type" there); a non-integer `frame_step` / `fft_length`, or a window that is neither a name, None
    nor `frame_length` numbers, fails in the constructor (Keras's fails at the first call).

    Args:
        mode: what to return: `"log"` (the log of the magnitude), `"magnitude"`, `"psd"` (the power
            spectral density: the power, the bins other than the first and last counted twice),
            `"real"`, `"imag"`, `"angle"` (the phase) or `"stft"` (the real then the imaginary
            parts). Defaults to `"log"`.
        frame_length: samples per frame (the window's length). Defaults to `256`.
        frame_step: samples between the starts of successive frames, at most `frame_length`.
            Defaults to `None` (`frame_length // 2`).
        fft_length: FFT points, at least `frame_length` (a power of two is recommended); the output
            has `fft_length // 2 + 1` bins per channel. Defaults to `None` (the smallest power of two
            not below `frame_length`).
        window: `"hann"`, `"hamming"` (or another window name, see `kerasish.initializers.STFT`),
            an array of `frame_length` values, or None. Defaults to `"hann"`.
        periodic: whether a named window is periodic rather than symmetric. Defaults to `False`.
        scaling: `"density"`, `"spectrum"` or None: how the window is normalised (see
            `kerasish.initializers.STFT`). Defaults to `"density"`.
        padding: `"valid"` (whole frames only) or `"same"` (zero-padded so that there are
            `ceil(time / frame_step)` frames). Defaults to `"valid"`.
        expand_dims: put the bins and the input channels on two axes, e.g. to feed an image
            model. Defaults to `False`.
        data_format: `"channels_last"` (inputs `(batch, time, channels)`) or `"channels_first"`
            (inputs `(batch, channels, time)`). Defaults to `None` (`kerasish.config.image_data_format()`).
        **kwargs: `name`, `dtype`, `trainable`.

    Input shape:
        `(batch, time, channels)` for `"channels_last"`, `(batch, channels, time)` for `"channels_first"`.

    Output shape:
        With `bins = fft_length // 2 + 1` (twice that for `mode="stft"`) and `frames` set by `padding`:
        `(batch, frames, channels * bins)` / `(batch, channels * bins, frames)` (channels_last /
        channels_first), or with `expand_dims` `(batch, frames, bins, channels)` / `(batch, channels,
        frames, bins)`.

    Raises:
        ValueError: for a `frame_step` outside `[1, frame_length]` or not an integer, an `fft_length`
            below `frame_length` or not an integer, an unknown `mode`, `scaling`, `padding`,
            `data_format` or window name, or a window array of another length.
        TypeError: when called on inputs that are not float16, float32 or float64.

    Example:
        >>> import torch
        >>> layer = STFTSpectrogram(frame_length=256, frame_step=128, fft_length=512, padding="same")
        >>> tuple(layer(torch.rand(3, 16000, 2)).shape)
        (3, 125, 514)
    """

    def __init__(self, mode: str = "log", frame_length: int = 256, frame_step: Optional[int] = None,
                 fft_length: Optional[int] = None, window: Any = "hann", periodic: bool = False,
                 scaling: Optional[str] = "density", padding: str = "valid", expand_dims: bool = False,
                 data_format: Optional[str] = None, **kwargs: Any) -> None:
        from kerasish import config, initializers
        from kerasish.layers.conv_utils import normalize_data_format

        if isinstance(frame_length, bool) or not isinstance(frame_length, int) or frame_length < 1:
            raise ValueError(f"`frame_length` should be a positive integer. Received frame_length={frame_length!r}. "
                             "Example: frame_length=256.")
        for arg, value in (("frame_step", frame_step), ("fft_length", fft_length)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"`{arg}` should be a positive integer or None. Received {arg}={value!r} "
                                 f"(of type {type(value).__name__}). Example: {arg}={frame_length}.")
        _check_window(window, frame_length)
        if frame_step is not None and (frame_step > frame_length or frame_step < 1):
            raise ValueError(f"`frame_step` should be a positive integer not greater than `frame_length`. Received "
                             f"frame_step={frame_step}, frame_length={frame_length}. Pass a step in "
                             f"[1, {frame_length}] or None for frame_length // 2.")
        if frame_step is None and frame_length < 2:
            raise ValueError(f"`frame_step` defaults to frame_length // 2, which is 0 for frame_length={frame_length}. "
                             "Pass frame_step=1.")
        if fft_length is not None and fft_length < frame_length:
            raise ValueError(f"`fft_length` should be not less than `frame_length`. Received fft_length={fft_length}, "
                             f"frame_length={frame_length}. Pass fft_length >= frame_length, or None.")
        if fft_length is not None and (fft_length & -fft_length) != fft_length:
            warnings.warn(f"`fft_length` is recommended to be a power of two. Received fft_length={fft_length}",
                          stacklevel=2)
        if mode not in _MODES:
            raise ValueError(f"Output mode is invalid, it must be one of {', '.join(_MODES)}. Received: mode={mode!r}")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={scaling!r}")
        if padding not in ("valid", "same"):
            raise ValueError(f"Padding is invalid, it should be 'valid', 'same'. Received: padding={padding!r}")
        # The two kernels' initializers; making them checks the window name, as Keras does here.
        inits = {side: initializers.STFT(side, window, scaling, periodic) for side in ("real", "imag")}
        super().__init__(**kwargs)
        self._kernel_inits = inits
        self.mode, self.frame_length, self.frame_step, self.fft_length = mode, frame_length, frame_step, fft_length
        self._frame_step = frame_step or frame_length // 2
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window, self.periodic, self.scaling, self.padding = window, periodic, scaling, padding
        self.expand_dims = expand_dims
        self.data_format = normalize_data_format(data_format or config.image_data_format(), "STFTSpectrogram")
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape: Shape) -> None:
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        if self.mode != "imag":
            self.real_kernel = self.add_weight(name="real_kernel", shape=shape, initializer=self._kernel_inits["real"])
        if self.mode != "real":
            self.imag_kernel = self.add_weight(name="imag_kernel", shape=shape, initializer=self._kernel_inits["imag"])

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dtype not in _FLOATS:
            raise TypeError(f"Invalid input type. Expected `float16`, `float32` or `float64`. Received: input "
                            f"type={str(inputs.dtype).replace('torch.', '')}. Cast the signal, e.g. x.float().")
        spectra = self._transform(inputs)  # (batch, channels, bins or 2 * bins, frames)
        if self.mode in ("real", "imag", "stft"):
            return self._arrange(spectra)
        real, imag = spectra.chunk(2, dim=2)
        if self.mode == "angle":
            return self._arrange(torch.atan2(imag, real))
        power = real * real + imag * imag
        if self.mode == "psd":
            return self._arrange(power + F.pad(power[:, :, 1:-1], (0, 0, 1, 1)))
        from kerasish import config

        eps = config.epsilon()
        magnitude = self._arrange(torch.sqrt(torch.clamp(power, min=eps)))
        return magnitude if self.mode == "magnitude" else torch.log(torch.clamp(magnitude, min=eps))

    def _transform(self, inputs: torch.Tensor) -> torch.Tensor:
        """One strided convolution with the kernels this mode needs (real before imaginary)."""
        signal = inputs.transpose(1, 2) if self.data_format == "channels_last" else inputs
        channels, time = signal.shape[1], signal.shape[2]
        signal = signal.reshape(-1, 1, time)  # every channel on its own
        if self.padding == "same":
            signal = F.pad(signal, same_padding(time, self.frame_length, self._frame_step))
        if self.mode in ("real", "imag"):
            kernel = self.real_kernel if self.mode == "real" else self.imag_kernel
        else:
            kernel = torch.cat([self.real_kernel, self.imag_kernel], dim=2)
        # Keras's (frame_length, 1, bins) layout as torch's (bins, 1, frame_length), in the input's dtype.
        weight = kernel.permute(2, 1, 0).to(signal.dtype)
        out = F.conv1d(signal, weight, stride=self._frame_step)
        return out.reshape(-1, channels, out.shape[1], out.shape[2])

    def _arrange(self, spectra: torch.Tensor) -> torch.Tensor:
        """`(batch, channels, bins, frames)` in the layout of `data_format` and `expand_dims`."""
        if self.expand_dims:
            return spectra.permute(0, 3, 2, 1) if self.data_format == "channels_last" else spectra.transpose(2, 3)
        flat = spectra.flatten(1, 2)  # (batch, channels * bins, frames): each channel's bins together
        return flat.transpose(1, 2) if self.data_format == "channels_last" else flat

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        last = self.data_format == "channels_last"
        channels, time = (shape[2], shape[1]) if last else (shape[1], shape[2])
        bins = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        frames = conv_output_length(time, self.frame_length, self.padding, self._frame_step)
        if self.expand_dims:
            return (shape[0], frames, bins, channels) if last else (shape[0], channels, frames, bins)
        features = None if channels is None else channels * bins
        return (shape[0], frames, features) if last else (shape[0], features, frames)

    def get_config(self) -> Dict[str, Any]:
        window = self._kernel_inits["real"].get_config()["window"]  # an array as a JSON list
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length, "window": window,
                "periodic": self.periodic, "scaling": self.scaling, "padding": self.padding,
                "data_format": self.data_format, "expand_dims": self.expand_dims}


def _check_window(window: Any, frame_length: int) -> None:
    """A window is a name, None, or `frame_length` numbers; anything else fails here, not at the first call."""
    if window is None or isinstance(window, str):
        return
    try:
        values = np.asarray(window, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1 or values.shape[0] != frame_length:
        if values is not None and values.ndim == 1:  # Keras's message (Keras says it when building)
            raise ValueError(f"The shape of `window` must be equal to [frame_length]. Received: window shape="
                             f"{tuple(values.shape)}, frame_length={frame_length}. Pass {frame_length} values.")
        got = f"shape {tuple(values.shape)}" if values is not None else f"{window!r}"
        raise ValueError(
            f"`window` should be a window name (e.g. 'hann'), None, or an array of frame_length={frame_length} "
            f"numbers. Received {got}. For a window with parameters, pass its values, e.g. "
            f"window=scipy.signal.get_window(('kaiser', 8.0), {frame_length}, fftbins=False)."
        )
