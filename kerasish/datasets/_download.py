"""Where dataset files come from: an explicit folder, the cache, local data folders, then a download.

Every loader in `kerasish.datasets` asks `fetch` for a folder that holds its files. The places are
tried in this order, and the first that holds every file wins:

1. the `path=` the caller passed (the folder itself, then its known subfolders), and nothing else
   when it is given: a wrong `path` is an error, not a reason to download;
2. the cache folder `$KERASISH_HOME/datasets/<name>` (`KERASISH_HOME` defaults to `~/.kerasish`);
3. each folder of `KERASISH_DATA_PATH` (separated by `os.pathsep`), itself or a subfolder named
   after the dataset (`fashion-mnist`, `mnist`, `imdb`, torchvision's `FashionMNIST/raw` ...);
4. the system folders where distributions install the same files (`SYSTEM_DATA_DIRS`: Debian's
   `dataset-fashion-mnist` puts them under `/usr/share/datasets/fashion-mnist`), searched the same
   way, so recipes and notebooks run offline with no variable set;
5. a download into the cache through `kerasish.utils.file_utils.download` (the one downloader,
   also behind `kerasish.utils.get_file`): to `<file>.part` in the cache folder, checked against
   a known MD5 or SHA-256, and only then renamed into place. A corrupt download leaves nothing;
   a cut one leaves its `.part` file, which the next call resumes.

When all of that fails, one `DatasetUnavailableError` names the missing file, every place
searched, why the download failed, and how to provide the file.
"""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from kerasish.utils import file_utils
from kerasish.utils.file_utils import kerasish_home

PathLike = Union[str, "os.PathLike[str]"]

