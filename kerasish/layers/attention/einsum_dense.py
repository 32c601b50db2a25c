"""EinsumDense: a dense layer whose kernel contraction is an einsum equation, as in Keras 3."""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from kerasish import activations, constraints, initializers, regularizers
from kerasish.layers.layer import Layer, Shape
from kerasish.layers.unsupported import reject_unsupported
from kerasish.layers.weight_layout import attach_constraint

_FORMS = (
    # (pattern on the equation with '...' written as '0', where the ellipsis sits)
    (re.compile(r"^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$"), None),
    (re.compile(r"^0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$"), "left"),
    (re.compile(r"^([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$"), "right"),
)


def analyze_equation(equation: str, bias_axes: Optional[str], input_shape: Sequence[Optional[int]],
                     output_shape: Sequence[Optional[int]]) -> Tuple[List[int], Optional[List[int]], List[Any],
                                                                     List[int], List[int]]:
    """Kernel shape, bias shape, full output shape, and the kernel's input / output axes.

    `output_shape` is the partial output shape without the batch entry (Keras's argument).

    Raises:
        ValueError: for an equation outside Keras's three forms, or shapes that disagree with it.
    """
    if not isinstance(equation, str):
        raise ValueError(f"EinsumDense: equation must be a string such as 'ab,bc->ac', received {equation!r}.")
    form = None
    for pattern, where in _FORMS:
        match = pattern.match(equation.replace("...", "0"))
        if match:
            form = (match, where)
            break
    if form is None:
        raise ValueError(
            f"EinsumDense: invalid equation {equation!r}. Write it as 'X,Y->Z', '...X,Y->...Z' or 'X...,Y->Z...' "
            "with letters only, e.g. 'ab,bc->ac' (a Dense layer) or 'abc,cd->abd'."
        )
    (in_spec, w_spec, out_spec), where = form[0].groups(), form[1]
    input_shape = list(input_shape)
    elided = len(input_shape) - len(in_spec)
    out_full: List[Any] = [input_shape[0]] + list(output_shape)
    if elided > 0 and where == "left":
        for i in range(1, elided):
            out_full.insert(1, input_shape[i])
    elif elided > 0:
        out_full.extend(input_shape[len(input_shape) - elided:])
    if where == "left":
        in_pos = {c: i + elided - len(input_shape) for i, c in enumerate(in_spec)}
        out_pos = {c: i + elided for i, c in enumerate(out_spec)}
    else:
        in_pos = {c: i for i, c in enumerate(in_spec)}
        out_pos = {c: i for i, c in enumerate(out_spec)}
    for c in in_spec:
        if c in out_pos and out_full[out_pos[c]] is not None and out_full[out_pos[c]] != input_shape[in_pos[c]]:
            raise ValueError(
                f"EinsumDense {equation!r}: the input and output_shape disagree on the shared axis {c!r}: the input "
                f"has {input_shape[in_pos[c]]}, output_shape asks for {out_full[out_pos[c]]}. Set that entry of "
                "output_shape to None or to the input's size."
            )
    for c in out_spec:
        if c not in in_spec and c not in w_spec:
            raise ValueError(
                f"EinsumDense {equation!r}: output axis {c!r} appears in neither the input spec {in_spec!r} nor "
                f"the kernel spec {w_spec!r}. Add it to one of them."
            )
    kernel_shape, in_axes, out_axes = [], [], []
    for i, c in enumerate(w_spec):
        if c in out_pos:
            kernel_shape.append(out_full[out_pos[c]])
            out_axes.append(i)
        elif c in in_pos:
            kernel_shape.append(input_shape[in_pos[c]])
            in_axes.append(i)
        else:
            raise ValueError(
                f"EinsumDense {equation!r}: kernel axis {c!r} is in neither the input spec {in_spec!r} nor the "
                f"output spec {out_spec!r}; every kernel axis must be sized by one of them."
            )
    bias_shape = None
    if bias_axes is not None:
        bad = [c for c in bias_axes if c not in out_spec]
        if bad:
            raise ValueError(
                f"EinsumDense {equation!r}: bias_axes={bias_axes!r} names {bad}, which are not output axes "
                f"({out_spec!r}). Use letters of the output spec."
            )
        shift = elided if where == "left" else 0
        sizes = {c: out_full[i + shift] for i, c in enumerate(out_spec)}
        first = min(out_spec.find(c) for c in bias_axes)
        bias_shape = [sizes[c] if c in bias_axes else 1 for c in out_spec[first:]]
        if where != "left":
            bias_shape.extend([1] * max(elided, 0))
    return kernel_shape, bias_shape, out_full, in_axes, out_axes


