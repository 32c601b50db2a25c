"""ops.rearrange against keras.ops.rearrange."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kerasish import ops
from tests.ops.ops_parity import check_op

X = np.arange(2 * 6 * 4 * 3, dtype="float32").reshape(2, 6, 4, 3)


@pytest.mark.parametrize("pattern, lengths", [
    ("b h w c -> b c h w", {}),
    ("b h w c -> b (h w) c", {}),
    ("b h w c -> (b h) w c", {}),
    ("b (h p) w c -> b h p w c", {"p": 2}),
    ("b (h p) (w q) c -> b (h w) (p q c)", {"p": 3, "q": 2}),
    ("b h w c -> c w h b", {}),
])
def test_rearrange_matches_keras(pattern, lengths):
    check_op("rearrange", X, pattern, **lengths)


@pytest.mark.parametrize("pattern, lengths, match", [
    ("b h w c -> b h w", {}, "both sides of .* must name the same axes"),
    ("b h w -> b h w", {}, "describes 3 input axes, but the tensor has 4"),
    ("b (h p) w c -> b h p w c", {"p": 4}, "cannot split into"),
    ("b h w c", {}, "the pattern must have the form 'inputs -> outputs'"),
    ("b h w c -> b c h w", {"z": 2}, r"axes_lengths names \['z'\]"),
])
def test_rearrange_errors_name_the_problem(pattern, lengths, match):
    with pytest.raises(ValueError, match=match):
        ops.rearrange(torch.from_numpy(X), pattern, **lengths)
