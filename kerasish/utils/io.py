"""atomic_write: the one way kerasish writes files.

A reader (or a process restarted after a crash) sees either the old file or the
complete new one, never a half-written file: the bytes go to a temporary file in
the target's folder, are flushed to disk, and `os.replace` swaps it in (an atomic
rename on POSIX and Windows when both names are on the same file system, which the
same folder guarantees).

A process killed mid-write (SIGKILL, power loss) cannot remove its temporary file. Each
temporary name therefore carries the writer's process id and host,
`.<name>.<pid>-<host>.<random>.tmp`, and the next write to the same target removes the
temporary files of that target whose writer on this host is no longer running
(`remove_stale_temp_files`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import socket
import tempfile
from typing import IO, Any, Iterator, List, Optional, Union

PathLike = Union[str, "os.PathLike[str]"]

_MODES = ("wb", "w")


def _check_folder(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"Cannot write {path!r}: its folder {folder!r} does not exist. Create it first "
            f"(os.makedirs({folder!r}, exist_ok=True)) or choose a path in an existing folder."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(
            f"Cannot write {path!r}: the folder {folder!r} is not writable by this process. "
            "Change the folder's permissions or choose a path in a writable folder."
        )
    return folder


@functools.lru_cache(maxsize=1)
def _host_tag() -> str:
    # Eight hex digits of the host name: temp files in a shared folder (NFS) written by a
    # process on another machine are never judged by this machine's process table.
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _temp_prefix(path: str) -> str:
    return "." + os.path.basename(path) + "."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    except OSError:
        return True  # cannot tell: keep its file
    return True


def stale_temp_files(path: PathLike) -> List[str]:
    """The temporary files of interrupted `atomic_write`s of `path` whose writer is gone.

    Only files named by `atomic_write` for this exact target, written on this host by a
    process that no longer runs, are listed; a write in progress (in this or another
    process) is never listed.

    Args:
        path: the target file of the writes.

    Returns:
        The full paths of the stale temporary files, sorted.
    """
    path = os.fspath(path)
    if os.name != "posix":
        return []  # liveness is checked with kill(pid, 0), which only POSIX offers safely
    folder = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(re.escape(_temp_prefix(path)) + r"(\d+)-" + _host_tag() + r"\.[A-Za-z0-9_]+\.tmp")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    stale = []
    for name in names:
        match = pattern.fullmatch(name)
        full = os.path.join(folder, name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))) \
                and not _locked(full):
            stale.append(full)
    return sorted(stale)


def _hold_lock(fd: int) -> Optional[int]:
    """A duplicate of `fd` holding an exclusive flock on the file (None where flock is missing)."""
    if os.name != "posix":
        return None
    import fcntl

    lock = os.dup(fd)
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def _locked(path: str) -> bool:
    """Whether a live `atomic_write` holds its lock on `path` (a writer in another PID namespace,
    e.g. a container sharing the folder and the hostname, looks dead to `kill(pid, 0)`)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True  # gone or unreadable: not ours to remove
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also releases the probe's lock
    return False


def remove_stale_temp_files(path: PathLike) -> List[str]:
    """Removes what killed writes of `path` left behind (see `stale_temp_files`).

    `atomic_write` calls it before each write; callers that own a folder (BackupAndRestore)
    call it before they delete the folder.

    Args:
        path: the target file of the writes.

    Returns:
        The paths removed.

    Example:
        >>> import tempfile
        >>> remove_stale_temp_files(os.path.join(tempfile.mkdtemp(), "model.kerasish"))
        []
    """
    removed = []
    for stale in stale_temp_files(path):
        with contextlib.suppress(FileNotFoundError):  # another process cleaned it first
            os.unlink(stale)
            removed.append(stale)
    return removed


def _default_file_mode() -> int:
    # mkstemp creates 0600 files; a plain open() would give 0666 minus the umask.
    # Reading the umask means setting it, so set it straight back.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder: str) -> None:
    # Makes the rename itself durable. Some file systems (and Windows) cannot open a
    # folder for fsync; the rename is still atomic there, only not yet flushed.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb", encoding: str = "utf-8") -> Iterator[IO[Any]]:
    """Opens a temporary file that replaces `path` only when the block ends without error.

    The temporary file sits in the same folder as `path` (so the final rename is
    atomic), is flushed and fsynced before `os.replace`, and is removed when the
    block raises, leaving any previous `path` untouched. Temporary files of `path` left
    by writers that were killed are removed first (`remove_stale_temp_files`).

    Args:
        path: the file to (re)write.
        mode: 'wb' for bytes or 'w' for text. Defaults to `'wb'`.
        encoding: text encoding for mode 'w'. Defaults to `'utf-8'`.

    Yields:
        The open temporary file.

    Raises:
        ValueError: if `mode` is not 'wb' or 'w'.
        FileNotFoundError: if the folder of `path` does not exist.
        PermissionError: if that folder is not writable.

    Example:
        >>> import tempfile, os
        >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
        >>> with atomic_write(target, "w") as f:
        ...     _ = f.write("hello")
        >>> open(target).read()
        'hello'
    """
    if mode not in _MODES:
        raise ValueError(
            f"atomic_write mode must be 'wb' or 'w', received mode={mode!r}. Appending cannot be atomic: "
            "read the old content and write the whole file instead."
        )
    path = os.fspath(path)
    folder = _check_folder(path)
    remove_stale_temp_files(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{_temp_prefix(path)}{os.getpid()}-{_host_tag()}.", suffix=".tmp")
    lock = _hold_lock(fd)  # released after the rename: the file is never seen unlocked while in use
    try:
        with os.fdopen(fd, mode, **({"encoding": encoding, "newline": ""} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        # Any failure (including KeyboardInterrupt) leaves the old file and no temp file.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        if lock is not None:
            os.close(lock)
    _fsync_folder(folder)
