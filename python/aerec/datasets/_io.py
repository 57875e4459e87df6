"""Turning the ways a data file can be unreadable into one ``ValueError`` that names the file."""

from __future__ import annotations

import contextlib
import gzip
import lzma
import zlib

#: What Python's decompressors and text decoding raise on a corrupt, truncated or mislabelled file.
_CORRUPT = (EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError)


@contextlib.contextmanager
def readable(path):
    """Re-raise a corrupt, truncated, wrongly compressed or non-UTF-8 file as ``ValueError`` naming
    ``path``. Missing files and permission problems stay ``OSError`` (they are not the content)."""
    try:
        yield
    except _CORRUPT as exc:
        raise ValueError(f"{path}: not a readable text file of records ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        # bz2 reports a bad stream as a bare OSError ("Invalid data stream")
        raise ValueError(f"{path}: not a readable text file of records ({exc})") from None
