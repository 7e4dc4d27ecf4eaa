"""Outputs appear whole or not at all: write under a temporary name, then rename.

The temporary lives in the same directory as the target, so the final ``os.replace`` is an
atomic rename on one filesystem.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from seq2exp_cli.errors import InputError, OutputExistsError


def check_output_free(path: str | os.PathLike, force: bool, flag: str = "--force") -> None:
    """Raise when ``path`` exists and ``force`` is false."""
    if Path(path).exists() and not force:
        raise OutputExistsError(f"{path}: output already exists; remove it or pass {flag} to overwrite")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_parent_writable(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise InputError(f"{path}: output directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{path}: output directory {parent} is not writable; choose another output path")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary is removed and ``path`` is left as it was.
    """
    path = Path(path)
    _check_parent_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; move it to ``path`` when complete.

    With ``force`` an existing ``path`` is replaced only after the new one is complete.
    """
    path = Path(path)
    check_output_free(path, force)
    _check_parent_writable(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old) if old.is_dir() else old.unlink()
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