class EinsumDense(Layer):
    """A dense layer computing `activation(einsum(equation, inputs, kernel) + bias)`.

    The kernel's shape follows from the equation, the input shape and `output_shape`
    (Keras's layout, so `get_weights()` arrays load into Keras's EinsumDense and back).

    Args:
        equation: an einsum equation `'X,Y->Z'` (or with a leading / trailing `...` on the
            input and output), the input first and the kernel second, e.g. `'ab,bc->ac'`.
        output_shape: the output shape without the batch entry; None entries are taken
            from the input. An int means a 1-D output.
        activation: activation name or callable. Defaults to `None` (linear).
        bias_axes: the output letters the bias spans (e.g. `'c'`). Defaults to `None` (no bias).
        kernel_initializer: Defaults to `'glorot_uniform'` (fans over the kernel's input and
            output axes, as Keras).
        bias_initializer: Defaults to `'zeros'`.
        kernel_regularizer: Defaults to `None`.
        bias_regularizer: Defaults to `None`.
        kernel_constraint: Defaults to `None`.
        bias_constraint: Defaults to `None`.
        lora_rank: not supported; must stay `None`. Defaults to `None`.
        lora_alpha: not supported; must stay `None`. Defaults to `None`.
        gptq_unpacked_column_size: not supported; must stay `None`. Defaults to `None`.
        quantization_config: not supported; must stay `None`. Defaults to `None`.
        **kwargs: `name`, `dtype`, `trainable`, `activity_regularizer`, `input_shape`.

    Raises:
        ValueError: for an equation outside Keras's forms, bias axes that are not output
            axes, or an input shape that disagrees with `output_shape`.

    Example:
        >>> layer = EinsumDense("abc,cde->abde", output_shape=(None, 4, 8), bias_axes="de")
        >>> layer(torch.ones(2, 5, 16)).shape
        torch.Size([2, 5, 4, 8])
        >>> tuple(layer.kernel.shape)
        (16, 4, 8)
    """

    regularized_weights = (("kernel_regularizer", "kernel"), ("bias_regularizer", "bias"))
    _weights_made_by_build = ("kernel", "bias")

    def __init__(
        self,
        equation: str,
        output_shape: Any,
        activation: activations.ActivationLike = None,
        bias_axes: Optional[str] = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: Optional[int] = None,
        lora_alpha: Optional[float] = None,
        gptq_unpacked_column_size: Optional[int] = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ) -> None:
        reject_unsupported("EinsumDense", lora_rank=lora_rank, lora_alpha=lora_alpha,
                           quantization_config=quantization_config)
        if gptq_unpacked_column_size is not None:
            raise ValueError(
                f"EinsumDense: gptq_unpacked_column_size={gptq_unpacked_column_size!r} is not supported: kerasish "
                "does not quantize layers. Leave gptq_unpacked_column_size=None."
            )
        super().__init__(**kwargs)
        if not isinstance(equation, str) or "->" not in equation or "," not in equation:
            raise ValueError(
                f"EinsumDense: equation must be a string 'input,kernel->output' such as 'ab,bc->ac', received "
                f"equation={equation!r}."
            )
        if bias_axes is not None and not isinstance(bias_axes, str):
            raise ValueError(
                f"EinsumDense: bias_axes must be a string of output letters such as 'c', or None, received "
                f"bias_axes={bias_axes!r}."
            )
        self.equation = equation
        shape = (output_shape,) if isinstance(output_shape, int) else output_shape
        if isinstance(shape, bool) or not isinstance(shape, (list, tuple)) or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape):
            raise ValueError(
                f"EinsumDense: output_shape must be an int or a tuple of positive ints (None entries allowed), "
                f"received output_shape={output_shape!r}. Example: output_shape=(None, 64)."
            )
        self.partial_output_shape = tuple(shape)
        self.bias_axes = bias_axes
        self.activation_arg = activation
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._kernel_init_arg = kernel_initializer
        self._bias_init_arg = bias_initializer
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape: Shape) -> None:
        kernel_shape, bias_shape, _, in_axes, out_axes = analyze_equation(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        if any(d is None for d in kernel_shape):
            raise ValueError(
                f"EinsumDense {self.name!r}: the kernel shape {kernel_shape} has unknown sizes for input shape "
                f"{tuple(input_shape)}; give the contracted input axes a known size, or fill output_shape."
            )
        self.kernel = self.add_weight(shape=tuple(kernel_shape), initializer="zeros", name="kernel")
        _init_einsum_kernel(self.kernel.data, self.kernel_initializer, in_axes, out_axes)
        attach_constraint(self.kernel, self.kernel_constraint)
        if bias_shape is not None:
            self.bias = self.add_weight(shape=tuple(bias_shape), initializer=self.bias_initializer, name="bias")
            attach_constraint(self.bias, self.bias_constraint)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = torch.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            x = x + self.bias
        return self.activation(x) if self.activation_arg is not None else x

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(analyze_equation(self.equation, self.bias_axes, input_shape, self.partial_output_shape)[2])

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(
            output_shape=list(self.partial_output_shape),
            equation=self.equation,
            activation=activations.serialize(self.activation_arg) or "linear",
            bias_axes=self.bias_axes,
            kernel_initializer=initializers.serialize(self._kernel_init_arg),
            bias_initializer=initializers.serialize(self._bias_init_arg),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            activity_regularizer=regularizers.serialize(self.activity_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
            quantization_config=None,
        )
        return config


def _init_einsum_kernel(data: torch.Tensor, init: Any, in_axes: List[int], out_axes: List[int]) -> None:
    """Fills a kernel of any rank with fans taken over its input and output axes (Keras's rule).

    The initializer runs on a 2-D `(fan_out, fan_in)` tensor (torch's layout, which kerasish's
    initializers read fans from) that is then laid back into the kernel's axes.
    """
    if data.dim() < 2 or not in_axes or not out_axes:
        init(data)
        return
    order = out_axes + in_axes
    permuted_shape = [data.shape[i] for i in order]
    flat = torch.empty(math.prod(data.shape[i] for i in out_axes), math.prod(data.shape[i] for i in in_axes),
                       dtype=data.dtype, device=data.device)
    init(flat)
    inverse = [order.index(i) for i in range(data.dim())]
    with torch.no_grad():
        data.copy_(flat.reshape(permuted_shape).permute(inverse))
