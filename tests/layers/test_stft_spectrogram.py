"""STFTSpectrogram and the STFT initializer held against Keras 3's: the same outputs for every mode,
window, scaling, padding and data format, float64, the same gradients and training step, config,
output shapes, Keras's constructor errors, and no host sync in a training call."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import kerasish
from kerasish import initializers
from kerasish.layers import STFTSpectrogram
from tests.keras_parity import assert_close, copy_weights, grads, keras_layout_grads, keras_module, to_numpy

MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
LAYOUTS = [("channels_last", "valid", False), ("channels_last", "same", True),
           ("channels_first", "same", False), ("channels_first", "valid", True)]


def _signal(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _pair(keras, **kwargs):
    return keras.layers.STFTSpectrogram(**kwargs), STFTSpectrogram(**kwargs)


def _compare(kwargs, shape, atol=2e-5, dtype="float32"):
    K = keras_module()
    x = _signal(shape, dtype=dtype)
    theirs, ours = _pair(K, **kwargs)
    expected = to_numpy(theirs(x))
    got = ours(torch.from_numpy(x))
    assert tuple(got.shape) == expected.shape == tuple(theirs.compute_output_shape(shape))
    assert tuple(ours.compute_output_shape(shape)) == expected.shape
    assert_close(got, expected, atol=atol, rtol=1e-4)
    return got


@pytest.mark.parametrize("data_format, padding, expand_dims", LAYOUTS,
                         ids=["last_valid", "last_same_expanded", "first_same", "first_valid_expanded"])
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_and_layout_equals_keras(mode, data_format, padding, expand_dims):
    shape = (2, 301, 3) if data_format == "channels_last" else (2, 3, 301)
    kwargs = dict(mode=mode, frame_length=40, frame_step=13, fft_length=64, padding=padding,
                  expand_dims=expand_dims, data_format=data_format)
    # the phase of bins whose parts are both ~0 is rounding noise: compare it where the magnitude is not
    if mode != "angle":
        _compare(kwargs, shape)
        return
    K = keras_module()
    x = _signal(shape)
    theirs, ours = _pair(K, **kwargs)
    magnitude = to_numpy(K.layers.STFTSpectrogram(**{**kwargs, "mode": "magnitude"})(x))
    expected, got = to_numpy(theirs(x)), ours(torch.from_numpy(x)).detach().numpy()
    assert got.shape == expected.shape
    keep = magnitude > 1e-3
    assert keep.mean() > 0.9
    assert_close(np.cos(got[keep]), np.cos(expected[keep]), atol=1e-4)
    assert_close(np.sin(got[keep]), np.sin(expected[keep]), atol=1e-4)


@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", "bartlett", None, "array"])
@pytest.mark.parametrize("scaling, periodic", [("density", False), ("spectrum", True), (None, False)])
def test_windows_and_scalings_equal_keras(window, scaling, periodic):
    if window == "array":
        window = np.linspace(0.2, 1.0, 48).tolist()
    kwargs = dict(mode="stft", frame_length=48, frame_step=16, window=window, scaling=scaling, periodic=periodic)
    _compare(kwargs, (2, 200, 1), atol=1e-4)


def test_a_scipy_window_equals_keras():
    pytest.importorskip("scipy")
    _compare(dict(mode="magnitude", frame_length=50, frame_step=25, window="cosine", periodic=True), (1, 400, 2))


def test_defaults_and_an_fft_longer_than_the_frame():
    layer = STFTSpectrogram(frame_length=100)
    assert (layer._frame_step, layer._fft_length) == (50, 128)  # frame_length // 2, the next power of two
    _compare(dict(frame_length=100), (2, 1000, 1))
    with pytest.warns(UserWarning, match="`fft_length` is recommended to be a power of two. Received fft_length=300"):
        STFTSpectrogram(frame_length=100, fft_length=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _compare(dict(mode="psd", frame_length=100, frame_step=30, fft_length=300), (2, 500, 1), atol=1e-4)


def _numpy_stft(x, frame_length, frame_step, fft_length):
    """The reference: each channel's frames (valid padding) times a symmetric hann window over its L2 norm,
    through numpy's float64 FFT; (batch, frames, channels, bins)."""
    n = np.arange(frame_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / (frame_length - 1))
    starts = range(0, x.shape[1] - frame_length + 1, frame_step)
    frames = np.stack([x[:, s:s + frame_length] for s in starts], axis=1)  # (batch, frames, length, channels)
    frames = frames * (window / np.sqrt(np.sum(window ** 2)))[:, None]
    return np.fft.rfft(frames, n=fft_length, axis=2).transpose(0, 1, 3, 2)


