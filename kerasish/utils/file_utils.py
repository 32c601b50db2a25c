"""`get_file`: Keras's cached downloader, with resumable, verified transfers and safe extraction.

Every download in kerasish goes through `download` below (`get_file` and the dataset loaders
alike), so there is one transfer implementation:

- the bytes go to `<target>.part` next to the target; an interrupted transfer leaves that file,
  and the next call asks the server for the rest with an HTTP `Range` request (a server that
  answers with the whole file instead restarts it from zero);
- the finished file is checked against `file_hash` (MD5 or SHA-256) before it gets its final
  name through an atomic rename, so a corrupt transfer never sits under the target's name;
- a progress bar (tqdm) is drawn only when stderr is a terminal.

Archives are extracted into a hidden temporary folder next to the destination, then renamed
into place. Every member is checked first: absolute names, `..`, links that point outside the
destination and device files are refused with an error naming the member, before anything is
written.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
import zipfile
from pathlib import Path, PurePosixPath
from typing import List, Optional, Sequence, Union

from kerasish.utils.interactive_logging import print_msg

PathLike = Union[str, "os.PathLike[str]"]

HASH_ALGORITHMS = ("auto", "md5", "sha256")
ARCHIVE_FORMATS = ("tar", "zip")
_CHUNK = 1 << 16


class DownloadError(OSError):
    """A file could not be downloaded (no connection, HTTP error, transfer cut short).

    It subclasses `OSError`. The message names the URL, the underlying error and where the file
    can be put by hand so that `get_file` finds it without a connection.
    """


def kerasish_home() -> Path:
    """The folder `$KERASISH_HOME`, or `~/.kerasish` when the variable is unset or empty."""
    home = os.environ.get("KERASISH_HOME")
    return Path(home).expanduser() if home else Path.home() / ".kerasish"


def resolve_hasher(algorithm: str, file_hash: Optional[str] = None):
    """A hashlib object for `algorithm`; `'auto'` picks SHA-256 for a 64-digit hash, else MD5."""
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(
            f"Unknown hash algorithm. Received: hash_algorithm={algorithm!r}. Expected one of "
            f"{', '.join(map(repr, HASH_ALGORITHMS))}; 'auto' picks sha256 for a 64-character "
            "hash and md5 otherwise."
        )
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None and len(file_hash) == 64):
        return hashlib.sha256()
    return hashlib.md5()


def hash_file(fpath: PathLike, algorithm: str = "sha256", chunk_size: int = 65535) -> str:
    """The hex digest of a file's bytes.

    Args:
        fpath: the file. No default.
        algorithm: `'sha256'`, `'md5'`, `'auto'` (SHA-256 here, as there is no hash to look
            at), or a hashlib object. Defaults to `'sha256'`.
        chunk_size: bytes read at a time. Defaults to `65535`.

    Returns:
        The lower-case hex digest.

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "empty")
        >>> open(f, "wb").close()
        >>> hash_file(f, "md5")
        'd41d8cd98f00b204e9800998ecf8427e'
    """
    hasher = resolve_hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as f:
        while chunk := f.read(chunk_size):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath: PathLike, file_hash: str, algorithm: str = "auto", chunk_size: int = 65535) -> bool:
    """Whether a file's MD5 or SHA-256 digest equals `file_hash` (case-insensitive).

    Args:
        fpath: the file. No default.
        file_hash: the expected hex digest. No default.
        algorithm: `'auto'`, `'md5'` or `'sha256'`; `'auto'` picks SHA-256 for a 64-character
            hash and MD5 otherwise. Defaults to `'auto'`.
        chunk_size: bytes read at a time. Defaults to `65535`.

    Returns:
        `True` when the digests match.
    """
    hasher = resolve_hasher(algorithm, file_hash)
    return hash_file(fpath, hasher, chunk_size) == str(file_hash).lower()


def _progress(total: Optional[int], done: int, name: str):
    """A tqdm bar when stderr is a terminal and tqdm is installed, else None."""
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, desc=name)


def _fetch_error(origin: str, target: Path, error: BaseException, detail: str = "") -> DownloadError:
    return DownloadError(
        f"Cannot download {origin}: {type(error).__name__}: {error}.{detail} If you are offline "
        f"or the address is blocked, get the file another way and put it at {target} (the cache "
        "path); it is then used without a connection (pass file_hash= to have it checked)."
    )


def _open(origin: str, target: Path, offset: int):
    request = urllib.request.Request(origin, headers={"User-Agent": "kerasish"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the partial file is as long as the file, or longer
            return None
        raise _fetch_error(origin, target, e) from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise _fetch_error(origin, target, e) from e


def download(origin: str, target: PathLike, *, file_hash: Optional[str] = None,
             hash_algorithm: str = "auto") -> Path:
    """Downloads `origin` to `target` through `<target>.part`, resuming a previous partial file.

    Args:
        origin: the URL. No default.
        target: the final path; its folder must exist. No default.
        file_hash: the expected MD5 or SHA-256 hex digest, or `None` to skip the check.
            Defaults to `None`.
        hash_algorithm: `'auto'`, `'md5'` or `'sha256'`. Defaults to `'auto'`.

    Returns:
        `target`, as a `Path`.

    Raises:
        DownloadError: no connection, an HTTP error, or a transfer cut short (the partial file
            is kept, and the next call resumes it).
        ValueError: the bytes do not match `file_hash` (the partial file is removed).
    """
    target = Path(target)
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    response = _open(origin, target, offset)
    if response is None:  # 416: start again from zero
        part.unlink()
        offset = 0
        response = _open(origin, target, 0)
    with response:
        content_range = response.headers.get("Content-Range", "")
        if not (offset and response.status == 206 and content_range.startswith(f"bytes {offset}-")):
            offset = 0  # the server sent the whole file: restart it
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        received = offset
        bar = _progress(total, offset, target.name)
        try:
            with open(part, "ab" if offset else "wb") as f:
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as e:
            raise _fetch_error(origin, target, e, f" The {received} bytes received are kept in "
                               f"{part}; call again to resume.") from e
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received < total:
        raise DownloadError(
            f"The download of {origin} stopped after {received} of {total} bytes (the connection "
            f"was closed). The partial file {part} is kept: call again to resume the download, "
            f"or put the complete file at {target} by hand."
        )
    if file_hash is not None:
        hasher = resolve_hasher(hash_algorithm, file_hash)
        actual = hash_file(part, hasher)
        if actual != str(file_hash).lower():
            part.unlink()
            raise ValueError(
                f"Incomplete or corrupted file detected (checksum mismatch): the {hasher.name} of "
                f"the bytes downloaded from {origin} is {actual}, expected {str(file_hash).lower()}. "
                "The bad file was removed. Call again to download it anew; if the file changed "
                "on the server, pass its new file_hash."
            )
    os.replace(part, target)
    return target


def _bad_member(name: str, why: str, archive: PathLike) -> ValueError:
    return ValueError(
        f"Refusing to extract {str(archive)!r}: its member {name!r} {why}. Nothing was "
        "extracted. Only extract archives from sources you trust; extract this one by hand "
        "if you have checked it."
    )


def _inside(root: Path, relative: str) -> bool:
    resolved = os.path.realpath(os.path.join(root, relative))
    return os.path.commonpath([resolved, str(root)]) == str(root)


def _check_name(name: str, root: Path, archive: PathLike) -> None:
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        raise _bad_member(name, "has an absolute path", archive)
    if ".." in PurePosixPath(posix).parts:
        raise _bad_member(name, "has a '..' component that leads outside the destination", archive)
    if not _inside(root, posix):
        raise _bad_member(name, "resolves outside the destination", archive)


def _check_link(name: str, link: str, root: Path, archive: PathLike, hard: bool) -> None:
    base = "" if hard else os.path.dirname(name)
    if link.startswith("/") or not _inside(root, os.path.join(base, link)):
        raise _bad_member(name, f"is a link to {link!r}, outside the destination", archive)


def _check_tar(tar: tarfile.TarFile, root: Path, archive: PathLike) -> List[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        _check_name(m.name, root, archive)
        if m.issym() or m.islnk():
            _check_link(m.name, m.linkname, root, archive, hard=m.islnk())
        elif not (m.isfile() or m.isdir()):
            raise _bad_member(m.name, "is a device file or FIFO", archive)
    return members


def _check_zip(zf: zipfile.ZipFile, root: Path, archive: PathLike) -> None:
    for info in zf.infolist():
        _check_name(info.filename, root, archive)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):  # zipfile writes links as plain files; refuse hostile ones anyway
            _check_link(info.filename, zf.read(info).decode("utf-8", "replace"), root, archive, False)
        elif mode and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
            raise _bad_member(info.filename, "is a device file or FIFO", archive)


def _formats(archive_format) -> List[str]:
    if archive_format is None:
        return []
    formats = list(ARCHIVE_FORMATS) if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    unknown = [f for f in formats if f not in ARCHIVE_FORMATS]
    if unknown:
        raise ValueError(
            f"Unknown archive format {unknown[0]!r}. Received: archive_format={archive_format!r}. "
            "Expected 'auto', 'tar', 'zip', a list of those, or None (no extraction)."
        )
    return formats


def extract_archive(file_path: PathLike, path: PathLike = ".", archive_format="auto") -> bool:
    """Extracts a tar (plain, gz, bz2, xz) or zip archive into `path`, safely and atomically.

    The members are checked before anything is written, extracted into a hidden temporary folder
    next to `path`, and the folder is renamed to `path` (an existing `path` is replaced).

    Args:
        file_path: the archive. No default.
        path: the destination folder. Defaults to `'.'`.
        archive_format: `'auto'` (tar, then zip), `'tar'`, `'zip'`, a list of those, or `None`.
            Defaults to `'auto'`.

    Returns:
        `True` if the archive matched a format and was extracted, `False` otherwise.

    Raises:
        ValueError: an unknown `archive_format`, or a member with an absolute path, a `..`
            component, a link outside `path`, or a device file (named in the message).
    """
    formats = _formats(archive_format)
    dest = Path(os.path.abspath(os.path.expanduser(path)))
    for kind in formats:
        if not (tarfile.is_tarfile if kind == "tar" else zipfile.is_zipfile)(file_path):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        old = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.old")
        try:
            tmp.mkdir()
            root = Path(os.path.realpath(tmp))
            if kind == "tar":
                with tarfile.open(file_path, "r:*") as tar:
                    members = _check_tar(tar, root, file_path)
                    extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                    tar.extractall(tmp, members=members, **extra)
            else:
                with zipfile.ZipFile(file_path) as zf:
                    _check_zip(zf, root, file_path)
                    zf.extractall(tmp)
            if dest.exists():
                os.replace(dest, old)
            os.replace(tmp, dest)
        finally:
            for leftover in (tmp, old):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                elif leftover.exists() or leftover.is_symlink():
                    leftover.unlink()
        return True
    return False


def _cache_root(cache_dir: Optional[PathLike]) -> Path:
    base = kerasish_home() if cache_dir is None else Path(os.path.expanduser(cache_dir))
    probe = base
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if os.access(probe, os.W_OK):
        return base
    fallback = Path(tempfile.gettempdir()) / ".kerasish"
    warnings.warn(f"The cache folder {base} is not writable; using {fallback} instead. Pass "
                  "cache_dir= or set KERASISH_HOME to a writable folder.", stacklevel=3)
    return fallback


def get_file(fname: Optional[PathLike] = None, origin: Optional[str] = None, untar: bool = False,
             md5_hash: Optional[str] = None, file_hash: Optional[str] = None,
             cache_subdir: PathLike = "datasets", hash_algorithm: str = "auto",
             extract: bool = False, archive_format: Union[str, Sequence[str], None] = "auto",
             cache_dir: Optional[PathLike] = None, force_download: bool = False) -> str:
    """Downloads a file from a URL unless it is already in the cache, as `keras.utils.get_file`.

    The file lands in `<cache_dir>/<cache_subdir>/<fname>` (`cache_dir` defaults to
    `$KERASISH_HOME`, `~/.kerasish`). A cached file is used without a connection; when
    `file_hash` is given and the cached file does not match it, it is downloaded again. An
    interrupted download resumes on the next call.

    With `extract=True`, the archive is saved under a name of its own and unpacked into a
    folder, whose path is returned: for `fname='data.tar.gz'`, the archive is `data.tar.gz` and
    the folder `data_extracted`; for `fname='data'` (no dot) or no `fname`, the folder is
    `data` (or the URL's file name) and the archive `<that>_archive`.

    Args:
        fname: the local file name (no folders; use `cache_dir` for those), or `None` for the
            last part of `origin`'s path. Defaults to `None`.
        origin: the URL. No default (required).
        untar: deprecated alias of `extract=True, archive_format='tar'`. Defaults to `False`.
        md5_hash: deprecated alias of `file_hash=..., hash_algorithm='md5'`. Defaults to `None`.
        file_hash: the expected MD5 or SHA-256 hex digest. Defaults to `None` (no check).
        cache_subdir: subfolder of `cache_dir`; an absolute path is used as is. Defaults to
            `'datasets'`.
        hash_algorithm: `'auto'`, `'md5'` or `'sha256'`; `'auto'` picks SHA-256 for a
            64-character hash. Defaults to `'auto'`.
        extract: whether to unpack the archive (tar, tar.gz, tar.bz2, tar.xz, zip). Defaults to
            `False`.
        archive_format: `'auto'` (tar, then zip), `'tar'`, `'zip'`, a list, or `None`. Defaults
            to `'auto'`.
        cache_dir: the cache root. Defaults to `None` (`$KERASISH_HOME`, else `~/.kerasish`).
        force_download: download again even when the file is cached. Defaults to `False`.

    Returns:
        The path of the downloaded file, or of the extraction folder with `extract=True`.

    Raises:
        ValueError: no `origin`, a `fname` with folders, an unknown `hash_algorithm` or
            `archive_format`, a hash mismatch, or an unsafe archive member.
        DownloadError: (an `OSError`) no connection, an HTTP error or a cut transfer.

    Example:
        ```python
        path = kerasish.utils.get_file(
            origin="https://example.com/data.tar.gz", extract=True,
            file_hash="<sha256 of the archive>")
        ```
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download). '
                         "Received: origin=None.")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    resolve_hasher(hash_algorithm)
    formats = _formats("tar" if untar else archive_format)
    datadir = _cache_root(cache_dir) / cache_subdir
    given = fname is not None and os.fspath(fname) != ""
    name = os.fspath(fname) if given else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not name:
        raise ValueError(f"Cannot take a file name from origin={origin!r}: its path is empty. "
                         "Pass fname= with the local file name.")
    if os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"fname must be a file name, not a path. Received: fname={name!r}. "
                         "Pass the folder as cache_dir= (or cache_subdir=) and the name as fname=.")
    extraction_dir = None
    target = datadir / name
    if extract or untar:
        if given and "." in name:
            extraction_dir = datadir / f"{name[:name.find('.')]}_extracted"
        else:
            extraction_dir, target = datadir / name, datadir / f"{name}_archive"

    fresh = force_download or not target.exists()
    if not fresh and file_hash is not None and not validate_file(target, file_hash, hash_algorithm):
        print_msg(f"A local file was found at {target}, but its {hash_algorithm} hash does not match "
                  f"{file_hash}, so it is downloaded again.")
        fresh = True
    if fresh:
        datadir.mkdir(parents=True, exist_ok=True)
        if force_download:
            target.with_name(target.name + ".part").unlink(missing_ok=True)
        print_msg(f"Downloading data from {origin}")
        download(origin, target, file_hash=file_hash, hash_algorithm=hash_algorithm)

    if extraction_dir is None:
        return str(target)
    if (fresh or not extraction_dir.exists()) and not extract_archive(target, extraction_dir, formats):
        warnings.warn(f"Could not extract {target}: it is not a {' or '.join(formats) or 'known'} "
                      "archive. Check archive_format=, or use extract=False.", stacklevel=2)
    return str(extraction_dir)
