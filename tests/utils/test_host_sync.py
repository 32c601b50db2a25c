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


class _FakeMode:
    """torch's process-wide sync debug mode, on a machine without CUDA."""

    def __init__(self, monkeypatch, mode):
        self.mode = mode
        monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: self.mode)
        monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", self.set)

    def set(self, mode):
        self.mode = {"default": 0, "warn": 1, "error": 2}.get(mode, mode)


def test_the_mode_is_off_inside_and_back_after_a_raise(monkeypatch):
    fake = _FakeMode(monkeypatch, 2)
    with pytest.raises(KeyError):
        with labelled_sync("a read that fails"):
            assert fake.mode == 0
            raise KeyError("x")
    assert fake.mode == 2


def test_nested_and_overlapping_reads_restore_the_mode_once_the_last_ends(monkeypatch):
    fake = _FakeMode(monkeypatch, 2)
    outer, inner = labelled_sync("outer"), labelled_sync("inner")
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)  # another thread's read ending first
    assert fake.mode == 0, "a read still running must not see the mode set back"
    inner.__exit__(None, None, None)
    assert fake.mode == 2


def test_a_mode_set_inside_is_kept(monkeypatch):
    fake = _FakeMode(monkeypatch, 2)
    with labelled_sync("a read"):
        torch.cuda.set_sync_debug_mode("warn")
    assert fake.mode == 1
    fake.mode = 0
    with labelled_sync("with no mode set"):
        assert fake.mode == 0
    assert fake.mode == 0
