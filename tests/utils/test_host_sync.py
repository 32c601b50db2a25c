"""kerasish.utils.host_sync: labelled reads are counted, and exempt from torch's sync debug mode."""

import pytest
import torch

from kerasish.utils.host_sync import labelled_count, labelled_sync


def test_labelled_reads_are_counted_and_start_no_cuda_context():
    initialised = torch.cuda.is_initialized()
    before = labelled_count()
    with labelled_sync("a test read"):
        assert torch.ones(()).item() == 1.0
    with labelled_sync("another"):
        pass
    assert labelled_count() - before == 2
    assert torch.cuda.is_initialized() == initialised  # a CPU-only program never creates one here


def test_an_error_inside_a_labelled_read_propagates():
    with pytest.raises(ZeroDivisionError):
        with labelled_sync("a read that fails"):
            1 / 0


@pytest.mark.gpu
def test_the_debug_mode_is_off_inside_and_restored_after():
    t = torch.ones((), device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with labelled_sync("a test read"):
            assert t.item() == 1.0
        assert torch.cuda.get_sync_debug_mode() == 2
        with pytest.raises(RuntimeError, match="synchroniz"):
            t.item()
    finally:
        torch.cuda.set_sync_debug_mode(0)


def test_a_read_of_a_host_tensor_is_not_counted():
    before = labelled_count()
    with labelled_sync("a host tensor", of=torch.ones(3)):
        pass
    assert labelled_count() == before