@pytest.mark.parametrize("mode", MODES)
def test_float64_equals_keras_and_numpys_fft(mode):
    K = keras_module()
    x = _signal((2, 500, 2), dtype="float64")
    kwargs = dict(mode=mode, frame_length=64, frame_step=16, dtype="float64")
    got = STFTSpectrogram(**kwargs)(torch.from_numpy(x)).detach()
    expected = to_numpy(K.layers.STFTSpectrogram(**kwargs)(x))
    assert got.dtype == torch.float64 and tuple(got.shape) == expected.shape
    spectrum = _numpy_stft(x, 64, 16, 64)
    power = np.abs(spectrum) ** 2
    reference = {"real": spectrum.real, "imag": spectrum.imag, "angle": np.angle(spectrum),
                 "stft": np.concatenate([spectrum.real, spectrum.imag], axis=-1),
                 "magnitude": np.sqrt(np.maximum(power, 1e-7)),
                 "log": np.log(np.sqrt(np.maximum(power, 1e-7))),
                 "psd": np.concatenate([power[..., :1], 2 * power[..., 1:-1], power[..., -1:]], axis=-1)}[mode]
    reference = reference.reshape(expected.shape)
    got, keras_dtype = got.numpy(), expected.dtype
    if mode == "angle":  # the phase of a bin of magnitude ~0 is noise, and +pi equals -pi: compare cos and sin
        keep = np.abs(spectrum).reshape(reference.shape) > 1e-6
        got, expected, reference = [np.concatenate([np.cos(a[keep]), np.sin(a[keep])])
                                    for a in (got, expected, reference)]
    assert_close(got, reference, atol=1e-10, rtol=1e-10)
    if mode in ("log", "magnitude", "angle"):
        # A deliberate difference: Keras returns float32 here (its maximum and arctan2 round to float32),
        # kerasish keeps float64, so the two agree to float32's precision only.
        assert keras_dtype == np.float32
        assert_close(got, expected, atol=1e-5, rtol=1e-5)
    else:
        assert keras_dtype == np.float64
        assert_close(got, expected, atol=1e-12, rtol=1e-10)


def test_an_array_window_keeps_float64_precision():
    K = keras_module()
    window = np.random.default_rng(8).uniform(0.1, 1.0, 32)  # float64 values a float32 round trip would change
    kwargs = dict(mode="stft", frame_length=32, frame_step=8, window=window.tolist(), dtype="float64")
    x = _signal((1, 200, 1), dtype="float64")
    got = STFTSpectrogram(**kwargs)(torch.from_numpy(x))
    assert_close(got, to_numpy(K.layers.STFTSpectrogram(**kwargs)(x)), atol=1e-13, rtol=1e-12)
    assert STFTSpectrogram(**kwargs).get_config()["window"] == window.tolist()  # exact, and JSON-ready
    assert initializers.STFT(window=torch.from_numpy(window)).get_config()["window"] == window.tolist()


def test_float64_data_into_a_float32_layer_and_integer_data():
    layer = STFTSpectrogram(frame_length=64)
    out = layer(torch.from_numpy(_signal((1, 500, 1), dtype="float64")))
    assert out.dtype == torch.float32  # Keras converts float inputs to the layer's compute dtype
    with pytest.raises(TypeError, match=r"Invalid input type. Expected `float16`, `float32` or `float64`. "
                                        r"Received: input type=int64"):
        layer(torch.ones(1, 500, 1, dtype=torch.int64))


