"""Convolution layers: Conv1D, Conv2D and Conv2DTranspose (SeparableConv2D is in convolutional_depthwise).

Inputs and outputs are channels-last, `(batch, steps, channels)` and
`(batch, height, width, channels)`, as in Keras. Internally an NHWC batch is permuted to
NCHW: that permutation is a view whose strides are exactly torch's `channels_last` memory
format, which the convolution kernels consume directly, so no copy of the batch is made, and
the NCHW-in-channels-last output permuted back to NHWC is already contiguous.

Kernels are stored in torch's layout `(filters, in_channels / groups, *kernel_size)` so that
`torch.nn.functional.conv*d` uses them as they are (and `.kerasish` files hold that layout);
`get_weights()`/`set_weights()`, of the layer and of any model holding it, use Keras's layout
`(*kernel_size, in_channels / groups, filters)`, so `set_weights(keras_layer.get_weights())`
works unchanged. `layer.kernel` itself is the torch-layout parameter, except in a Conv2D/Conv3D
subclass that overrides `call` or `convolution_op` (Keras's extension points), whose code reads
`self.kernel` as Keras code does: there it is kept in Keras's layout. Constraints
(`kernel_constraint=...`) see Keras's layout, so their `axis` means what it means in Keras.

'same' padding follows TensorFlow: the output has `ceil(size / stride)` steps and when the total
padding is odd the extra row/column goes at the end (bottom/right); such asymmetric padding is
done with one explicit `F.pad` (a copy), symmetric padding inside the convolution (no copy).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from kerasish import activations, config, constraints, initializers, regularizers
from kerasish.layers.conv_utils import (  # noqa: F401  (pooling, reshaping ... import them from here)
    IntOrTuple,
    check_positive_int,
    check_rank,
    conv_output_length,
    from_channels_first,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
    pad_input,
    spatial_pads,
    to_channels_first,
)
from kerasish.layers.layer import Layer, Shape
from kerasish.layers.weight_layout import KerasLayout, attach_constraint, conv_layout

# --------------------------------------------------------------------------- convolutions
class BaseConv(Layer):
    """Shared body of Conv1D and Conv2D (`rank` spatial axes)."""

    rank = 2
    #: Keras accepts padding="causal" on Conv1D only.
    _allows_causal = False
    regularized_weights = (("kernel_regularizer", "kernel"), ("bias_regularizer", "bias"))
    #: Whether `call` goes through a subclass's `convolution_op` (Keras's Conv2D and Conv3D do; its Conv1D,
    #: transposed, separable and depthwise convolutions have no such hook).
    _calls_convolution_op = False
    _weights_made_by_build = ("kernel", "bias")
    _layout = "(batch, height, width, channels)"
    _layout_first = "(batch, channels, height, width)"

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = 1,
        padding: str = "valid",
        data_format: Optional[str] = None,
        dilation_rate: IntOrTuple = 1,
        groups: int = 1,
        activation: activations.ActivationLike = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        cls = type(self).__name__
        self.filters = check_positive_int(filters, "filters", cls, f"{cls}(32, 3)")
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size", cls)
        self.strides = normalize_tuple(strides, self.rank, "strides", cls)
        self.padding = normalize_padding(padding, cls, allow_causal=self._allows_causal)
        self.data_format = normalize_data_format(data_format, cls)
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, "dilation_rate", cls)
        self.groups = check_positive_int(groups, "groups", cls, f"{cls}(32, 3, groups=2)")
        if self.filters % self.groups:
            raise ValueError(
                f"{cls}: filters must be divisible by groups, received filters={filters} and groups={groups}. "
                "Pick filters as a multiple of groups."
            )
        self.activation_arg = activation
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self._kernel_init_arg = kernel_initializer
        self._bias_init_arg = bias_initializer
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._torch_init = config.defaults() == "torch"

    # ------------------------------------------------------------------ shapes
    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _spatial(self, shape: Shape) -> Tuple[Optional[int], ...]:
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def _check_input_shape(self, input_shape: Shape) -> int:
        layout = self._layout if self.data_format == "channels_last" else self._layout_first
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"Input of layer {self.name!r} ({type(self).__name__}) must have rank {self.rank + 2} {layout}, "
                f"received input shape {tuple(input_shape)} (rank {len(input_shape)}). Reshape the input, e.g. "
                "x.reshape(-1, 28, 28, 1) for one-channel 28x28 images."
            )
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(
                f"Layer {self.name!r} needs a known channel dimension, received input shape {tuple(input_shape)}. "
                "Give the model an input_shape with the number of channels."
            )
        if channels % self.groups:
            raise ValueError(
                f"Layer {self.name!r}: the input channels ({channels}) must be divisible by groups={self.groups}. "
                "Change groups or the number of input channels."
            )
        return channels

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._check_input_shape(input_shape)
        spatial = tuple(
            conv_output_length(s, k, self.padding, st, d)
            for s, k, st, d in zip(self._spatial(input_shape), self.kernel_size, self.strides, self.dilation_rate)
        )
        if self.data_format == "channels_last":
            return (input_shape[0],) + spatial + (self.filters,)
        return (input_shape[0], self.filters) + spatial

    # ------------------------------------------------------------------ weights
    def build(self, input_shape: Shape) -> None:
        channels = self._check_input_shape(input_shape)
        dtype = getattr(torch, self.dtype)
        self.kernel = nn.Parameter(
            torch.empty((self.filters, channels // self.groups) + self.kernel_size, dtype=dtype)
        )
        self.bias = nn.Parameter(torch.empty(self.filters, dtype=dtype)) if self.use_bias else None
        self._init_weights()
        if self._kernel_in_keras_layout():
            with torch.no_grad():
                self.kernel = nn.Parameter(conv_layout(self.rank).to_keras(self.kernel).contiguous())
        self._attach_constraints()

    def _kernel_in_keras_layout(self) -> bool:
        """Whether the kernel is kept in Keras's layout `(*k, in / groups, filters)` rather than torch's.

        A subclass that overrides `call` or `convolution_op` (Keras's extension points) reads and
        transforms `self.kernel` as Keras code does (`ops.moments(self.kernel, axes=[0, 1, 2])` for
        per-filter statistics), so its kernel is Keras's; the built-in layers keep torch's, which
        their fused convolution consumes without a copy.
        """
        cls = type(self)
        return self._calls_convolution_op and (cls.call is not BaseConv.call
                                               or cls.convolution_op is not BaseConv.convolution_op)

    def _weight_layouts(self) -> List[Tuple[Optional[nn.Parameter], Optional[KerasLayout]]]:
        """The kernel in torch's `(a, b, *k)` is Keras's `(*k, b, a)` (see weight_layout)."""
        return [(self.kernel, None if self._kernel_in_keras_layout() else conv_layout(self.rank))]

    def _attach_constraints(self) -> None:
        # Torch's (filters, in, *k) kernel is seen in Keras's (*k, in, filters) layout (for
        # Conv2DTranspose: torch's (in, filters, *k) as Keras's (*k, filters, in)).
        layout = None if self._kernel_in_keras_layout() else conv_layout(self.rank)
        attach_constraint(self.kernel, self.kernel_constraint, layout)
        attach_constraint(self.bias, self.bias_constraint)

    def _init_weights(self) -> None:
        if self._torch_init:
            # torch's ConvNd.reset_parameters: kaiming_uniform(a=sqrt(5)), bias U(+-1/sqrt(fan_in)).
            nn.init.kaiming_uniform_(self.kernel, a=math.sqrt(5))
            if self.bias is not None:
                bound = 1.0 / math.sqrt(self.kernel[0].numel())
                with torch.no_grad():
                    self.bias.uniform_(-bound, bound)
            return
        # The torch layout (out, in/groups, *k) gives Keras's fans directly.
        self.kernel_initializer(self.kernel.data)
        if self.bias is not None:
            self.bias_initializer(self.bias.data)

    # ------------------------------------------------------------------ forward
    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        pads = spatial_pads(x.shape[2:], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        x, symmetric = pad_input(x, pads)
        fn = F.conv1d if self.rank == 1 else F.conv2d
        return fn(x, self._torch_kernel(), self.bias, self.strides, symmetric, self.dilation_rate, self.groups)

    def _torch_kernel(self) -> torch.Tensor:
        """The kernel in torch's layout: `self.kernel`, or a view of it when a subclass keeps Keras's."""
        if self._kernel_in_keras_layout():
            return self.kernel.permute(conv_layout(self.rank).inverse)
        return self.kernel

    def call_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        layout = self._layout if self.data_format == "channels_last" else self._layout_first
        check_rank(inputs, self.rank + 2, self, layout)
        if self._calls_convolution_op and type(self).convolution_op is not BaseConv.convolution_op:
            # A subclass's convolution_op sees what Keras hands it: the inputs as given and the kernel (kept
            # in Keras's layout for such a subclass); the bias is added after it, as Keras does.
            outputs = self.convolution_op(inputs, self.kernel)
            if self.bias is None:
                return outputs
            shape = (self.filters,) if self.data_format == "channels_last" else (self.filters,) + (1,) * self.rank
            return outputs + self.bias.reshape(shape)
        return from_channels_first(self._conv(to_channels_first(inputs, self.data_format)), self.data_format)

    def convolution_op(self, inputs: Any, kernel: Any) -> torch.Tensor:
        """The convolution of `inputs` with `kernel`, without bias or activation: Keras's hook for subclasses.

        A subclass that overrides it (a weight-standardized convolution, say) changes what `call`
        computes; the built-in layer runs its own fused convolution and never calls it.

        Args:
            inputs: a tensor in the layer's `data_format`.
            kernel: the kernel in Keras's layout `(*kernel_size, in_channels / groups, filters)`.

        Returns:
            The convolved tensor, in the layer's `data_format`.

        Raises:
            ValueError: when `kernel` is in torch's layout `(filters, in / groups, *k)`, the layout
                of a built-in layer's `self.kernel`, rather than Keras's.
        """
        from kerasish import ops

        torch_shape = tuple(conv_layout(self.rank).from_keras(self.kernel, ()).shape) \
            if self._kernel_in_keras_layout() else tuple(self.kernel.shape)
        keras_shape = tuple(self.kernel_size) + (torch_shape[1], self.filters)
        if tuple(kernel.shape) != keras_shape and tuple(kernel.shape) == torch_shape:
            raise ValueError(
                f"{type(self).__name__}.convolution_op received a kernel of shape {tuple(kernel.shape)}, torch's "
                f"layout (filters, in_channels, *kernel_size) in which a built-in {type(self).__name__} keeps "
                f"`self.kernel`; it expects Keras's layout {keras_shape}. Pass "
                f"ops.transpose(layer.kernel, {conv_layout(self.rank).permutation}), or subclass the layer "
                f"(a subclass that overrides call or convolution_op keeps its kernel in Keras's layout)."
            )
        return ops.conv(inputs, kernel, strides=list(self.strides), padding=self.padding,
                        dilation_rate=self.dilation_rate, data_format=self.data_format)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(self.call_logits(inputs))

    def logits_activation(self) -> Optional[str]:
        # Softmax/sigmoid over the channel axis only equals the fused loss for channels_last.
        name = activations.serialize(self.activation_arg)
        if self.data_format == "channels_last" and name in ("softmax", "sigmoid"):
            return name
        return None

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.update(
            filters=self.filters,
            kernel_size=list(self.kernel_size),
            strides=list(self.strides),
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=list(self.dilation_rate),
            groups=self.groups,
            activation=activations.serialize(self.activation_arg),
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self._kernel_init_arg),
            bias_initializer=initializers.serialize(self._bias_init_arg),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
        )
        return config_

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, filters={self.filters}, kernel_size={self.kernel_size}, "
                f"strides={self.strides}, padding={self.padding!r}")


class Conv1D(BaseConv):
    """1D convolution over `(batch, steps, channels)` inputs (temporal convolution).

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of 1 int, the window length.
        strides: int or tuple of 1 int. Defaults to `1`.
        padding: `'valid'` (no padding), `'same'` (output length `ceil(steps / strides)`) or
            `'causal'` (padded on the left only: step t sees steps <= t, as WaveNet).
            Defaults to `'valid'`.
        data_format: `'channels_last'` `(batch, steps, channels)` or `'channels_first'`
            `(batch, channels, steps)`. Defaults to `None` (`'channels_last'`).
        dilation_rate: int or tuple of 1 int. Defaults to `1`.
        groups: number of channel groups; `filters` and the input channels must divide by it.
            Defaults to `1`.
        activation: activation name or callable. Defaults to `None` (linear).
        use_bias: whether to add a bias. Defaults to `True`.
        kernel_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        kernel_regularizer: penalty added to the loss. Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: penalty on the output, added to the loss. Defaults to `None`.
        kernel_constraint: applied to the kernel after each optimizer step; its `axis` refers to
            Keras's layout `(*kernel_size, in_channels / groups, filters)`, e.g.
            `MaxNorm(3, axis=[0, 1, 2])` for each filter of a Conv2D. Defaults to `None`.
        bias_constraint: applied to the bias after each optimizer step. Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Example:
        >>> layer = Conv1D(4, 3, padding="same", input_shape=(10, 2))
        >>> layer(torch.ones(5, 10, 2)).shape
        torch.Size([5, 10, 4])
    """

    rank = 1
    _allows_causal = True
    _layout = "(batch, steps, channels)"
    _layout_first = "(batch, channels, steps)"


class Conv2D(BaseConv):
    """2D convolution over `(batch, height, width, channels)` images.

    The kernel is stored in torch's layout `(filters, in_channels / groups, kh, kw)`;
    `get_weights()` returns Keras's `[kernel (kh, kw, in_channels / groups, filters), bias]`.
    The input batch is not copied (see the module docstring).

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of 2 ints, the window height and width.
        strides: int or tuple of 2 ints. Defaults to `1`.
        padding: `'valid'` (no padding) or `'same'` (output size `ceil(size / strides)`,
            TensorFlow's asymmetric padding when needed). Defaults to `'valid'`.
        data_format: `'channels_last'` `(batch, h, w, c)` or `'channels_first'` `(batch, c, h, w)`.
            Defaults to `None` (`'channels_last'`).
        dilation_rate: int or tuple of 2 ints. Defaults to `1`.
        groups: number of channel groups; `filters` and the input channels must divide by it.
            Defaults to `1`.
        activation: activation name or callable. Defaults to `None` (linear).
        use_bias: whether to add a bias. Defaults to `True`.
        kernel_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        kernel_regularizer: penalty added to the loss. Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: penalty on the output, added to the loss. Defaults to `None`.
        kernel_constraint: applied to the kernel after each optimizer step; its `axis` refers to
            Keras's layout `(*kernel_size, in_channels / groups, filters)`, e.g.
            `MaxNorm(3, axis=[0, 1, 2])` for each filter of a Conv2D. Defaults to `None`.
        bias_constraint: applied to the bias after each optimizer step. Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Raises:
        ValueError: for non-positive sizes, an unknown `padding` or `data_format`, channels
            that do not divide by `groups`, or inputs that are not rank 4.

    Example:
        >>> layer = Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1))
        >>> layer(torch.ones(2, 28, 28, 1)).shape
        torch.Size([2, 26, 26, 32])
        >>> layer.count_params()
        320
    """

    rank = 2
    _calls_convolution_op = True


class Conv2DTranspose(BaseConv):
    """Transposed 2D convolution (the gradient of Conv2D), used to upsample feature maps.

    The kernel is stored in torch's transposed layout `(in_channels, filters, kh, kw)`;
    `get_weights()` returns Keras's `[kernel (kh, kw, filters, in_channels), bias]`. Padding,
    `output_padding` and the output size follow Keras (TensorFlow's and JAX's semantics,
    which Keras's torch backend reproduces): with `padding='same'` the output has
    `size * strides` steps, or `(size - 1) * strides + kernel_size % 2 + output_padding`
    with an `output_padding`.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of 2 ints.
        strides: int or tuple of 2 ints. Defaults to `1`.
        padding: `'valid'` or `'same'` (output size `size * strides`). Defaults to `'valid'`.
        output_padding: int or tuple of 2 ints added to the output size (each smaller than the
            stride), or None to infer it as Keras does. Defaults to `None`.
        data_format: `'channels_last'` or `'channels_first'`. Defaults to `None` (`'channels_last'`).
        dilation_rate: int or tuple of 2 ints. Defaults to `1`.
        activation: activation name or callable. Defaults to `None` (linear).
        use_bias: whether to add a bias. Defaults to `True`.
        kernel_initializer: Defaults to `'glorot_uniform'`.
        bias_initializer: Defaults to `'zeros'`.
        kernel_regularizer: Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        activity_regularizer: penalty on the output, added to the loss. Defaults to `None`.
        kernel_constraint: applied to the kernel after each optimizer step; its `axis` refers to
            Keras's layout `(kh, kw, filters, in_channels)`. Defaults to `None`.
        bias_constraint: applied to the bias after each optimizer step. Defaults to `None`.
        **kwargs: `input_shape`, `name`, `dtype`, `trainable`.

    Example:
        >>> layer = Conv2DTranspose(8, 3, strides=2, padding="same", input_shape=(7, 7, 4))
        >>> layer(torch.ones(2, 7, 7, 4)).shape
        torch.Size([2, 14, 14, 8])
    """

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrTuple,
        strides: IntOrTuple = 1,
        padding: str = "valid",
        output_padding: Optional[IntOrTuple] = None,
        data_format: Optional[str] = None,
        dilation_rate: IntOrTuple = 1,
        activation: activations.ActivationLike = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        strides_t = normalize_tuple(strides, 2, "strides", "Conv2DTranspose")
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = normalize_tuple(output_padding, 2, "output_padding", "Conv2DTranspose", True)
            for op, s in zip(self.output_padding, strides_t):
                if op >= s:
                    raise ValueError(
                        f"Conv2DTranspose: each output_padding must be smaller than the stride, as in Keras, "
                        f"received output_padding={output_padding!r} with strides={strides_t}. "
                        "Lower output_padding or leave it None."
                    )
        super().__init__(
            filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint, **kwargs,
        )

    def _crops(self, axis: int) -> Tuple[int, int]:
        """Keras's (crop_before, crop_after) of the full transposed output `(n - 1) * s + k_eff`
        along one axis; a negative crop after extends the output (valid padding with a stride
        larger than the kernel, or an output_padding)."""
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        effective = (k - 1) * d + 1
        op = None if self.output_padding is None else self.output_padding[axis]
        if self.padding == "valid":
            return 0, -(max(effective, s) - effective if op is None else op)
        # TensorFlow's 'same': the padding of the forward convolution this one is the gradient of.
        total = s + effective - 2 if op is None else effective + effective % 2 - 2 + op
        before = min(total // 2 + total % 2, effective - 1)
        return effective - 1 - before, effective - 1 - (total - before)

    def _length(self, size: Optional[int], axis: int) -> Optional[int]:
        if size is None:
            return None
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        before, after = self._crops(axis)
        return (size - 1) * s + (k - 1) * d + 1 - before - after

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._check_input_shape(input_shape)
        spatial = tuple(self._length(s, i) for i, s in enumerate(self._spatial(input_shape)))
        if self.data_format == "channels_last":
            return (input_shape[0],) + spatial + (self.filters,)
        return (input_shape[0], self.filters) + spatial

    def build(self, input_shape: Shape) -> None:
        channels = self._check_input_shape(input_shape)
        dtype = getattr(torch, self.dtype)
        self.kernel = nn.Parameter(torch.empty((channels, self.filters) + self.kernel_size, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(self.filters, dtype=dtype)) if self.use_bias else None
        if self._torch_init:
            self._init_weights()
        else:
            # Keras's transposed kernel (kh, kw, filters, in) has fan_in = filters*k, fan_out = in*k,
            # which is what the torch layout (in, filters, kh, kw) gives.
            self.kernel_initializer(self.kernel.data)
            if self.bias is not None:
                self.bias_initializer(self.bias.data)
        self._attach_constraints()

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        # torch's conv_transpose2d crops `padding` from both ends of the full output and then
        # extends the end by `output_padding` (< max(stride, dilation)); Keras's crops differ at
        # the two ends, so take the torch padding as close to them as torch allows and slice the
        # rest off (a view, only when needed).
        padding, output_padding, slices = [], [], []
        for axis in range(2):
            before, after = self._crops(axis)
            limit = max(self.strides[axis], self.dilation_rate[axis]) - 1
            p = max(0, min(before, after + limit))
            op = max(p - after, 0)
            padding.append(p)
            output_padding.append(op)
            slices.append((before - p, max(after - p, 0)))
        out = F.conv_transpose2d(x, self.kernel, self.bias, self.strides, tuple(padding),
                                 tuple(output_padding), 1, self.dilation_rate)
        if any(b or a for b, a in slices):
            (t, b), (l, r) = slices
            out = out[:, :, t: out.shape[2] - b, l: out.shape[3] - r]
        return out

    def get_config(self) -> Dict[str, Any]:
        config_ = super().get_config()
        config_.pop("groups")
        config_["output_padding"] = None if self.output_padding is None else list(self.output_padding)
        return config_
