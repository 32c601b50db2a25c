"""Max pooling as ops that `torch.compile` cannot see into, so the compiled step runs aten's kernels.

Why: torch's decomposition of max pooling's backward, which inductor uses, is a scatter-add. On a
CPU inductor turns it into one loop that zeroes a gradient buffer the size of the pooling's input,
adds each output gradient into it through an index, and transposes the buffer back to the input's
layout. For the benchmarks' CNN (Fashion-MNIST, batch 128, Conv2D(32) then MaxPooling2D on
channels-last images) that kernel took 11.4 ms per step on one thread. The eager step spends about
3.5 ms on aten's `max_pool2d_with_indices_backward` plus the ReLU's backward. So the whole compiled
step was 1.22x the eager one. inductor has no setting that keeps aten's kernel for this op.

What: two `torch.library` custom ops linked by `register_autograd`: `kerasish::max_pool2d` runs
aten's `max_pool2d_with_indices`, and `kerasish::max_pool2d_backward` runs aten's
`max_pool2d_with_indices_backward`. inductor calls each one as an extern kernel, as it already does
for convolutions and matrix products, and still fuses the element-wise work around them. The
results are aten's, bit for bit, forward and gradients. NaNs and ties go where aten puts them. The
backward op has its own gradient (a gather, like aten's double backward), so higher-order gradients
work too. The backward gets only the input's shape and strides, not the input itself, so the
compiled step does not keep a copy of the input for it.

When: only while `torch.compile` traces a max pooling whose gradient is needed (`routes`, used by
`kerasish.layers.pooling`). Never while `torch.export` traces: an exported program must load
without kerasish. Eager calls keep `F.max_pool2d`, because a custom op's Python dispatch costs more
than the kernel for small inputs. A compiled forward without gradients (the test step) keeps
inductor's pooling: it has no backward to pay for, and it fuses with the activation before it.

Tried and measured slower on the same CNN: letting inductor generate the forward (fused with the
ReLU) with only the backward opaque. The int8 window offsets it saves have to be converted to
aten's indices, and that costs as much as the fusion saves. A gather backward written in torch ops
for inductor to fuse was also slower: its index arithmetic is not vectorised, and its fused
kernel took 8.7 ms.

The ops are registered when this module is first imported (a few milliseconds, no other work).
A torch without `torch.library.custom_op` or `torch.compiler.is_exporting` (before 2.4 or 2.5)
gets `routes` always False, and compiled pooling uses inductor's kernels there.
"""

# No `from __future__ import annotations`: torch.library reads the ops' schemas from real annotations.
from typing import List, Sequence, Tuple

import torch

_ONES = [1, 1]
_compiler = getattr(torch, "compiler", None)
AVAILABLE = hasattr(torch.library, "custom_op") and hasattr(_compiler, "is_exporting")


def routes(x: torch.Tensor) -> bool:
    """Whether a max pooling of `x` runs as the opaque op: traced by `torch.compile`, gradient needed.

    Never while `torch.export` traces: the exported program keeps torch's own pooling op.
    """
    return (AVAILABLE and _compiler.is_compiling() and not _compiler.is_exporting() and torch.is_grad_enabled()
            and x.requires_grad)


def _aten_backward(grad, indices, input_size, input_stride, kernel_size, stride, padding):
    # aten reads only the input's shape and strides (its memory format gives the gradient's), never
    # its values: an uninitialised tensor of that shape stands in for it.
    like = grad.new_empty_strided(input_size, input_stride)
    return torch.ops.aten.max_pool2d_with_indices_backward.default(
        grad, like, kernel_size, stride, padding, _ONES, False, indices)