def test_weights_follow_mode_and_trainable():
    K = keras_module()
    for mode, names in (("real", ["real_kernel"]), ("imag", ["imag_kernel"]), ("log", ["real_kernel", "imag_kernel"])):
        theirs, ours = _pair(K, mode=mode, frame_length=32)
        theirs.build((None, 100, 1))
        ours.build((None, 100, 1))
        assert [w.name for w in ours.weights] == [w.name for w in theirs.weights] == names
        assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights] == [(32, 1, 17)] * \
            len(names)
        assert_close([to_numpy(w) for w in ours.weights], [to_numpy(w) for w in theirs.weights], atol=1e-7)
    frozen = STFTSpectrogram(frame_length=32, trainable=False)
    frozen.build((None, 100, 1))
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 2


@pytest.mark.parametrize("mode", ["log", "psd", "angle", "stft"])
def test_gradients_equal_keras(mode):
    K = keras_module()
    kwargs = dict(mode=mode, frame_length=32, frame_step=8, fft_length=32, padding="same")
    theirs, ours = _pair(K, **kwargs)
    x = _signal((2, 120, 2), seed=3)
    theirs.build(x.shape)
    ours.build(x.shape)
    copy_weights(theirs, ours)
    target = torch.from_numpy(_signal(tuple(ours.compute_output_shape(x.shape)), seed=5))
    (theirs(torch.from_numpy(x)) * target).sum().backward()
    (ours(torch.from_numpy(x)) * target).sum().backward()
    expected = grads(theirs.trainable_weights)
    assert len(expected) == 2 and all(np.abs(g).max() > 1e-3 for g in expected)
    assert_close(keras_layout_grads(ours), expected, atol=2e-4, rtol=1e-4)


def test_a_training_step_equals_keras():
    K = keras_module()
    x, y = _signal((8, 256, 2), seed=6), _signal((8, 1), seed=7)

    def build(lib):
        model = lib.Sequential([lib.Input((256, 2)), lib.layers.STFTSpectrogram(frame_length=64, frame_step=32),
                                lib.layers.Flatten(), lib.layers.Dense(1)])
        model.compile(optimizer=lib.optimizers.SGD(learning_rate=0.01), loss="mse")
        return model

    theirs, ours = build(K), build(kerasish)
    copy_weights(theirs, ours)
    stft = ours.layers[0]
    assert [w.name for w in stft.trainable_weights] == ["real_kernel", "imag_kernel"]
    before = [w.copy() for w in ours.get_weights()]
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert not np.allclose(before[0], ours.get_weights()[0])  # the kernels did train
    assert_close(ours.get_weights(), theirs.get_weights(), atol=1e-5, rtol=1e-4)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-4, rtol=1e-4)


def test_config_equals_keras_and_round_trips():
    K = keras_module()
    for kwargs in (dict(), dict(mode="psd", frame_length=50, frame_step=10, fft_length=64, window="hamming",
                                periodic=True, scaling="spectrum", padding="same", expand_dims=True,
                                data_format="channels_first"),
                   dict(window=[0.5] * 16, frame_length=16, scaling=None)):
        ours = STFTSpectrogram(name="spec", **kwargs)
        config = ours.get_config()
        assert config == K.layers.STFTSpectrogram(name="spec", **kwargs).get_config()
        again = STFTSpectrogram.from_config(json.loads(json.dumps(config)))
        assert again.get_config() == config


def test_a_functional_model_and_symbolic_shapes():
    inputs = kerasish.Input((2, 400))
    spec = STFTSpectrogram(frame_length=64, frame_step=32, padding="same", data_format="channels_first",
                           expand_dims=True)(inputs)
    assert tuple(spec.shape) == (None, 2, 13, 33)
    model = kerasish.Model(inputs, spec)
    assert tuple(model.predict(_signal((3, 2, 400)), verbose=0).shape) == (3, 2, 13, 33)
    assert STFTSpectrogram(frame_length=64).compute_output_shape((None, None, 4)) == (None, None, 132)


