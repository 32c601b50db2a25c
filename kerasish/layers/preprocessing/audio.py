"""MelSpectrogram: Keras 3's audio preprocessing layer, on torch.

A batch of signals `(batch, samples)` (or one signal `(samples,)`) becomes its mel spectrogram
`(batch, num_mel_bins, frames)`: the centred STFT (`kerasish.ops.stft`, reflect padding) gives the
magnitude raised to `mag_exp`, an HTK mel filterbank (triangles of peak 1 between `min_freq` and
`max_freq`, the DC bin left out) maps the linear bins to mel bins, and with `power_to_db` the result
is in decibels relative to `ref_power`, floored at `top_db` below the largest value. As in Keras that
largest value is taken over the whole call (every signal of the batch together), not per signal.
No weights, no randomness: the output is the same in training and inference.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from kerasish.layers.layer import Layer

_MEL_BREAK_HZ = 700.0  # the HTK mel scale: mel(f) = 1127 ln(1 + f / 700)
_MEL_Q = 1127.0
_WINDOWS = ("hann", "hamming")


def _mel(hertz: torch.Tensor) -> torch.Tensor:
    return _MEL_Q * torch.log(1.0 + hertz / _MEL_BREAK_HZ)


def mel_filterbank(num_mel_bins: int, num_spectrogram_bins: int, sampling_rate: float, lower_hz: float,
                   upper_hz: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The `(num_spectrogram_bins, num_mel_bins)` matrix mapping linear-frequency bins to mel bins:
    triangular bands evenly spaced on the mel scale, each peaking at 1, the DC bin's row zero.
    Computed on the CPU in `dtype` (a few hundred numbers; the layer keeps one per device)."""
    def tensor(v: float) -> torch.Tensor:
        return torch.tensor(v, dtype=dtype)

    bins_hz = torch.linspace(0.0, float(tensor(sampling_rate) / 2.0), num_spectrogram_bins, dtype=dtype)[1:]
    bins_mel = _mel(bins_hz).unsqueeze(1)  # (bins - 1, 1)
    edges = torch.linspace(float(_mel(tensor(lower_hz))), float(_mel(tensor(upper_hz))), num_mel_bins + 2,
                           dtype=dtype)
    low, centre, high = edges[:-2].unsqueeze(0), edges[1:-1].unsqueeze(0), edges[2:].unsqueeze(0)
    rising = (bins_mel - low) / (centre - low)
    falling = (high - bins_mel) / (high - centre)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return torch.nn.functional.pad(weights, (0, 0, 1, 0))  # the DC bin: no band