if AVAILABLE:
    @torch.library.custom_op("kerasish::max_pool2d", mutates_args=())
    def _max_pool2d(
        x: torch.Tensor, kernel_size: List[int], stride: List[int], padding: List[int]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        out, indices = torch.ops.aten.max_pool2d_with_indices.default(x, kernel_size, stride, padding, _ONES, False)
        return out, indices

    @_max_pool2d.register_fake
    def _max_pool2d_fake(x, kernel_size, stride, padding):
        # aten's meta kernel gives the shapes and strides (channels-last in, channels-last out).
        return torch.ops.aten.max_pool2d_with_indices.default(x, kernel_size, stride, padding, _ONES, False)

    @torch.library.custom_op("kerasish::max_pool2d_backward", mutates_args=())
    def _max_pool2d_backward(
        grad: torch.Tensor, indices: torch.Tensor, input_size: List[int], input_stride: List[int],
        kernel_size: List[int], stride: List[int], padding: List[int],
    ) -> torch.Tensor:
        return _aten_backward(grad, indices, input_size, input_stride, kernel_size, stride, padding)

    @_max_pool2d_backward.register_fake
    def _max_pool2d_backward_fake(grad, indices, input_size, input_stride, kernel_size, stride, padding):
        return _aten_backward(grad, indices, input_size, input_stride, kernel_size, stride, padding)

    def _pool_setup(ctx, inputs, output):
        x, ctx.kernel_size, ctx.stride, ctx.padding = inputs
        ctx.input_size, ctx.input_stride = list(x.shape), list(x.stride())
        ctx.save_for_backward(output[1])

    def _pool_grad(ctx, grad, grad_indices):
        (indices,) = ctx.saved_tensors
        dx = _max_pool2d_backward(grad, indices, ctx.input_size, ctx.input_stride, ctx.kernel_size, ctx.stride,
                                  ctx.padding)
        return dx, None, None, None

    def _backward_setup(ctx, inputs, output):
        ctx.save_for_backward(inputs[1])

    def _backward_grad(ctx, grad_dx):
        # d(dx)/d(grad): each output position takes the value at the input position that won its
        # window, a gather over the flattened spatial axes (aten's double backward does the same).
        (indices,) = ctx.saved_tensors
        picked = grad_dx.flatten(2).gather(2, indices.flatten(2)).view(indices.shape)
        return picked, None, None, None, None, None, None

    _max_pool2d.register_autograd(_pool_grad, setup_context=_pool_setup)
    _max_pool2d_backward.register_autograd(_backward_grad, setup_context=_backward_setup)


def max_pool(x: torch.Tensor, pool_size: Sequence[int], strides: Sequence[int],
             padding: Sequence[int]) -> torch.Tensor:
    """Max pooling of a channels-first `(batch, channels, steps)` or `(batch, channels, h, w)` tensor.

    Gives the same numbers as `F.max_pool1d` / `F.max_pool2d` with the same arguments (dilation 1,
    no ceil mode). aten's kernels compute them inside one op that `torch.compile` does not trace
    into. A 1D pooling runs as a 2D one over a height of 1, which is how aten's 1D pooling with
    indices runs too.

    Args:
        x: the input, 3D or 4D, channels first, any memory layout.
        pool_size: the window, one int per spatial axis.
        strides: the step between windows, one int per spatial axis.
        padding: implicit `-inf` padding on both sides of each spatial axis, at most half the window.

    Returns:
        The pooled tensor, in the memory layout aten gives it (channels-last in, channels-last out).

    Raises:
        ValueError: if `x` is not 3D or 4D.
        RuntimeError: with a torch that lacks the custom-op API (check `routes` or `AVAILABLE` first).

    Example:
        >>> max_pool(torch.arange(8.0).view(1, 1, 8), [2], [2], [0])
        tensor([[[1., 3., 5., 7.]]])
    """
    if not AVAILABLE:
        raise RuntimeError(
            f"kerasish.ops.opaque.max_pool needs torch.library.custom_op and torch.compiler.is_exporting, "
            f"received torch {torch.__version__} without them. Call F.max_pool1d/F.max_pool2d instead, "
            f"or upgrade torch to 2.5 or later."
        )
    if x.ndim == 3:
        out, _ = _max_pool2d(x.unsqueeze(-2), [1, int(pool_size[0])], [1, int(strides[0])], [0, int(padding[0])])
        return out.squeeze(-2)
    if x.ndim != 4:
        raise ValueError(
            f"max_pool expects a 3D (batch, channels, steps) or 4D (batch, channels, height, width) tensor, "
            f"received shape {tuple(x.shape)}. Reshape the input to channels-first 1D or 2D layout."
        )
    out, _ = _max_pool2d(x, [int(v) for v in pool_size], [int(v) for v in strides], [int(v) for v in padding])
    return out
