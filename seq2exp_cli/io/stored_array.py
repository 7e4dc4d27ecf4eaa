"""Dataset arrays read and written with positional reads and writes (``pread``/``pwrite``),
never memory-mapped.

Why: a memory map keeps every page it has served in the process's resident set (as RssFile)
until it is unmapped, so a command that reads every gene's window (an epoch of training,
predict, call-elements) shows the whole dataset as resident memory, and prepare, which writes
it, shows more: peak RSS then grows with the genome (5 bytes per stored base and more).
Positional I/O goes through the page cache without mapping it, so resident memory stays what
the command itself holds; it is also safe across forked DataLoader workers (no shared file
position).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from seq2exp_cli.errors import InputError


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    data = os.pread(fd, view.nbytes, offset)  # no preadv (older macOS): one extra copy
    view[: len(data)] = data
    return len(data)


class StoredArray:
    """``length`` elements of ``dtype`` starting ``base`` elements into the file ``path``."""

    def __init__(self, path: str | os.PathLike, dtype: np.dtype | type, length: int, base: int = 0) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.length = int(length)
        self.base = int(base)
        self._fd: int | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return self.length

    def _handle(self) -> int:
        if self._pid != os.getpid():  # a forked worker opens its own descriptor
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def read_into(self, out: np.ndarray, start: int) -> None:
        """Fill the C-contiguous ``out`` with elements ``[start, start + out.size)``."""
        if out.dtype != self.dtype or not out.flags.c_contiguous:
            raise ValueError(f"read_into: need a C-contiguous {self.dtype} array, got {out.dtype}")
        if out.size == 0:
            return
        if start < 0 or start + out.size > self.length:
            raise IndexError(f"{self.path}: elements {start}..{start + out.size} outside 0..{self.length}")
        view = memoryview(out.reshape(-1).view(np.uint8))
        at = (self.base + start) * self.dtype.itemsize
        done = 0
        while done < view.nbytes:  # a regular file returns short only at its end
            got = _pread_into(self._handle(), view[done:], at + done)
            if got <= 0:
                raise InputError(f"{self.path}: file ends {view.nbytes - done} bytes early (truncated); "
                                 "re-run `seq2exp prepare` to rebuild the dataset")
            done += got

    def read(self, start: int, n: int) -> np.ndarray:
        """A new array of elements ``[start, start + n)``."""
        out = np.empty(n, self.dtype)
        self.read_into(out, start)
        return out

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = self._pid = None

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass


class StoredArrayWriter:
    """Writes a new array file of ``size`` elements with positional writes (``pwrite``), never
    through a memory map (whose dirty pages would count as resident memory until unmapped).

    The file's space is allocated up front (:func:`seq2exp_cli.io.atomic.reserve_file`: a full
    disk is an error before any work); ``close`` syncs it to disk."""

    def __init__(self, path: str | os.PathLike, dtype: np.dtype | type, size: int,
                 label: str | os.PathLike | None = None) -> None:
        from seq2exp_cli.io.atomic import reserve_file

        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.size = int(size)
        self.label = label or self.path
        reserve_file(self.path, self.size * self.dtype.itemsize, self.label)
        self._fd = os.open(self.path, os.O_RDWR)

    def write(self, start: int, values: np.ndarray) -> None:
        """Store ``values`` (cast to the file's dtype) at elements ``[start, start + values.size)``."""
        from seq2exp_cli.errors import DiskFullError
        from seq2exp_cli.io.atomic import is_space_error

        data = np.ascontiguousarray(values, dtype=self.dtype).reshape(-1)
        if start < 0 or start + data.size > self.size:
            raise IndexError(f"{self.path}: elements {start}..{start + data.size} outside 0..{self.size}")
        view = memoryview(data.view(np.uint8))
        at = start * self.dtype.itemsize
        done = 0
        try:
            while done < view.nbytes:
                done += os.pwrite(self._fd, view[done:], at + done)
        except OSError as exc:
            if is_space_error(exc):
                raise DiskFullError.from_oserror(exc, self.label, needed=view.nbytes - done) from exc
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # an error before close: release the descriptor (nothing to sync)
        if getattr(self, "_fd", None) is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def __enter__(self) -> StoredArrayWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