class MelSpectrogram(Layer):
    """The mel spectrogram of audio signals (Keras 3's `keras.layers.MelSpectrogram`).

    Args:
        fft_length: the FFT size. Defaults to `2048`.
        sequence_stride: samples between successive frames. Defaults to `512`.
        sequence_length: the window length, at most `fft_length`. Defaults to `None` (`fft_length`).
        window: 'hann', 'hamming', or None (no window). Defaults to `"hann"`.
        sampling_rate: the signals' sample rate in Hz. Defaults to `16000`.
        num_mel_bins: mel bands. Defaults to `128`.
        min_freq: the lowest band's lower edge in Hz. Defaults to `20.0`.
        max_freq: the highest band's upper edge in Hz. Defaults to `None` (`sampling_rate / 2`).
        power_to_db: return decibels. Defaults to `True`.
        top_db: the floor below the largest value, in dB. Defaults to `80.0`.
        mag_exp: the exponent of the STFT magnitude (1: magnitude, 2: power). Defaults to `2.0`.
        min_power: the smallest power (and reference) before the logarithm. Defaults to `1e-10`.
        ref_power: the reference power of 0 dB. Defaults to `1.0`.
        **kwargs: `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for `fft_length` smaller than `sequence_length`, an unknown window name, or
            non-positive sizes.

    Example:
        >>> import torch
        >>> MelSpectrogram(num_mel_bins=64, sampling_rate=8000, sequence_stride=256)(torch.rand(16000)).shape
        torch.Size([64, 63])
    """

    def __init__(self, fft_length: int = 2048, sequence_stride: int = 512, sequence_length: Optional[int] = None,
                 window: Optional[str] = "hann", sampling_rate: int = 16000, num_mel_bins: int = 128,
                 min_freq: float = 20.0, max_freq: Optional[float] = None, power_to_db: bool = True,
                 top_db: float = 80.0, mag_exp: float = 2.0, min_power: float = 1e-10, ref_power: float = 1.0,
                 **kwargs: Any) -> None:
        for name, value in (("fft_length", fft_length), ("sequence_stride", sequence_stride),
                            ("num_mel_bins", num_mel_bins), ("sampling_rate", sampling_rate)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MelSpectrogram's {name} must be a positive integer, received {value!r}.")
        self.fft_length, self.sequence_stride = fft_length, sequence_stride
        self.sequence_length = sequence_length or fft_length
        if self.fft_length < self.sequence_length:
            raise ValueError(
                f"`fft_length` must be greater than or equal to `sequence_length`. Received: "
                f"`sequence_length`={self.sequence_length}, `fft_length`={self.fft_length}."
            )
        if window is not None and window not in _WINDOWS:
            raise ValueError(f"MelSpectrogram's window must be one of {list(_WINDOWS)} or None (no window), "
                             f"received {window!r}.")
        self.window, self.sampling_rate, self.num_mel_bins = window, sampling_rate, num_mel_bins
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)  # Keras's default (an int)
        self.power_to_db, self.top_db, self.mag_exp = power_to_db, top_db, mag_exp
        self.min_power, self.ref_power = min_power, ref_power
        super().__init__(**kwargs)
        self._banks: Dict[Any, torch.Tensor] = {}  # the filterbank per (bins, dtype, device): settings are fixed

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        from kerasish import ops

        out_dtype = self._compute_dtype_torch()
        work = out_dtype if out_dtype in (torch.float32, torch.float64) else torch.float32  # what stft takes
        x = torch.as_tensor(inputs).to(work)
        real, imag = ops.stft(x, self.sequence_length, self.sequence_stride, self.fft_length, window=self.window,
                              center=True)
        spec = torch.sqrt(real * real + imag * imag) ** self.mag_exp  # (..., frames, fft_length // 2 + 1)
        key = (spec.shape[-1], work, spec.device)
        bank = self._banks.get(key)
        if bank is None:  # once per device and dtype: no per-call host work or device sync
            with torch.inference_mode(False):  # a normal tensor even when first made during predict
                bank = self._banks[key] = mel_filterbank(self.num_mel_bins, spec.shape[-1], self.sampling_rate,
                                                         self.min_freq, self.max_freq, dtype=work).to(spec.device)
        mel = torch.tensordot(spec, bank, dims=1)  # (..., frames, num_mel_bins)
        if self.power_to_db:
            db = 10.0 * torch.log10(mel.clamp_min(self.min_power))
            # The reference in dB, computed as Keras computes it (in the work dtype), on the host: no device copy.
            ref = torch.tensor(max(abs(self.ref_power), self.min_power), dtype=work)
            db = db - float(10.0 * torch.log10(ref))
            mel = torch.maximum(db, db.max() - self.top_db)  # the largest value of the whole call, as Keras
        return mel.transpose(-1, -2).to(out_dtype)

    def _compute_dtype_torch(self) -> torch.dtype:
        from kerasish.ops.dtypes import to_torch_dtype

        return to_torch_dtype(self.compute_dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        frames = None if shape[-1] is None else (shape[-1] + self.sequence_stride + 1) // self.sequence_stride
        return (*shape[:-1], self.num_mel_bins, frames)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window, "sampling_rate": self.sampling_rate,
                "num_mel_bins": self.num_mel_bins, "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db, "mag_exp": self.mag_exp,
                "min_power": self.min_power, "ref_power": self.ref_power}
