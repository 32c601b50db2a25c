"""Reading zip archives from files that may be hostile: `.kerasish`, `.keras`, training backups.

`check_members` runs before any member is read: it refuses duplicated names (a reader would
pick one copy silently), names that point outside the archive (absolute, `..`, drive letters)
and members whose declared inflation ratio marks a zip bomb. `read_bounded` reads one member,
refusing it unread when its declared size passes the caller's limit for its role; zipfile then
stops at the declared size and checks the CRC. Errors come from the caller's `bad(why)`, so each
format words them for its own file.
"""

from __future__ import annotations

import zipfile
import zlib
from typing import Callable, Dict, Optional

MiB = 2 ** 20
#: Uncompressed / compressed size above which a member over 1 MiB is refused (real weights
#: deflate by ~1.1x, JSON by ~10x).
MAX_COMPRESSION_RATIO = 100

Bad = Callable[[str], Exception]


def check_members(zf: zipfile.ZipFile, bad: Bad) -> Dict[str, zipfile.ZipInfo]:
    """The archive's members by name, after the checks above (raises `bad(why)`)."""
    members: Dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = info.filename
        if name in members:
            raise bad(f"the member {name!r} appears twice (a reader would pick one copy silently); expected each "
                      "member once")
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise bad(f"the member name {name!r} points outside the archive (an absolute path or '..'); expected "
                      "plain names such as 'config.json'")
        if info.file_size > MiB and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise bad(f"the member {name!r} declares {info.file_size} bytes uncompressed from {info.compress_size} "
                      f"compressed, a ratio over {MAX_COMPRESSION_RATIO} (a zip bomb); expected the ratio of real "
                      "weights and JSON")
        members[name] = info
    return members


def read_bounded(zf: zipfile.ZipFile, name: str, bad: Bad, limit: Optional[int] = None,
                 missing_hint: str = "") -> bytes:
    """One member's bytes, refused unread when its declared size passes `limit`."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise bad(f"the member {name!r} is missing; it holds {zf.namelist()[:8]}{missing_hint}") from None
    if limit is not None and info.file_size > limit:
        raise bad(f"the member {name!r} declares {info.file_size} bytes, more than the {limit} its role allows")
    try:
        with zf.open(info) as f:
            return f.read(info.file_size)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as e:
        raise bad(f"the member {name!r} is damaged ({e})") from None
