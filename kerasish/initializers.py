"""Keras's weight initialisers, called as in Keras or filling torch tensors in place.

Two calls, one meaning:

- Keras's call, `init(shape, dtype=None)` (or `init(shape=(fan_in, fan_out))`), returns a new
  tensor in Keras's layout: a 2-D shape is `(fan_in, fan_out)`, a convolution kernel
  `(*kernel_size, in_channels, filters)`, exactly as Keras computes fans. With an int `seed`
  the values are Keras's own (kerasish.random draws Keras's numbers for int seeds).
- torch's call, `init(tensor)`, fills a tensor in place in torch's layout (what kerasish's
  layers do): a Dense weight `(out, in)` has fan_in=in, fan_out=out, a convolution kernel
  `(out, in/groups, *k)` fan_in = in/groups * prod(k), fan_out = out * prod(k), as torch's
  `nn.init` reads them.

Keras's function names (`glorot_uniform`, `he_normal`, ...) are the classes, as in Keras.

Example:
    >>> w = GlorotUniform(seed=1)(shape=(784, 10))  # Keras's call: (fan_in, fan_out)
    >>> tuple(w.shape)
    (784, 10)
    >>> t = torch.empty(10, 784)  # torch's Linear weight (out, in)
    >>> _ = glorot_uniform()(t)   # the same fans, filled in place
"""

from __future__ import annotations

import math
import numbers
import types
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import torch

from kerasish.registry import Registry

InitializerLike = Union[str, Callable[[torch.Tensor], Any], "Initializer", None]


def _fans(shape) -> tuple:
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _torch_order(shape: Tuple[int, ...]) -> Tuple[int, ...]:
    """Keras's `(*k, in, out)` axes in torch's `(out, in, *k)` order."""
    n = len(shape)
    return (n - 1, n - 2) + tuple(range(n - 2)) if n >= 2 else tuple(range(n))


def _check_shape(shape: Any) -> Tuple[int, ...]:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        out = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        out = None
    if out is None or any(d < 0 for d in out):
        raise ValueError(
            f"An initializer's shape must be a tuple of non-negative ints, received shape={shape!r}. "
            "Example: initializer(shape=(784, 10)) for a (fan_in, fan_out) kernel."
        )
    return out