# Names under which each dataset's files are found inside a data folder. A folder that holds
# files directly but is named after *another* dataset is skipped, so that
# KERASISH_DATA_PATH=/usr/share/datasets/fashion-mnist never answers `mnist.load_data()`.
KNOWN_FOLDERS: Dict[str, Tuple[str, ...]] = {
    "mnist": ("mnist", "MNIST", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST", "FashionMNIST/raw"),
    "imdb": ("imdb", "aclImdb_v1"),
    "cifar10": ("cifar10", "cifar-10", "cifar-10-batches-py-target"),
    "cifar100": ("cifar100", "cifar-100", "cifar-100-python-target"),
    "boston_housing": ("boston_housing",),
    "california_housing": ("california_housing",),
    "reuters": ("reuters",),
}


class DatasetUnavailableError(OSError):
    """A dataset file is neither on disk nor downloadable (offline, HTTP error, bad checksum).

    It subclasses `OSError`, so `except OSError` catches it next to `FileNotFoundError`. The
    message names the missing file, every place searched, the download's URL and failure, and
    the ways to provide the file.
    """


def cache_dir(name: str) -> Path:
    """The cache folder of dataset `name`: `$KERASISH_HOME/datasets/<name>`."""
    return kerasish_home() / "datasets" / name


#: Folders distributions install datasets into (searched after KERASISH_DATA_PATH, checksums as ever).
SYSTEM_DATA_DIRS: Tuple[str, ...] = ("/usr/share/datasets", "/usr/local/share/datasets")


def data_path_entries() -> List[Path]:
    """The folders listed in `KERASISH_DATA_PATH` (os.pathsep-separated; empty parts ignored)."""
    raw = os.environ.get("KERASISH_DATA_PATH", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def mirrors(env_var: str, defaults: Sequence[str]) -> List[str]:
    """The download mirrors: the URL in `env_var` when set (tests, private mirrors), else `defaults`."""
    override = os.environ.get(env_var)
    return [override] if override else list(defaults)


def _candidates(name: str, root: Path, *, explicit: bool) -> List[Tuple[Path, str]]:
    """`root` itself, then its known subfolders, each with a reason to skip it ('' if none).

    A data-path folder named after another dataset is not searched directly (an explicit
    `path=` always is: the caller chose it).
    """
    owner = next((other for other, aliases in KNOWN_FOLDERS.items() if other != name
                  and root.name in {Path(a).parts[0] for a in aliases}), None)
    skip = "" if explicit or owner is None else f"skipped: named after dataset {owner!r}"
    return [(root, skip)] + [(root / alias, "") for alias in KNOWN_FOLDERS.get(name, ())]


def _holds(folder: Path, names: Sequence[str]) -> bool:
    return all((folder / n).exists() for n in names)


def find_local(name: str, options: Sequence[Sequence[str]], path: Optional[PathLike] = None,
               ) -> Tuple[Optional[Path], Optional[int], List[str]]:
    """Looks for a folder holding every name of one of `options`, without downloading.

    Args:
        name: the dataset's name (`'mnist'`, `'fashion-mnist'`, `'imdb'`). No default.
        options: lists of file or folder names; a place is good if it holds all names of any
            one list (earlier lists are preferred within a place). No default.
        path: an explicit folder; when given, only it (and its known subfolders) is searched.
            Defaults to `None`.

    Returns:
        `(folder, option_index, searched)`: the folder found (or `None`), which option it
        satisfied, and every folder looked at, in order (with the reason when skipped).
    """
    if path is not None:
        places = _candidates(name, Path(path).expanduser(), explicit=True)
    else:
        places = [(cache_dir(name), "")]
        entries = data_path_entries()
        entries += [Path(p) for p in SYSTEM_DATA_DIRS if Path(p) not in entries]
        for entry in entries:
            places += _candidates(name, entry, explicit=False)
    searched: List[str] = []
    for place, skip in places:
        searched.append(f"{place} ({skip})" if skip else str(place))
        if skip:
            continue
        for i, names in enumerate(options):
            if _holds(place, names):
                return place, i, searched
    return None, None, searched


def _split_checksum(checksum: str) -> Tuple[str, str]:
    """`'md5:abc'` / `'sha256:abc'` / a bare hex digest (length picks md5 or sha256)."""
    if ":" in checksum:
        algo, digest = checksum.split(":", 1)
    else:
        algo, digest = ("md5" if len(checksum) == 32 else "sha256"), checksum
    return algo.lower(), digest.lower()


def download(url: str, folder: Path, filename: str, checksum: str) -> Path:
    """Downloads `url` to `folder/filename` with `kerasish.utils.file_utils.download`.

    The one downloader of kerasish: the bytes go to `<filename>.part` in `folder`, are checked
    against `checksum`, and only then renamed into place. A transfer cut short keeps the
    `.part` file, and the next call resumes it with an HTTP Range request; a checksum mismatch
    removes it.

    Args:
        url: where to download from. No default.
        folder: the destination folder, created if missing. No default.
        filename: the final file name. No default.
        checksum: `'md5:<hex>'`, `'sha256:<hex>'` or a bare MD5/SHA-256 hex digest. No default.

    Returns:
        The path of the downloaded file.

    Raises:
        ValueError: when the downloaded bytes do not match `checksum`.
        DownloadError: (an `OSError`) from the transfer itself.
    """
    algo, expected = _split_checksum(checksum)
    folder.mkdir(parents=True, exist_ok=True)
    return file_utils.download(url, folder / filename, file_hash=expected, hash_algorithm=algo)


def fetch(name: str, files: Sequence[str], *, path: Optional[PathLike] = None, base_urls: Sequence[str],
          checksums: Mapping[str, str], alternatives: Sequence[Sequence[str]] = (),
          how_to_provide: str = "", remote_names: Optional[Mapping[str, str]] = None,
          ) -> Tuple[Path, Tuple[str, ...]]:
    """Returns a folder holding `files` (or one of `alternatives`), downloading if needed.

    Args:
        name: the dataset's name, also its cache subfolder. No default.
        files: the file names to provide; these are what gets downloaded. No default.
        path: an explicit folder, searched alone (no cache, no download). Defaults to `None`.
        base_urls: mirrors, tried in order; a file's URL is a mirror plus its name. No default.
        checksums: file name -> checksum (see `download`). No default.
        alternatives: other name lists accepted instead of `files` (e.g. an extracted folder),
            preferred over `files` within one place. Defaults to `()`.
        how_to_provide: an extra hint for the error message. Defaults to `''`.
        remote_names: file name -> name on the mirrors, for files saved under another name
            (Keras's `path="my.npz"`). Defaults to `None` (the same names).

    Returns:
        `(folder, names)`: the folder and the list of names it was found with.

    Raises:
        DatasetUnavailableError: nothing on disk and the download failed or did not verify.
    """
    options = [tuple(a) for a in alternatives] + [tuple(files)]
    folder, index, searched = find_local(name, options, path)
    if folder is not None:
        return folder, options[index]
    places = "\n".join(f"  - {p}" for p in searched)
    if path is not None:
        raise DatasetUnavailableError(
            f"Dataset {name!r}: {', '.join(files)} not found under path={str(path)!r}. "
            f"Looked in:\n{places}\nExpected a folder holding {', '.join(files)}. Pass the folder "
            "that holds them as path=, or leave path=None to use the cache, "
            "KERASISH_DATA_PATH and the download."
        )
    cache = cache_dir(name)
    # Folders this call creates, deepest first, removed again if the download fails.
    created = [p for p in (cache, cache.parent, cache.parent.parent) if not p.exists()]
    for filename in files:
        if (cache / filename).exists():
            continue
        failures = []
        for base in base_urls:
            url = base.rstrip("/") + "/" + (remote_names or {}).get(filename, filename)
            try:
                download(url, cache, filename, checksums[filename])
                break
            except (OSError, http.client.HTTPException, RuntimeError, ValueError) as e:
                failures.append(f"  - {url}: {type(e).__name__}: {e}")
        else:
            for folder in created:
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            hint = f" {how_to_provide}" if how_to_provide else ""
            tried = "\n".join(failures)
            raise DatasetUnavailableError(
                f"Dataset {name!r}: file {filename!r} is not available. Searched:\n{places}\n"
                f"and the download failed:\n{tried}\n"
                f"To provide it, put {', '.join(files)} in one of those folders: set "
                f"KERASISH_DATA_PATH to a folder holding them, or pass path=<folder>, or "
                f"copy them into {cache}.{hint}"
            )
    return cache, tuple(files)



def fetch_file(name: str, path: PathLike, remote_name: str, checksum: str, base_urls: Sequence[str]) -> Path:
    """The local path of a one-file dataset, for loaders whose `path=` is Keras's file name.

    As in Keras, a bare file name (the default, e.g. `'reuters.npz'`) names the file in the
    cache: it is looked for in the cache folder and in `KERASISH_DATA_PATH`, then downloaded
    from `remote_name` on the mirrors and saved under that name. A path with a folder part
    (`'./reuters.npz'`, `'/data/reuters'`) is local only: a file is used as is, a folder must
    hold `remote_name`.

    Raises:
        DatasetUnavailableError: nothing found and (for a bare name) the download failed.
    """
    text = os.fspath(path)
    if os.sep in text or (os.altsep and os.altsep in text) or os.path.isabs(text):
        local = Path(text).expanduser()
        if local.is_file():
            return local
        if local.is_dir():
            folder, _ = fetch(name, (remote_name,), path=local, base_urls=base_urls,
                              checksums={remote_name: checksum})
            return folder / remote_name
        raise DatasetUnavailableError(
            f"Dataset {name!r}: path={text!r} is neither a file nor a folder. Pass the path of "
            f"{remote_name!r} or of a folder holding it, or a bare file name (the default "
            f"{remote_name!r}) to use the cache, KERASISH_DATA_PATH and the download."
        )
    folder, _ = fetch(name, (text,), base_urls=base_urls, checksums={text: checksum},
                      remote_names={text: remote_name})
    return folder / text
