"""Max pooling under torch.compile runs aten's kernels as opaque ops (kerasish/ops/opaque.py).

The results must be eager's exactly: forward values, gradients, second-order gradients, for
float32 and float64, 1D and 2D, 'valid' and 'same', strides, both data formats. The quick tests
compile with the 'aot_eager' backend (dynamo and AOTAutograd trace the custom ops' fake kernels and
autograd formulas as inductor sees them); the inductor ones are marked slow, as in
test_compiled_step.py. Whether the opaque ops ran is read from torch.profiler's op events.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

import kerasish
from kerasish import layers
from kerasish.models import Sequential
from kerasish.ops import opaque
from tests.keras_parity import assert_close, keras_module

pytestmark = pytest.mark.skipif(not opaque.AVAILABLE,
                                reason="the opaque ops need torch.library.custom_op and torch.compiler.is_exporting")

QUICK = {"backend": "aot_eager"}
EXACT = dict(rtol=0, atol=0, equal_nan=True)


def _ops_run(fn):
    """Runs `fn` under torch.profiler; returns (its result, the names of the kerasish:: ops that ran)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = fn()
    return result, {e.name for e in prof.events() if e.name.startswith("kerasish::")}


def _compiled(fn, **options):
    """`fn` under torch.compile (one graph), tracing any `torch.autograd.grad` in it as the whole train step does."""
    compiled = torch.compile(fn, fullgraph=True, **options)

    def call(*args):
        with torch._dynamo.config.patch(trace_autograd_ops=True):
            return compiled(*args)

    return call