class Initializer:
    """Base class: `init(shape, dtype=None)` returns a new tensor (Keras's call), `init(tensor)`
    fills a tensor in place in torch's layout (see the module docstring).

    Subclasses implement `fill(tensor)`, which reads fans in torch's layout.
    """

    def __call__(self, shape: Any = None, dtype: Any = None, **kwargs: Any) -> torch.Tensor:
        if "tensor" in kwargs and shape is None:
            shape = kwargs.pop("tensor")
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}() call got unexpected keyword argument(s) {sorted(kwargs)}. "
                "Call it as initializer(shape, dtype=None) or initializer(tensor)."
            )
        with torch.no_grad():
            if isinstance(shape, torch.Tensor):
                return self.fill(shape)
            return self._new(_check_shape(shape), dtype)

    def _new(self, shape: Tuple[int, ...], dtype: Any) -> torch.Tensor:
        """A new tensor of Keras shape `shape`: filled in torch's layout, returned in Keras's."""
        from kerasish import config
        from kerasish.ops.dtypes import current_device, to_torch_dtype

        torch_dtype = to_torch_dtype(dtype or config.floatx())
        order = _torch_order(shape)
        data = torch.empty(tuple(shape[i] for i in order), dtype=torch_dtype, device=current_device())
        self.fill(data)
        inverse = tuple(sorted(range(len(order)), key=order.__getitem__))
        return data.permute(inverse).contiguous()

    def fill(self, tensor: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> Dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Initializer":
        return cls(**config)


class Zeros(Initializer):
    def fill(self, t):
        return t.zero_()


class Ones(Initializer):
    def fill(self, t):
        return t.fill_(1.0)


class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = value

    def fill(self, t):
        return t.fill_(self.value)

    def get_config(self):
        return {"value": self.value}


class RandomInitializer(Initializer):
    """Base of the random initializers: `seed` None draws from torch's global generator
    (`kerasish.utils.set_random_seed`); an int draws Keras's numbers for that seed, the same
    on every call (as a Keras initializer with an int seed)."""

    def __init__(self, seed: Optional[int] = None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(
                f"{type(self).__name__}: seed must be an int or None, received seed={seed!r}. Example: seed=42."
            )
        self.seed = None if seed is None else int(seed)

    def _draw(self, t: torch.Tensor, kind: str, a: float, b: float) -> torch.Tensor:
        """Fills `t` with uniform(a, b), normal(a, b) or truncated_normal(a, b) numbers."""
        if self.seed is None:
            if kind == "uniform":
                return t.uniform_(a, b)
            if kind == "normal":
                return t.normal_(a, b)
            return torch.nn.init.trunc_normal_(t, a, b, a - 2 * b, a + 2 * b)
        # Keras draws in its layout and `t` is in torch's: draw in Keras's order, copy permuted.
        order = _torch_order(tuple(t.shape))
        inverse = tuple(sorted(range(len(order)), key=order.__getitem__))
        values = self._keras_draw(kind, tuple(t.shape[i] for i in inverse), a, b, t)
        return t.copy_(values.permute(order))

    def _keras_draw(self, kind: str, shape: Tuple[int, ...], a: float, b: float, like: torch.Tensor) -> torch.Tensor:
        """Keras's numbers for `self.seed`: `kind` of (a, b) in `shape`, `like`'s dtype and device."""
        from kerasish import random
        from kerasish.ops.dtypes import device_scope

        draw = {"uniform": random.uniform, "normal": random.normal, "truncated_normal": random.truncated_normal}[kind]
        with device_scope(like.device):
            return draw(shape, a, b, dtype=str(like.dtype).replace("torch.", ""), seed=self.seed)

    def get_config(self) -> Dict[str, Any]:
        return {"seed": self.seed}


class RandomUniform(RandomInitializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Optional[int] = None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def fill(self, t):
        return self._draw(t, "uniform", self.minval, self.maxval)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(RandomInitializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Optional[int] = None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def fill(self, t):
        return self._draw(t, "normal", self.mean, self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomInitializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Optional[int] = None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def fill(self, t):
        return self._draw(t, "truncated_normal", self.mean, self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(RandomInitializer):
    """Keras's VarianceScaling: the family behind glorot/he/lecun."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: Optional[int] = None, input_axes: Any = None, output_axes: Any = None):
        super().__init__(seed)
        _check_no_axes(type(self).__name__, input_axes, output_axes)
        self.input_axes, self.output_axes = input_axes, output_axes
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid mode {mode!r}; expected 'fan_in', 'fan_out' or 'fan_avg'.")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                f"Invalid distribution {distribution!r}; expected 'truncated_normal', "
                "'untruncated_normal' or 'uniform'."
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def fill(self, t):
        fan_in, fan_out = _fans(tuple(t.shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            return self._draw(t, "uniform", -limit, limit)
        if self.distribution == "untruncated_normal":
            return self._draw(t, "normal", 0.0, math.sqrt(scale))
        # Constant from Keras's docs: stddev of a unit normal truncated at +-2.
        std = math.sqrt(scale) / 0.87962566103423978
        return self._draw(t, "truncated_normal", 0.0, std)

    def get_config(self):
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "input_axes": self.input_axes, "output_axes": self.output_axes}


def _check_no_axes(name: str, input_axes: Any, output_axes: Any) -> None:
    """Keras 3.12+ lets the scaling initializers read fans from chosen kernel axes; kerasish does not."""
    for key, value in (("input_axes", input_axes), ("output_axes", output_axes)):
        if value is not None:
            raise ValueError(
                f"{name}({key}={value!r}) is not supported by kerasish: its fans come from the whole kernel "
                f"shape, as in Keras before 3.12. Leave {key}=None (the default)."
            )


class GlorotUniform(VarianceScaling):
    def __init__(self, seed: Optional[int] = None, input_axes: Any = None, output_axes: Any = None):
        super().__init__(1.0, "fan_avg", "uniform", seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotNormal(VarianceScaling):
    def __init__(self, seed: Optional[int] = None, input_axes: Any = None, output_axes: Any = None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class HeUniform(VarianceScaling):
    def __init__(self, seed: Optional[int] = None, input_axes: Any = None, output_axes: Any = None):
        super().__init__(2.0, "fan_in", "uniform", seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class HeNormal(VarianceScaling):
    def __init__(self, seed: Optional[int] = None, input_axes: Any = None, output_axes: Any = None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class LecunUniform(VarianceScaling):
    def __init__(self, seed: Optional[int] = None, input_axes: Any = None, output_axes: Any = None):
        super().__init__(1.0, "fan_in", "uniform", seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class LecunNormal(VarianceScaling):
    def __init__(self, seed: Optional[int] = None, input_axes: Any = None, output_axes: Any = None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class Orthogonal(RandomInitializer):
    """An orthogonal matrix (rows or columns, whichever are fewer, orthonormal) times `gain`;
    more than 2-D shapes are flattened to `(prod(shape[:-1]), shape[-1])` in Keras's layout."""

    def __init__(self, gain: float = 1.0, seed: Optional[int] = None):
        super().__init__(seed)
        self.gain = gain

    def fill(self, t):
        if t.dim() < 2:
            raise ValueError(
                f"Orthogonal initializer needs a shape of rank 2 or more, received shape={tuple(t.shape)} of rank "
                f"{t.dim()}. Use it for kernels, e.g. recurrent_initializer='orthogonal'."
            )
        if self.seed is None:
            if not t.is_contiguous():
                # add_weight hands a permuted view (Keras's layout over torch's storage), which
                # orthogonal_ cannot reshape: fill a contiguous copy and write it back.
                tmp = torch.empty(t.shape, dtype=t.dtype, device=t.device)
                torch.nn.init.orthogonal_(tmp, gain=self.gain)
                with torch.no_grad():
                    t.copy_(tmp)
                return t
            return torch.nn.init.orthogonal_(t, gain=self.gain)
        # Keras's recipe on Keras's numbers: QR of a normal (max, min) matrix, signs from R's diagonal.
        order = _torch_order(tuple(t.shape))
        inverse = tuple(sorted(range(len(order)), key=order.__getitem__))
        keras_shape = tuple(t.shape[i] for i in inverse)
        rows, cols = math.prod(keras_shape[:-1]), keras_shape[-1]
        a = self._keras_draw("normal", (max(rows, cols), min(rows, cols)), 0.0, 1.0, t)
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))
        if rows < cols:
            q = q.t()
        return t.copy_((self.gain * q).reshape(keras_shape).permute(order))

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """The identity matrix (ones on the main diagonal of a possibly non-square 2-D shape) times `gain`."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def fill(self, t):
        if t.dim() != 2:
            raise ValueError(
                f"Identity initializer can only make 2-D matrices, received shape={tuple(t.shape)} of rank {t.dim()}. "
                "Use it for a Dense kernel or a recurrent kernel."
            )
        torch.nn.init.eye_(t)
        return t.mul_(self.gain)

    def get_config(self):
        return {"gain": self.gain}


def _float64(values: Any) -> torch.Tensor:
    """An array-like's values as a float64 CPU tensor (not rounded through float32 on the way)."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64)
    return torch.tensor(values, dtype=torch.float64)


class STFT(Initializer):
    """The kernels of a short-time Fourier transform as a 1-D convolution (Keras's `keras.initializers.STFT`).

    For a kernel of shape `(frame_length, 1, bins)` the value at `(t, 0, k)` is `cos(-2 pi t k / n)` (the
    real side) or `sin(-2 pi t k / n)` (the imaginary side), with `n = 2 * (bins - 1)` FFT points, times the
    window at `t` divided by the window's scale. `STFTSpectrogram` builds its two kernels with it. A
    kernel with more than one input channel gets the same values for every channel (Keras returns a
    single-channel kernel whatever the shape asked for), and an array window is a list in `get_config()`.

    Args:
        side: `"real"` (cosines) or `"imag"` (sines). Defaults to `"real"`.
        window: a window name (`"hann"`, `"hamming"`, `"blackman"`, `"bartlett"`; any other
            `scipy.signal.get_window` name when scipy is installed), an array of `frame_length`
            values, or None (no window, no scaling). Defaults to `"hann"`.
        scaling: `"density"` (divide by the window's L2 norm), `"spectrum"` (by its sum) or None.
            Defaults to `"density"`.
        periodic: whether a named window is periodic (scipy's `fftbins`) rather than symmetric.
            Defaults to `False`.

    Raises:
        ValueError: for a `side` or `scaling` not listed above, an unknown window name, and (when
            called) a shape that is not `(frame_length, input_channels, bins)` or a window array of
            another length.

    Example:
        >>> kernel = STFT("imag", "hann", "density", False)(shape=(64, 1, 65))
        >>> tuple(kernel.shape)
        (64, 1, 65)
    """

    def __init__(self, side: str = "real", window: Any = "hann", scaling: Optional[str] = "density",
                 periodic: bool = False) -> None:
        if side not in ("real", "imag"):
            raise ValueError(f"side should be 'real' or 'imag', not {side!r}. Use 'real' for the cosine kernel "
                             "and 'imag' for the sine kernel.")
        if isinstance(window, str):
            from kerasish.utils.windows import window_values

            window_values(window, 1)  # an unknown name fails here, as Keras asks scipy here
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={scaling!r}")
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def kernel(self, shape: Tuple[int, ...], dtype: torch.dtype, device: Any = None) -> torch.Tensor:
        """The kernel in Keras's layout `(frame_length, 1, bins)`, computed in `dtype` as Keras computes it."""
        if len(shape) != 3:
            raise ValueError(
                f"The STFT initializer makes kernels of shape (frame_length, input_channels, fft_length // 2 + 1), "
                f"received shape={tuple(shape)}. Example: STFT()(shape=(256, 1, 257))."
            )
        frame_length, bins = shape[0], shape[2]
        win = None
        if self.window is not None:
            from kerasish.utils.windows import window_values

            values = (window_values(self.window, frame_length, self.periodic) if isinstance(self.window, str)
                      else _float64(self.window))
            if values.dim() != 1 or values.shape[0] != frame_length:
                raise ValueError(f"The shape of `window` must be equal to [frame_length]. Received: window shape="
                                 f"{tuple(values.shape)}, frame_length={frame_length}")
            win = values.to(device=device, dtype=dtype).reshape(frame_length, 1, 1)
        freq = torch.arange(bins, dtype=dtype, device=device).reshape(1, 1, bins) / ((bins - 1) * 2)
        time = torch.arange(frame_length, dtype=dtype, device=device).reshape(frame_length, 1, 1)
        pi = torch.arccos(torch.tensor(-1, dtype=dtype, device=device))
        angles = (-2 * time) * freq * pi  # in `dtype` and in this order: Keras's rounding
        kernel = torch.cos(angles) if self.side == "real" else torch.sin(angles)
        if win is None:
            return kernel
        kernel = kernel * win
        if self.scaling == "density":
            return kernel / torch.sqrt(torch.sum(torch.square(win)))
        if self.scaling == "spectrum":
            return kernel / torch.sum(torch.abs(win))
        return kernel

    def _new(self, shape: Tuple[int, ...], dtype: Any) -> torch.Tensor:
        from kerasish import config
        from kerasish.ops.dtypes import current_device, to_torch_dtype

        torch_dtype = to_torch_dtype(dtype or config.floatx())
        out = self.kernel(shape, torch_dtype, current_device())
        return out.expand(*shape).contiguous()

    def fill(self, t: torch.Tensor) -> torch.Tensor:
        # `t` is in torch's (bins, input_channels, frame_length) layout.
        keras_shape = tuple(reversed(t.shape)) if t.dim() == 3 else tuple(t.shape)
        return t.copy_(self.kernel(keras_shape, t.dtype, t.device).permute(2, 1, 0))

    def get_config(self) -> Dict[str, Any]:
        window = self.window
        if window is not None and not isinstance(window, str):
            window = _float64(window).tolist()  # an array as a JSON list
        return {"side": self.side, "window": window, "periodic": self.periodic, "scaling": self.scaling}


_registry: Registry[type] = Registry("initializer")
for _cls, _names in {
    Zeros: ("zeros", "zero"),
    Ones: ("ones", "one"),
    Constant: ("constant",),
    RandomUniform: ("random_uniform", "uniform"),
    RandomNormal: ("random_normal", "normal"),
    TruncatedNormal: ("truncated_normal",),
    VarianceScaling: ("variance_scaling",),
    GlorotUniform: ("glorot_uniform", "xavier_uniform"),
    GlorotNormal: ("glorot_normal", "xavier_normal"),
    HeUniform: ("he_uniform",),
    HeNormal: ("he_normal",),
    LecunUniform: ("lecun_uniform",),
    LecunNormal: ("lecun_normal",),
    Orthogonal: ("orthogonal",),
    Identity: ("identity",),
    STFT: ("stft",),
}.items():
    for _n in _names:
        _registry.add(_n, _cls)
# Keras's configs and strings may also name the class itself ('GlorotUniform', 'IdentityInitializer').
_CLASS_NAMES: Dict[str, type] = {cls.__name__: cls for cls in set(dict(_registry.items()).values())}
_CLASS_NAMES.update(IdentityInitializer=Identity, OrthogonalInitializer=Orthogonal, STFTInitializer=STFT)


# Keras's function names are its classes: `glorot_uniform(seed=1)(shape=(3, 4))`.
zeros, ones, constant = Zeros, Ones, Constant
random_uniform, random_normal, truncated_normal = RandomUniform, RandomNormal, TruncatedNormal
variance_scaling = VarianceScaling
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal = HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal
orthogonal, OrthogonalInitializer = Orthogonal, Orthogonal
identity, IdentityInitializer = Identity, Identity
stft, STFTInitializer = STFT, STFT


#: Keras's table of names (`keras.initializers.deserialize` looks names and class names up here),
#: plus kerasish's `xavier_*` aliases.
_MODULE_OBJECTS: Dict[str, Any] = {**dict(_registry.items()), **_CLASS_NAMES, "Initializer": Initializer,
                                   "initializer": Initializer}


def get(identifier: InitializerLike) -> Callable[..., Any]:
    """Returns an initializer for a name, a config dict, an Initializer (instance or class) or a callable.

    Names are Keras's (`'glorot_uniform'`, `'GlorotUniform'`, `'zeros'`, ...), looked up after
    your registered objects; a config dict is read by `deserialize`. None gives `Zeros()`
    (where Keras gives None), which is what kerasish's layers build a missing initializer with.

    Raises:
        ValueError: for an unknown name (valid names listed).
        TypeError: for any other kind of value.
    """
    if identifier is None:
        return Zeros()
    if isinstance(identifier, str):
        if identifier not in _MODULE_OBJECTS and identifier.lower() in _registry:
            identifier = identifier.lower()  # kerasish also takes 'Glorot_Uniform' and other spellings
        found = deserialize(identifier)
        return found() if isinstance(found, type) else found  # a registered class name: its default instance
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"initializer must be a string name, a config dict, an Initializer or a callable, received {identifier!r} "
        f"of type {type(identifier).__name__}. Example: kernel_initializer='glorot_uniform'."
    )


def serialize(initializer: InitializerLike) -> Any:
    """An initializer in Keras 3's format, as `keras.initializers.serialize` writes it.

    A built-in initializer gives Keras's envelope, e.g. `{'module': 'keras.initializers',
    'class_name': 'GlorotUniform', 'config': {'seed': None, 'input_axes': None, 'output_axes':
    None}, 'registered_name': None}`; another Initializer subclass the same envelope with its
    own module and registered name; a function Keras's function envelope. A name, a built-in's
    config dict or an Initializer class also gives the envelope of the initializer it stands for
    (Keras returns a name unchanged): a kerasish layer's `get_config` passes the argument it was
    given, and Keras's layer configs hold the envelope. Any other dict comes back as it is. `get` and `deserialize` read all of these back,
    and the older forms (names, `{'class_name': 'zeros', 'config': {}}`) too.
    """
    if initializer is None:
        return None
    if isinstance(initializer, dict) and not _names_builtin(initializer):
        return initializer  # a description of a user's function or class, kept as written (as Keras)
    if isinstance(initializer, (str, dict)):
        initializer = get(initializer)
    if isinstance(initializer, type) and issubclass(initializer, Initializer):
        initializer = initializer()
    from kerasish.saving.keras_objects import serialize_keras_object

    if isinstance(initializer, Initializer) or callable(getattr(initializer, "get_config", None)) or \
            isinstance(initializer, types.FunctionType):
        return serialize_keras_object(initializer)
    return getattr(initializer, "__name__", repr(initializer))  # a callable object that has no config


def _names_builtin(config: Dict[str, Any]) -> bool:
    """Whether a config dict describes one of the initializers here (not a user's function or class)."""
    return config.get("registered_name") is None and config.get("class_name") in _MODULE_OBJECTS


def deserialize(config: Any, custom_objects: Optional[Mapping[str, Any]] = None) -> Any:
    """The initializer `config` describes, as `keras.initializers.deserialize`.

    Args:
        config: a name (`'he_normal'`, `'HeNormal'`), Keras's envelope, the short form
            `{'class_name': 'HeNormal', 'config': {'seed': 1}}`, a function's envelope, or None.
        custom_objects: `{name: class_or_function}` for your own initializers that are not
            registered. Defaults to `None`.

    Returns:
        The initializer (a class name gives its default instance), or None.

    Raises:
        ValueError: for a name found nowhere (valid names listed) or a dict without `class_name`.
        TypeError: for a config whose `module` is None, as Keras.

    Example:
        >>> deserialize("he_normal").get_config()["seed"] is None
        True
    """
    from kerasish.saving.keras_objects import deserialize_module_object

    return deserialize_module_object(config, _MODULE_OBJECTS, custom_objects, kind="initializer")


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, globals())
