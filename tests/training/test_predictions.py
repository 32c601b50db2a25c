"""predict holds its outputs once: one host array per output, filled batch by batch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import kerasish
from kerasish import layers
from kerasish.models import Model, Sequential
from kerasish.training.predictions import Predictions


def _mlp():
    return Sequential([layers.Input((6,)), layers.Dense(4, activation="relu"), layers.Dense(3)])


def test_outputs_equal_the_batches_concatenated_for_every_structure():
    x = np.random.default_rng(0).normal(size=(50, 6)).astype("float32")
    model = _mlp()
    expected = model(torch.from_numpy(x)).detach().numpy()
    out = model.predict(x, batch_size=16, verbose=0)
    assert out.dtype == np.float32 and out.shape == (50, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=16, steps=2, verbose=0), expected[:32], atol=1e-6)

    inp = layers.Input((6,))
    as_dict = Model(inp, {"a": layers.Dense(2)(inp), "b": layers.Dense(5)(inp)})
    got = as_dict.predict(x, batch_size=7, verbose=0)
    assert {k: v.shape for k, v in got.items()} == {"a": (50, 2), "b": (50, 5)}
    np.testing.assert_allclose(got["b"], as_dict(torch.from_numpy(x))["b"].detach().numpy(), atol=1e-6)
    as_list = Model(inp, [layers.Dense(1)(inp), layers.Dense(5)(inp)])
    got = as_list.predict(x, batch_size=7, verbose=0)
    assert isinstance(got, list) and [v.shape for v in got] == [(50, 1), (50, 5)]
    np.testing.assert_allclose(got[1], as_list(torch.from_numpy(x))[1].detach().numpy(), atol=1e-6)


def test_half_precision_outputs_arrive_as_float32():
    buf = Predictions(4, torch.device("cpu"))
    buf.add(torch.ones(2, 3, dtype=torch.bfloat16))
    buf.add(torch.full((2, 3), 2.0, dtype=torch.bfloat16))
    out = buf.result()
    assert out.dtype == np.float32 and out[2:].tolist() == [[2.0] * 3] * 2


def test_batches_that_are_not_one_row_per_sample_fall_back_to_concatenation():
    buf = Predictions(6, torch.device("cpu"))
    buf.add(torch.zeros(3, 2))
    buf.add(torch.ones(3, 4))  # another trailing shape: no longer fits the buffer
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        buf.result()  # the same error as concatenating the batches would give
    unknown = Predictions(None, torch.device("cpu"))
    for i in range(3):
        unknown.add(torch.full((2, 2), float(i)))
    assert unknown.result()[:, 0].tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="no batches"):
        Predictions(3, torch.device("cpu")).result()


def test_a_custom_predict_step_still_gets_its_outputs_concatenated():
    class Summed(Sequential):
        def predict_step(self, data):
            return self(data[0] if isinstance(data, tuple) else data).sum(-1, keepdim=True)

    model = Summed([layers.Input((6,)), layers.Dense(3)])
    x = np.ones((10, 6), "float32")
    assert model.predict(x, batch_size=4, verbose=0).shape == (10, 1)


def test_peak_memory_of_a_large_predict_is_about_one_copy_of_the_outputs():
    # A child process, so the peak RSS is this predict's alone: 40,000 x 1,000 float32 = 160 MB of
    # outputs; holding the batches and their concatenation would peak near 320 MB.
    code = textwrap.dedent("""
        import resource, numpy as np, torch
        from kerasish import layers
        from kerasish.models import Sequential
        torch.set_num_threads(1)
        model = Sequential([layers.Input((4,)), layers.Dense(1000)])
        x = np.ones((40000, 4), "float32")
        model.predict(x[:256], batch_size=256, verbose=0)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out = model.predict(x, batch_size=1000, verbose=0)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) / 1024, out.nbytes / 2**20)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    grown, size = map(float, res.stdout.split())
    assert size == pytest.approx(152.6, abs=0.1)
    assert grown < 1.3 * size, f"predict's peak grew by {grown:.0f} MB for {size:.0f} MB of outputs"