def _input(shape, dtype, channels_last, seed=0):
    """A channels-first tensor with ties (values rounded to 0.5) and one NaN, optionally a channels-last view."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g, dtype=dtype) * 2).round() / 2
    x.view(-1)[3] = float("nan")
    if channels_last:  # the no-copy view of channels-last data that the layers pool
        x = x.movedim(1, -1).contiguous().movedim(-1, 1)
    return x


CASES = [  # (spatial shape, pool, strides, padding)
    ((9, 10), (2, 2), (2, 2), (0, 0)),
    ((9, 10), (3, 3), (1, 2), (1, 1)),  # overlapping windows, padded
    ((8, 7), (3, 2), (2, 1), (1, 0)),
    ((11,), (3,), (2,), (1,)),
    ((10,), (2,), (2,), (0,)),
]


# ----------------------------------------------------------------- the ops themselves (eager calls)
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("spatial, pool, strides, padding", CASES)
def test_opaque_max_pool_equals_torch_bit_for_bit(spatial, pool, strides, padding, dtype, channels_last):
    x = _input((2, 3) + spatial, dtype, channels_last and len(spatial) == 2).requires_grad_()
    torch_pool = F.max_pool2d if len(spatial) == 2 else F.max_pool1d
    want = torch_pool(x, pool, strides, padding)
    got = opaque.max_pool(x, pool, strides, padding)
    torch.testing.assert_close(got, want, **EXACT)
    assert got.stride() == want.stride()
    upstream = torch.randn(want.shape, dtype=dtype, generator=torch.Generator().manual_seed(1))
    (grad_want,) = torch.autograd.grad(want, x, upstream)
    (grad_got,) = torch.autograd.grad(got, x, upstream)
    torch.testing.assert_close(grad_got, grad_want, **EXACT)
    assert grad_got.stride() == grad_want.stride()


@pytest.mark.parametrize("pool, strides, padding", [((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 2), (1, 1))])
def test_second_order_gradients_equal_torch(pool, strides, padding):
    x = torch.randn(2, 3, 7, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    v = torch.randn(2, 3, 7, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def second_order(pool_fn):
        inp = x.clone().requires_grad_()
        out = pool_fn(inp, pool, strides, padding)
        (g,) = torch.autograd.grad(out.square().sum(), inp, create_graph=True)
        return torch.autograd.grad((g * v).sum(), inp)[0]

    torch.testing.assert_close(second_order(opaque.max_pool), second_order(F.max_pool2d), **EXACT)
    assert torch.autograd.gradgradcheck(
        lambda t: opaque.max_pool(t, pool, strides, padding), (x.clone().requires_grad_(),))


def test_max_pool_refuses_a_tensor_that_is_not_3d_or_4d():
    with pytest.raises(ValueError, match=r"3D .* or 4D .*received shape \(1, 1, 2, 2, 2\)"):
        opaque.max_pool(torch.ones(1, 1, 2, 2, 2), [2, 2, 2], [2, 2, 2], [0, 0, 0])


# ----------------------------------------------------------------- the layers under torch.compile
LAYERS = [
    lambda: layers.MaxPooling2D((2, 2)),
    lambda: layers.MaxPooling2D(3, strides=2, padding="same"),
    lambda: layers.MaxPooling2D((3, 2), strides=(1, 2), padding="same", data_format="channels_first"),
    lambda: layers.MaxPooling1D(3, strides=2, padding="same"),
    lambda: layers.MaxPooling1D(2, data_format="channels_first"),
]
LAYER_IDS = ["2d-valid", "2d-same-strides", "2d-same-channels_first", "1d-same-strides", "1d-valid-channels_first"]


def _layer_input(layer, dtype):
    rank, last = layer.rank, layer.data_format == "channels_last"
    shape = ((2, 9, 10, 3) if last else (2, 3, 9, 10)) if rank == 2 else ((2, 11, 3) if last else (2, 3, 11))
    return (torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(4)) * 2).round() / 2


def _forward(layer, x):
    return layer(x * 1.5)  # a pooling input that needs a gradient, as after a convolution


def _forward_and_grad(layer, x, weight):
    out = _forward(layer, x)
    return out.detach(), torch.autograd.grad((out * weight).sum(), x)[0]


def _compiled_forward_then_grad(layer, x, weight):
    # The forward compiled alone; AOTAutograd's compiled backward gives the gradient (the step's
    # fallback when the update cannot join the graph).
    out = _compiled(_forward, **QUICK)(layer, x)
    return out, torch.autograd.grad((out * weight).sum(), x)[0]


@pytest.mark.parametrize("grad", ["traced", "aot_backward"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("build", LAYERS, ids=LAYER_IDS)
def test_compiled_pooling_layers_route_to_aten_and_match_eager(build, dtype, grad):
    layer = build()
    x = _layer_input(layer, dtype).requires_grad_()
    weight = torch.randn(layer.compute_output_shape(tuple(x.shape)), dtype=dtype,
                         generator=torch.Generator().manual_seed(5))
    (want, want_grad), eager_ops = _ops_run(lambda: _forward_and_grad(layer, x, weight))
    torch._dynamo.reset()
    compiled = _compiled(_forward_and_grad, **QUICK) if grad == "traced" else _compiled_forward_then_grad
    (got, got_grad), compiled_ops = _ops_run(lambda: compiled(layer, x, weight))
    assert eager_ops == set()  # eager calls keep F.max_pool*d
    assert compiled_ops == {"kerasish::max_pool2d", "kerasish::max_pool2d_backward"}
    torch.testing.assert_close(got, want, **EXACT)
    torch.testing.assert_close(got_grad, want_grad, **EXACT)


def test_a_compiled_forward_without_gradients_keeps_the_compilers_pooling():
    layer = layers.MaxPooling2D()
    x = _layer_input(layer, torch.float32)
    torch._dynamo.reset()
    compiled = _compiled(lambda t: layer(t * 1.5), **QUICK)
    with torch.no_grad():
        got, ops = _ops_run(lambda: compiled(x))
    assert ops == set()
    torch.testing.assert_close(got, layer(x * 1.5), **EXACT)


def test_compiled_max_pooling_matches_keras():
    keras = keras_module()
    x = _layer_input(layers.MaxPooling2D(), torch.float32)
    for padding in ("valid", "same"):
        theirs = keras.layers.MaxPooling2D(3, strides=2, padding=padding)
        ours = layers.MaxPooling2D(3, strides=2, padding=padding)
        xk = x.clone().requires_grad_()
        want = theirs(xk * 1.5)  # as _forward feeds ours
        (want_grad,) = torch.autograd.grad(want.sum(), xk)
        torch._dynamo.reset()
        xo = x.clone().requires_grad_()
        got, got_grad = _compiled(_forward_and_grad, **QUICK)(ours, xo, torch.ones_like(want))
        assert_close(got, want, atol=0, rtol=0)
        assert_close(got_grad, want_grad, atol=0, rtol=0)


# ----------------------------------------------------------------- the whole compiled train step
X1 = np.random.default_rng(0).normal(size=(48, 12, 6)).astype("float32")
X2 = np.random.default_rng(1).normal(size=(48, 9, 9, 2)).astype("float32")
Y = np.random.default_rng(2).integers(0, 3, 48)


def _pooling_model(rank, data_format):
    if rank == 1:
        return Sequential([layers.Conv1D(4, 3, activation="relu", input_shape=(12, 6)),
                           layers.MaxPooling1D(3, strides=2, padding="same"),
                           layers.Flatten(), layers.Dense(3, activation="softmax")])
    shape = (9, 9, 2) if data_format == "channels_last" else (2, 9, 9)
    return Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=shape, data_format=data_format),
                       layers.MaxPooling2D(2, padding="same", data_format=data_format),
                       layers.Flatten(), layers.Dense(3, activation="softmax")])


def _fit(rank, data_format, jit):
    kerasish.utils.set_random_seed(0)
    model = _pooling_model(rank, data_format)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit)
    x = X1 if rank == 1 else (X2 if data_format == "channels_last" else X2.transpose(0, 3, 1, 2).copy())
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fall back to eager would warn: it must not
        history, ops = _ops_run(lambda: model.fit(x, Y, batch_size=16, epochs=2, shuffle=False, verbose=0).history)
    return model, history, ops


@pytest.mark.parametrize("jit", [QUICK, pytest.param(True, marks=pytest.mark.slow)], ids=["aot_eager", "inductor"])
@pytest.mark.parametrize("rank, data_format", [(1, "channels_last"), (2, "channels_last"), (2, "channels_first")])
def test_the_whole_compiled_step_pools_with_aten_and_trains_as_eager(rank, data_format, jit):
    eager, eager_history, eager_ops = _fit(rank, data_format, False)
    torch._dynamo.reset()
    compiled, compiled_history, compiled_ops = _fit(rank, data_format, jit)
    assert eager_ops == set()
    assert compiled_ops == {"kerasish::max_pool2d", "kerasish::max_pool2d_backward"}
    for key in eager_history:
        np.testing.assert_allclose(compiled_history[key], eager_history[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for a, b in zip(eager.get_weights(), compiled.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_inductor_keeps_aten_results_and_layouts(dtype):
    # relu -> pool -> grad on channels-last data, as in a CNN: inductor fuses the relu and its
    # backward around the two extern ops and must hand them the strides their fake kernels promised.
    layer = layers.MaxPooling2D(3, strides=2, padding="same")
    x = _layer_input(layer, dtype).requires_grad_()
    weight = torch.randn(layer.compute_output_shape(tuple(x.shape)), dtype=dtype,
                         generator=torch.Generator().manual_seed(6))

    def step(t):
        out = layer(torch.relu(t * 1.5))
        return out.detach(), torch.autograd.grad((out * weight).sum(), t)[0]

    want, want_grad = step(x)
    torch._dynamo.reset()
    (got, got_grad), ops = _ops_run(lambda: _compiled(step)(x))
    assert ops == {"kerasish::max_pool2d", "kerasish::max_pool2d_backward"}
    torch.testing.assert_close(got, want, **EXACT)
    torch.testing.assert_close(got_grad, want_grad, **EXACT)


def test_an_exported_model_keeps_torchs_pooling_op(tmp_path):
    # torch.export also traces with dynamo's machinery and with gradients on: the program must load
    # without kerasish, so it holds aten's max pooling, not kerasish::max_pool2d.
    from kerasish.export import export_model

    model = Sequential([layers.Conv2D(2, 3, activation="relu", input_shape=(8, 8, 1)), layers.MaxPooling2D(),
                        layers.Flatten(), layers.Dense(2)])
    export_model(model, tmp_path / "model.pt2", format="torch_export")
    program = torch.export.load(str(tmp_path / "model.pt2"))
    targets = [str(node.target) for node in program.graph.nodes if node.op == "call_function"]
    assert not [t for t in targets if t.startswith("kerasish")]
    assert "aten.max_pool2d.default" in targets
    x = torch.randn(2, 8, 8, 1)
    torch.testing.assert_close(program.module()(x), model(x), rtol=1e-6, atol=1e-6)
