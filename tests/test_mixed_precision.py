"""Mixed precision policies: training runs under autocast with float32 weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish import mixed_precision
from kerasish.layers import Dense
from kerasish.models import Sequential


@pytest.fixture(autouse=True)
def _reset_policy():
    yield
    mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_policy_trains_with_float32_weights(policy):
    mixed_precision.set_global_policy(policy)
    assert mixed_precision.global_policy().compute_dtype == policy.replace("mixed_", "")
    seen = {}
    model = Sequential([Dense(32, activation="relu", input_shape=(8,)), Dense(3, activation="softmax")])
    def record(module, inputs, output):
        seen.setdefault("dtype", output.dtype)

    model.layers[0].register_forward_hook(record)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 3))).argmax(1)
    h = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert seen["dtype"] == getattr(torch, policy.replace("mixed_", ""))  # computed in low precision
    assert model.layers[0].kernel.dtype == torch.float32  # stored in float32
    assert h.history["loss"][-1] < h.history["loss"][0]
    p = model.predict(x[:4], verbose=0)
    assert p.dtype == np.float32 and np.allclose(p.sum(1), 1.0, atol=1e-2)


def test_unknown_policy_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown dtype policy 'mixed_float61'.*mixed_bfloat16.*Did you mean 'mixed_float16'"):
        mixed_precision.set_global_policy("mixed_float61")
