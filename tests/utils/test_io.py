import os
import stat

import pytest

from kerasish.utils.io import atomic_write


def test_writes_bytes_and_text(tmp_path):
    with atomic_write(tmp_path / "a.bin") as f:
        f.write(b"\x00\x01")
    with atomic_write(tmp_path / "b.txt", "w") as f:
        f.write("héllo\n")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo\n"
    mode = stat.S_IMODE(os.stat(tmp_path / "a.bin").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # like a plain open(), not mkstemp's 0600


def test_an_error_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target, "w") as f:
            f.write("new, half written")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_missing_folder_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"its folder '.*missing' does not exist\. Create it first "
                                                r"\(os\.makedirs"):
        with atomic_write(tmp_path / "missing" / "x.bin"):
            pass


def test_read_only_folder_is_explained(tmp_path, monkeypatch):
    # Simulated: the tests may run as root, which can write anywhere.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match=r"the folder '.*' is not writable by this process\. Change the "):
        with atomic_write(tmp_path / "x.bin"):
            pass
    assert os.listdir(tmp_path) == []


def test_bad_mode_raises(tmp_path):
    with pytest.raises(ValueError, match=r"mode must be 'wb' or 'w', received mode='a'\. Appending cannot be atomic"):
        with atomic_write(tmp_path / "x", "a"):
            pass
