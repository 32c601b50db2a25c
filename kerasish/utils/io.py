"""atomic_write: the one way kerasish writes files.

A reader (or a process restarted after a crash) sees either the old file or the
complete new one, never a half-written file: the bytes go to a temporary file in
the target's folder, are flushed to disk, and `os.replace` swaps it in (an atomic
rename on POSIX and Windows when both names are on the same file system, which the
same folder guarantees).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Any, Iterator, Union

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
    block raises, leaving any previous `path` untouched.

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
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
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
    _fsync_folder(folder)
