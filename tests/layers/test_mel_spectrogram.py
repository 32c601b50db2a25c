"""MelSpectrogram held against keras.layers.MelSpectrogram: the same spectrograms (decibels or power,
every window, a shorter window than the FFT, float64), config, output shape, and Keras's errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish
from kerasish.layers.preprocessing.audio import mel_filterbank
from tests.keras_parity import assert_close, keras_module

SETTINGS = [
    (dict(num_mel_bins=64, sampling_rate=8000, sequence_stride=256, fft_length=2048), (16000,)),
    (dict(num_mel_bins=20, sampling_rate=8000, sequence_stride=128, fft_length=256, sequence_length=200,
          window="hamming"), (2, 3000)),
    (dict(num_mel_bins=16, fft_length=256, sequence_stride=64, power_to_db=False, mag_exp=1.0, window=None), (3, 1024)),
    (dict(num_mel_bins=16, fft_length=128, sequence_stride=32, ref_power=2.0, top_db=40.0, min_freq=100.0,
          max_freq=3000.0, sampling_rate=8000), (2, 800)),
]


@pytest.mark.parametrize("kwargs, shape", SETTINGS, ids=["unbatched", "hamming_short_window", "power_no_window",
                                                         "reference_and_floor"])
def test_spectrograms_equal_keras(kwargs, shape):
    K = keras_module()
    x = np.random.default_rng(0).uniform(-1, 1, size=shape).astype("float32")
    theirs = np.array(K.layers.MelSpectrogram(**kwargs)(x))
    ours = kerasish.layers.MelSpectrogram(**kwargs)(torch.from_numpy(x))
    assert ours.dtype == torch.float32 and tuple(ours.shape) == theirs.shape
    assert_close(ours.numpy(), theirs, rtol=1e-5, atol=2e-4 * max(1.0, float(np.abs(theirs).max())) / 100)


def test_float64_and_the_filterbank_equal_keras():
    K = keras_module()
    x = np.random.default_rng(1).uniform(-1, 1, size=(2, 600))
    kwargs = dict(num_mel_bins=12, fft_length=128, sequence_stride=40, dtype="float64")
    theirs = np.array(K.layers.MelSpectrogram(**kwargs)(x))
    ours = kerasish.layers.MelSpectrogram(**kwargs)(torch.from_numpy(x))
    assert ours.dtype == torch.float64
    assert_close(ours.numpy(), theirs, atol=1e-9)
    bank = K.layers.MelSpectrogram().linear_to_mel_weight_matrix(num_mel_bins=10, num_spectrogram_bins=65,
                                                                 sampling_rate=8000, lower_edge_hertz=30.0,
                                                                 upper_edge_hertz=4000.0)
    assert_close(mel_filterbank(10, 65, 8000, 30.0, 4000.0).numpy(), np.array(bank), atol=1e-6)


def test_config_output_shape_and_a_model():
    K = keras_module()
    kwargs = dict(num_mel_bins=10, fft_length=64, sequence_stride=16, max_freq=3000)
    assert kerasish.layers.MelSpectrogram(name="mel", **kwargs).get_config() == \
        K.layers.MelSpectrogram(name="mel", **kwargs).get_config()
    assert kerasish.layers.MelSpectrogram.from_config(kerasish.layers.MelSpectrogram(**kwargs).get_config()).max_freq \
        == 3000
    for shape in ((None, 1000), (4, 640), (700,)):
        assert tuple(kerasish.layers.MelSpectrogram(**kwargs).compute_output_shape(shape)) == \
            tuple(K.layers.MelSpectrogram(**kwargs).compute_output_shape(shape))
    inputs = kerasish.Input((640,))
    model = kerasish.Model(inputs, kerasish.layers.Dense(1)(kerasish.layers.Flatten()(
        kerasish.layers.MelSpectrogram(**kwargs)(inputs))))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.random.rand(8, 640).astype("float32"), np.zeros((8, 1), "float32"), epochs=1, verbose=0)
    assert model.predict(np.zeros((2, 640), "float32"), verbose=0).shape == (2, 1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(fft_length=128, sequence_length=256),
     r"`fft_length` must be greater than or equal to `sequence_length`. Received: `sequence_length`=256, "
     r"`fft_length`=128"),
    (dict(window="blackman"), r"window must be one of \['hann', 'hamming'\] or None \(no window\), received 'blackman'"),
    (dict(num_mel_bins=0), r"num_mel_bins must be a positive integer, received 0"),
    (dict(sequence_stride=2.5), r"sequence_stride must be a positive integer, received 2.5"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kerasish.layers.MelSpectrogram(**kwargs)
