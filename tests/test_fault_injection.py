"""Kills at random moments: a rerun still ends bitwise where an uninterrupted run ends, and no file is left over.

- Temporary files of an `atomic_write` whose process was killed are removed by the next
  write to the same target (and by BackupAndRestore when training starts and ends);
  those of live writers, of other targets and of other hosts are left alone.
- BackupAndRestore warns, naming the files, when its folder cannot be removed at the end.
- (slow) A child process fits with BackupAndRestore and is SIGKILLed after a random
  delay; the rerun to completion saves weights bitwise equal to an uninterrupted run's,
  ten trials each for arrays, a DataLoader with a seeded sampler and a generator.

Children come from a forkserver that imports kerasish once, so each trial costs a fork
rather than a fresh interpreter.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch
from safetensors.torch import load_file

from kerasish.utils import io as kio
from tests import resume_child

# torch._dynamo: torch.optim imports it on the first step, 4 s of a fresh child's 4.5 s.
PRELOAD = ["tests.resume_child", "kerasish", "kerasish.models", "kerasish.layers", "kerasish.callbacks",
           "kerasish.saving", "torch._dynamo"]


def _context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)  # only used if the server is not running yet
    return ctx


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _temp_name(target: str, pid: int, host: str = None) -> str:
    return f".{target}.{pid}-{host or kio._host_tag()}.abc123_x.tmp"


def _hang_in_write(path: str, ready: str) -> None:
    with kio.atomic_write(path) as f:
        f.write(b"x" * 1000)
        f.flush()
        open(ready, "w").close()
        time.sleep(60)


# --------------------------------------------------------------------- temporary files
def test_a_killed_write_leaves_a_temp_that_the_next_write_removes(tmp_path):
    target, ready = tmp_path / "model.kerasish", tmp_path / "ready"
    target.write_bytes(b"old")
    child = _context().Process(target=_hang_in_write, args=(str(target), str(ready)))
    child.start()
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    left = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(left) == 1 and left[0].startswith(f".model.kerasish.{child.pid}-")  # a live writer's: kept
    with kio.atomic_write(tmp_path / "other.bin") as f:
        f.write(b"y")
    assert (tmp_path / left[0]).exists()
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert kio.stale_temp_files(target) == [str(tmp_path / left[0])]
    assert target.read_bytes() == b"old"  # the killed write changed nothing

    with kio.atomic_write(target) as f:
        f.write(b"new")
    assert sorted(os.listdir(tmp_path)) == ["model.kerasish", "other.bin", "ready"]
    assert target.read_bytes() == b"new"


def test_only_stale_temps_of_that_target_on_this_host_are_removed(tmp_path):
    dead = _dead_pid()
    names = {
        "stale": _temp_name("a.bin", dead),
        "live_parent": _temp_name("a.bin", os.getppid()),
        "mine": _temp_name("a.bin", os.getpid()),
        "other_target": _temp_name("b.bin", dead),
        "other_host": _temp_name("a.bin", dead, host="0badc0de" if kio._host_tag() != "0badc0de" else "0badc0df"),
        "old_style": ".a.bin.k2j3h4g5.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    assert kio.remove_stale_temp_files(tmp_path / "a.bin") == [str(tmp_path / names["stale"])]
    left = set(os.listdir(tmp_path))
    assert left == {n for k, n in names.items() if k != "stale"}


def test_a_temp_whose_writer_looks_dead_but_holds_its_lock_is_kept(tmp_path):
    # A writer in another PID namespace (a container sharing the folder and the hostname) looks
    # dead to kill(pid, 0); the flock that atomic_write holds until its rename keeps its file.
    import fcntl

    held = tmp_path / _temp_name("a.bin", _dead_pid())
    held.write_bytes(b"partial")
    fd = os.open(held, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert kio.remove_stale_temp_files(tmp_path / "a.bin") == []
        assert held.exists()
    finally:
        os.close(fd)
    assert kio.remove_stale_temp_files(tmp_path / "a.bin") == [str(held)]


def test_backup_and_restore_removes_stale_temps_and_its_folder(tmp_path):
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    stale = backup_dir / _temp_name("training_backup.zip", _dead_pid())
    stale.write_bytes(b"half a backup")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about: the folder goes
        # (but Keras's run-out warning: 3 steps of a 10-batch pass leave an epoch of 1, as in Keras)
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        resume_child.fit("arrays", str(backup_dir))
    assert not backup_dir.exists()


def test_backup_folder_left_behind_is_named_in_a_warning(tmp_path):
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    (backup_dir / "notes.txt").write_text("mine")
    with pytest.warns(UserWarning, match=r"could not remove the folder '.*backup' \(Directory not empty\); it still "
                                         r"holds: notes.txt\. Files there that are not the backup's are left alone"):
        resume_child.fit("arrays", str(backup_dir))
    assert os.listdir(backup_dir) == ["notes.txt"]


def test_a_temp_whose_writer_lives_is_kept_and_named(tmp_path):
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    live = backup_dir / _temp_name("training_backup.zip", os.getppid())  # pytest's parent runs
    live.write_bytes(b"another process is writing")
    with pytest.warns(UserWarning, match=r"it still holds: " + live.name.replace(".", r"\.")):
        resume_child.fit("arrays", str(backup_dir))
    assert os.listdir(backup_dir) == [live.name]


# --------------------------------------------------------------------- kill -9 at random moments
def _weights(path):
    return load_file(path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["arrays", "loader", "generator"])
def test_sigkill_at_a_random_moment_then_rerun_equals_uninterrupted_bitwise(tmp_path, kind):
    ctx = _context()
    sleep = 0.02  # per batch: a run lasts about half a second, one backup every 60 ms

    def run(backup_dir, out, kill_after=None):
        child = ctx.Process(target=resume_child.run, args=(kind, str(backup_dir), str(out), sleep))
        start = time.monotonic()
        child.start()
        if kill_after is not None:
            time.sleep(kill_after)
            if child.is_alive():
                os.kill(child.pid, signal.SIGKILL)
        child.join()
        return child.exitcode, time.monotonic() - start

    code, _ = run(tmp_path / "ref_backup", tmp_path / "ref.safetensors")  # also starts the forkserver
    assert code == 0
    expected = _weights(tmp_path / "ref.safetensors")
    code, duration = run(tmp_path / "timed_backup", tmp_path / "timed.safetensors")  # how long one run lasts
    assert code == 0 and all(torch.equal(v, expected[k]) for k, v in _weights(tmp_path / "timed.safetensors").items())
    draw = random.Random(f"kill-{kind}")
    killed = resumed = 0
    for trial in range(10):
        backup_dir, out = tmp_path / f"backup{trial}", tmp_path / f"out{trial}.safetensors"
        code, _ = run(backup_dir, out, kill_after=draw.uniform(0.1, 0.95) * duration)
        killed += code == -signal.SIGKILL
        code, _ = run(backup_dir, out)
        assert code == 0
        got = _weights(out)
        assert got.keys() == expected.keys()
        for name in expected:
            assert torch.equal(got[name], expected[name]), f"trial {trial}: {name} differs after the resume"
        with open(str(out) + ".json") as f:
            resumed += json.load(f)["epochs"][0] > 0
        assert not backup_dir.exists(), f"trial {trial}: left {os.listdir(backup_dir)}"
    assert killed >= 3 and resumed >= 1, f"only {killed} kills, {resumed} resumes in 10 trials: the delays missed"
