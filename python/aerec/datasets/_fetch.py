"""Download-once cache for the public MovieLens archives, with SHA-256 verification.

``fetch_movielens(name)`` downloads ``<name>.zip`` from GroupLens into ``data_home`` (default
``$AEREC_DATA_HOME`` or ``~/aerec_data``), verifies its SHA-256, unpacks it and returns the folder.
Later calls use the cache and verify the archive again. Offline, it fails with a message that says
where to put the file by hand.

Checksums: pass ``sha256=`` to pin one. The built-in table below has none pinned yet — they could
not be checked from the machine this was written on, which has no access to GroupLens — so on the
first download the archive's SHA-256 is recorded in ``<name>.zip.sha256`` beside it and every later
use is verified against that record (trust on first use). Pin the real values here once verified.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

BASE_URL = "https://files.grouplens.org/datasets/movielens/"

#: name → (archive file, SHA-256 or None when not pinned yet)
MOVIELENS = {
    "ml-100k": ("ml-100k.zip", None),
    "ml-1m": ("ml-1m.zip", None),
    "ml-10m": ("ml-10m.zip", None),
    "ml-20m": ("ml-20m.zip", None),
    "ml-25m": ("ml-25m.zip", None),
    "ml-latest-small": ("ml-latest-small.zip", None),
}


class ChecksumError(ValueError):
    """A downloaded or cached archive whose SHA-256 is not the expected one."""


def data_home(path=None) -> Path:
    """The cache folder: ``path``, else ``$AEREC_DATA_HOME``, else ``~/aerec_data`` (created)."""
    home = Path(path or os.environ.get("AEREC_DATA_HOME") or Path.home() / "aerec_data").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def _sha256(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _download(url, dest, timeout):
    """Stream ``url`` to ``dest`` through a temporary file, so an interrupted download never
    leaves a partial archive in the cache."""
    tmp = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=dest.name + ".", suffix=".part", delete=False)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, tmp:
            shutil.copyfileobj(resp, tmp, length=1 << 20)
        os.replace(tmp.name, dest)
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise


def fetch_movielens(name, data_home_path=None, *, sha256=None, base_url=BASE_URL, download_if_missing=True,
                    timeout=60.0):
    """Download (once) and unpack a MovieLens archive; return the folder holding its files.

    Parameters
    ----------
    name : {'ml-100k', 'ml-1m', 'ml-10m', 'ml-20m', 'ml-25m', 'ml-latest-small'}
    data_home_path : path, optional
        The cache folder (default ``$AEREC_DATA_HOME`` or ``~/aerec_data``).
    sha256 : str, optional
        The expected SHA-256 of the archive; overrides the built-in table and the first-use record.
    base_url : str
        Where the archives live (tests point it at a local server).
    download_if_missing : bool
        False: raise instead of downloading.

    Raises
    ------
    ChecksumError
        The archive does not have the expected SHA-256 (it is deleted, never unpacked).
    OSError
        Not cached and the download failed (offline): the message says where to put the file.
    """
    if name not in MOVIELENS:
        raise ValueError(f"unknown MovieLens dataset {name!r}; expected one of {sorted(MOVIELENS)}")
    filename, pinned = MOVIELENS[name]
    home = data_home(data_home_path)
    archive = home / filename
    record = home / (filename + ".sha256")
    expected = sha256 or pinned or (record.read_text().strip() if record.exists() else None)
    if not archive.exists():
        if not download_if_missing:
            raise OSError(f"{archive} is not in the cache and download_if_missing=False")
        url = base_url.rstrip("/") + "/" + filename
        try:
            _download(url, archive, timeout)
        except (urllib.error.URLError, OSError) as exc:
            raise OSError(f"could not download {url} ({exc}). If this machine is offline, download the file "
                          f"elsewhere and copy it to {archive}") from exc
    digest = _sha256(archive)
    if expected is not None and digest != expected.lower():
        archive.unlink()
        raise ChecksumError(f"{archive.name}: SHA-256 {digest} does not match the expected {expected}; the file "
                            "was removed (a corrupt or tampered download). Try again.")
    if expected is None:
        record.write_text(digest + "\n")  # trust on first use: later uses are checked against this
    target = home / name
    if not target.exists():
        staging = Path(tempfile.mkdtemp(dir=home, prefix=name + ".unpack."))
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():  # refuse paths that would escape the cache folder
                    dest = (staging / member).resolve()
                    if staging.resolve() not in dest.parents and dest != staging.resolve():
                        raise ChecksumError(f"{archive.name}: unsafe path {member!r} in the archive")
                zf.extractall(staging)
            inner = staging / name
            os.replace(inner if inner.is_dir() else staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
