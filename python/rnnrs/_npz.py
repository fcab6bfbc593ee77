"""Reading the ``.npz`` files rnnrs writes (checkpoints, saved estimators), safely.

`read_npz` never unpickles, never allocates more than an entry really holds
(an array's declared size is checked against the bytes stored for it before
anything is allocated), and turns every way a file can be broken (empty,
truncated, bit-flipped, not a zip, object arrays, missing entries) into one
`rnnrs.errors.FileFormatError` that names the file and what was expected.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from typing import Any, Iterable

import numpy as np
from numpy.lib import format as npy_format

from rnnrs.errors import FileFormatError

# What a broken file can raise while it is read (FileNotFoundError and
# PermissionError are left alone: they already name the file).
_BROKEN = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, struct.error, KeyError, UnicodeDecodeError,
           NotImplementedError, OverflowError, TypeError)


def _name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or f"<{type(source).__name__}>"


class NpzFile:
    """The arrays of one ``.npz`` file, read on demand; use as a context manager."""

    def __init__(self, source: Any, what: str):
        self.path = _name(source)
        self.what = what
        if isinstance(source, (bytes, bytearray)):
            source = io.BytesIO(source)
        try:
            self._zip = zipfile.ZipFile(source if not isinstance(source, os.PathLike) else os.fspath(source))
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            raise
        except _BROKEN + (OSError,) as exc:
            raise self.error(f"not a valid .npz file ({type(exc).__name__}: {exc})") from exc
        self.files = [n[: -len(".npy")] for n in self._zip.namelist() if n.endswith(".npy")]

    def error(self, message: str) -> FileFormatError:
        return FileFormatError(f"{message}; expected {self.what}", path=self.path)

    def __enter__(self) -> NpzFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._zip.close()

    def require(self, keys: Iterable[str], hint: str = "") -> None:
        """FileFormatError unless every key is present."""
        missing = [k for k in keys if k not in self.files]
        if missing:
            held = ", ".join(self.files[:8]) + (" ..." if len(self.files) > 8 else "")
            raise self.error(f"missing entries {missing} (it holds: {held or 'nothing'}){hint}")

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.files:
            self.require([key])
        name = key + ".npy"
        try:
            info = self._zip.getinfo(name)
            with self._zip.open(info) as f:
                version = npy_format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = npy_format.read_array_header_1_0(f)
                else:
                    shape, fortran, dtype = npy_format.read_array_header_2_0(f)
                if dtype.hasobject:
                    raise self.error(f"entry {key!r} holds Python objects (loading them would need pickle)")
                count = 1
                for d in shape:
                    count *= d
                nbytes = count * dtype.itemsize
                stored = info.file_size - f.tell()
                if nbytes != stored:
                    raise self.error(
                        f"entry {key!r} declares shape {shape} of {dtype} ({nbytes} bytes) but stores {stored} bytes"
                    )
                buf = bytearray(nbytes)
                if f.readinto(buf) != nbytes:
                    raise self.error(f"entry {key!r} is truncated")
            if dtype.itemsize == 0:
                return np.zeros(shape, dtype=dtype)
            arr = np.frombuffer(buf, dtype=dtype, count=count)
            return arr.reshape(shape, order="F" if fortran else "C")
        except FileFormatError:
            raise
        except _BROKEN + (OSError,) as exc:
            raise self.error(f"entry {key!r} is corrupt ({type(exc).__name__}: {exc})") from exc


def read_npz(source: Any, what: str) -> NpzFile:
    """Opens ``source`` (a path, bytes or a binary file object) as an ``.npz``
    holding ``what`` (used in error messages, e.g. "an ESN file (ESN.save)")."""
    return NpzFile(source, what)
