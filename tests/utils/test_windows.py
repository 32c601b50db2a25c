"""kerasish.utils.windows gives scipy.signal.get_window's values: torch's windows equal scipy's, other
names go to scipy, and unknown names are refused with the names that work."""

from __future__ import annotations

import numpy as np
import pytest

from kerasish.utils.windows import window_values


@pytest.mark.parametrize("name", ["hann", "hamming", "blackman", "bartlett"])
@pytest.mark.parametrize("periodic", [False, True])
def test_torch_windows_equal_scipys(name, periodic):
    signal = pytest.importorskip("scipy.signal")
    for length in (1, 2, 7, 64, 255):
        got = window_values(name, length, periodic)
        assert got.dtype.is_floating_point and got.dtype.itemsize == 8 and tuple(got.shape) == (length,)
        np.testing.assert_allclose(got.numpy(), signal.get_window(name, length, periodic), atol=1e-15)


def test_other_names_come_from_scipy_and_unknown_ones_are_refused():
    signal = pytest.importorskip("scipy.signal")
    np.testing.assert_array_equal(window_values("cosine", 16, True).numpy(), signal.get_window("cosine", 16, True))
    with pytest.raises(ValueError, match=r"Unknown window type: received window='kaiser' \(.*parameters.*\)\. "
                                         r"Pass a name scipy.signal.get_window accepts without parameters"):
        window_values("kaiser", 16)
    with pytest.raises(ValueError, match=r"Unknown window type: received window='no-such-window'"):
        window_values("no-such-window", 16)