def test_constructor_errors_match_keras():
    K = keras_module()
    cases = [
        (dict(frame_length=64, frame_step=65), r"`frame_step` should be a positive integer not greater than "
                                               r"`frame_length`. Received frame_step=65, frame_length=64"),
        (dict(frame_step=0), r"Received frame_step=0, frame_length=256"),
        (dict(frame_length=64, fft_length=32), r"`fft_length` should be not less than `frame_length`. "
                                               r"Received fft_length=32, frame_length=64"),
        (dict(mode="power"), r"Output mode is invalid, it must be one of log, magnitude, psd, real, imag, angle, "
                             r"stft. Received: mode='power'"),
        (dict(scaling="l2"), r"Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             r"Received scaling='l2'"),
        (dict(padding="causal"), r"Padding is invalid, it should be 'valid', 'same'. Received: padding='causal'"),
        (dict(window="triangle-ish"), r"Unknown window type"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError):
            K.layers.STFTSpectrogram(**kwargs)
        with pytest.raises(ValueError, match=message):
            STFTSpectrogram(**kwargs)
    # kerasish's own checks, for what Keras fails on later or not at all
    with pytest.raises(ValueError, match=r"`frame_length` should be a positive integer. Received frame_length=0"):
        STFTSpectrogram(frame_length=0)
    with pytest.raises(ValueError, match=r"`frame_step` defaults to frame_length // 2, which is 0 for "
                                         r"frame_length=1. Pass frame_step=1."):
        STFTSpectrogram(frame_length=1)
    assert STFTSpectrogram(frame_length=1, frame_step=1, fft_length=2)(torch.ones(1, 5, 1)).shape == (1, 5, 2)
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last' or 'channels_first'"):
        STFTSpectrogram(data_format="NHWC")
    with pytest.raises(ValueError, match=r"The shape of `window` must be equal to \[frame_length\]. Received: "
                                         r"window shape=\(10,\), frame_length=16"):
        STFTSpectrogram(frame_length=16, window=[1.0] * 10)(torch.ones(1, 64, 1))
    with pytest.raises(ValueError, match=r"must have rank 3 \(ndim=3\), received rank 2"):
        STFTSpectrogram(frame_length=16)(torch.ones(64, 1))


def test_the_initializer_equals_keras():
    K = keras_module()
    for side in ("real", "imag"):
        for window, scaling, periodic in (("hann", "density", False), ("hamming", "spectrum", True),
                                          (None, None, False), ([0.25] * 20 + [1.0] * 20, "density", False)):
            for dtype in ("float32", "float64"):
                expected = to_numpy(K.initializers.STFT(side, window, scaling, periodic)(shape=(40, 1, 33),
                                                                                        dtype=dtype))
                got = initializers.STFT(side, window, scaling, periodic)(shape=(40, 1, 33), dtype=dtype)
                assert str(got.dtype) == f"torch.{dtype}"
                assert_close(got, expected, atol=1e-12 if dtype == "float64" else 1e-7)
    init = initializers.STFT("imag", "hamming", "spectrum", True)
    assert init.get_config() == K.initializers.STFT("imag", "hamming", "spectrum", True).get_config()
    assert initializers.serialize(init) == K.initializers.serialize(K.initializers.STFT("imag", "hamming",
                                                                                          "spectrum", True))
    assert initializers.deserialize(initializers.serialize(init)).get_config() == init.get_config()
    assert initializers.STFTInitializer is initializers.stft is initializers.STFT
    assert isinstance(initializers.get("STFTInitializer"), initializers.STFT)
    assert isinstance(initializers.get("stft"), initializers.STFT)
    # filling a torch-layout (bins, 1, frame_length) tensor in place gives the same kernel
    filled = initializers.STFT()(torch.empty(33, 1, 40))
    assert_close(filled.permute(2, 1, 0), initializers.STFT()(shape=(40, 1, 33)), atol=0)
    # more input channels: the same kernel for each (Keras returns one channel whatever the shape)
    wide = initializers.STFT()(shape=(40, 2, 33))
    assert tuple(wide.shape) == (40, 2, 33) and torch.equal(wide[:, 0], wide[:, 1])


def test_initializer_errors():
    K = keras_module()
    with pytest.raises(ValueError, match="side should be 'real' or 'imag', not 'both'"):
        initializers.STFT("both")
    with pytest.raises(ValueError):
        K.initializers.STFT("both")
    with pytest.raises(ValueError, match=r"Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                                         r"Received scaling='power'"):
        initializers.STFT(scaling="power")
    with pytest.raises(ValueError, match=r"Unknown window type: received window='nope'"):
        initializers.STFT(window="nope")
    with pytest.raises(ValueError, match=r"The STFT initializer makes kernels of shape \(frame_length, "
                                         r"input_channels, fft_length // 2 \+ 1\), received shape=\(40, 33\)"):
        initializers.STFT()(shape=(40, 33))
    with pytest.raises(ValueError, match=r"The shape of `window` must be equal to \[frame_length\]"):
        initializers.STFT(window=[1.0, 2.0])(shape=(40, 1, 33))


def test_unknown_windows_without_scipy(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "scipy", None)  # `from scipy import signal` now raises ImportError
    with pytest.raises(ValueError, match=r"Unknown window type: received window='cosine'. Without scipy, kerasish "
                                         r"computes the windows \['bartlett', 'blackman', 'hamming', 'hann'\].*"
                                         r"pip install scipy"):
        STFTSpectrogram(window="cosine")
    assert STFTSpectrogram(window="hamming").window == "hamming"  # torch's windows need no scipy


SYNC_METHODS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")


def test_a_training_call_makes_no_host_sync(monkeypatch):
    layers = [STFTSpectrogram(mode=mode, frame_length=32, frame_step=8, padding="same") for mode in MODES]
    x = torch.from_numpy(_signal((2, 100, 2)))
    for layer in layers:
        layer(x)  # build
    counts = {"n": 0}
    for method in SYNC_METHODS:
        def wrapper(self, *args, __original=getattr(torch.Tensor, method), **kwargs):
            counts["n"] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, method, wrapper)
    for layer in layers:
        layer(x, training=True).sum().backward()
    assert counts["n"] == 0


@pytest.mark.gpu
def test_cuda_calls_make_no_host_sync_and_equal_the_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    layer = STFTSpectrogram(mode="log", frame_length=64, frame_step=16, padding="same")
    x = torch.from_numpy(_signal((4, 1000, 2)))
    expected = layer(x).detach()
    layer.to("cuda")
    xc = x.cuda()
    layer(xc)
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = layer(xc, training=True)
        out.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert out.device.type == "cuda"
    assert_close(out.detach().cpu(), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(window=("kaiser", 8.0)), r"`window` should be a window name \(e.g. 'hann'\), None, or an array of "
                                   r"frame_length=16 numbers. Received \('kaiser', 8.0\).*scipy.signal.get_window"),
    (dict(window=np.ones(8)), r"The shape of `window` must be equal to \[frame_length\]. Received: window "
                              r"shape=\(8,\), frame_length=16. Pass 16 values."),
    (dict(window=np.ones((4, 4))), r"array of frame_length=16 numbers. Received shape \(4, 4\)"),
    (dict(frame_step=8.5), r"`frame_step` should be a positive integer or None. Received frame_step=8.5 \(of type "
                           r"float\)"),
    (dict(fft_length=32.0), r"`fft_length` should be a positive integer or None. Received fft_length=32.0"),
])
def test_what_keras_rejects_only_when_called_is_refused_by_the_constructor(kwargs, message):
    with pytest.raises(ValueError, match=message):
        STFTSpectrogram(frame_length=16, **kwargs)


def test_mixed_bfloat16_trains_where_keras_raises():
    K = keras_module()
    x, y = _signal((8, 64, 1)), _signal((8, 1), seed=1)
    K.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        with pytest.raises(TypeError, match="Invalid input type"):
            K.layers.STFTSpectrogram(mode="psd", frame_length=16)(x)
    finally:
        K.mixed_precision.set_global_policy("float32")
    kerasish.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = STFTSpectrogram(mode="psd", frame_length=16)
        with kerasish.mixed_precision.autocast(torch.device("cpu")):  # what fit's step runs under
            assert layer(torch.from_numpy(x)).dtype == torch.bfloat16
        model = kerasish.Sequential([kerasish.Input((64, 1)), layer, kerasish.layers.GlobalAveragePooling1D(),
                                     kerasish.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(x, y, epochs=2, batch_size=4, verbose=0).history
    finally:
        kerasish.mixed_precision.set_global_policy("float32")
    assert np.isfinite(history["loss"]).all()
