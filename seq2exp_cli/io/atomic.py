"""Outputs appear whole or not at all: write under a temporary name, then rename.

Temporaries live in the same directory as their target, so the final ``os.replace`` is an
atomic rename on one filesystem. Their names say whose they are:
``.{target}.seq2exp-{host}-{pid}-{start}-{random}.{kind}`` (``start`` is the process's start
time, so a reused pid is not mistaken for the writer). A run killed with SIGKILL cannot remove
its temporaries; the next run writing the same target removes those whose process is gone
(:func:`remove_stale_temporaries`), and leaves the temporaries of a live run alone.

Permissions: files are created with mode 0666 and directories 0777 minus the umask, by the
kernel (no ``os.umask`` round trip, which would race with other threads).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from seq2exp_cli.errors import DiskFullError, InputError, OutputExistsError

log = logging.getLogger(__name__)

_MARK = ".seq2exp-"
_KINDS = ("tmp", "partial", "old")
_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def check_output_free(path: str | os.PathLike, force: bool, flag: str = "--force") -> None:
    """Raise when ``path`` exists and ``force`` is false."""
    if Path(path).exists() and not force:
        raise OutputExistsError(f"{path}: output already exists; remove it or pass {flag} to overwrite")


def is_space_error(exc: BaseException) -> bool:
    """True for "no space left on device" and "disk quota exceeded"."""
    return isinstance(exc, OSError) and exc.errno in _SPACE_ERRNOS


# ---------------------------------------------------------------------------------------------
# owner-named temporaries


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot ("0" where /proc is missing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[1].split()[19]


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def owner_tag() -> str:
    """``{host}-{pid}-{start}``: who writes this process's temporaries."""
    return f"{_host()}-{os.getpid()}-{_process_start(os.getpid())}"


def temporary_name(target: str, kind: str) -> str:
    """A fresh owner-named temporary name beside ``target`` (kind: tmp, partial, old, or another word)."""
    return f".{target}{_MARK}{owner_tag()}-{secrets.token_hex(4)}.{kind}"


def _owner_alive(host: str, pid: int, start: str) -> bool:
    if host != _host():
        return True  # another machine's (shared filesystem): never ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start == "0" or _process_start(pid) in (start, "0")


def _parse_owner(name: str, target: str | None) -> tuple[str, int, str] | None:
    """``(host, pid, start)`` of an owner-named temporary, or None for any other name."""
    if not name.startswith(".") or _MARK not in name:
        return None
    stem, _, kind = name.rpartition(".")
    base, _, owner = stem.rpartition(_MARK)
    if not kind or (target is not None and base != f".{target}"):
        return None
    parts = owner.rsplit("-", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1]), parts[2]


def remove_stale_temporaries(directory: str | os.PathLike, target: str | None = None) -> list[Path]:
    """Remove the owner-named temporaries in ``directory`` whose writer is gone.

    With ``target`` only those beside that output name; files and directories alike.
    """
    removed = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        owner = _parse_owner(entry.name, target)
        if owner is None or _owner_alive(*owner):
            continue
        _remove(entry)
        removed.append(entry)
    if removed:
        log.info("removed %d temporary file(s) left by killed runs in %s", len(removed), directory)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# files and directories


def check_parent_writable(path: str | os.PathLike) -> None:
    """Raise InputError when ``path``'s directory is missing or not writable."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{path}: output directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{path}: output directory {parent} is not writable; choose another output path")


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary is removed and ``path`` is left as it was; a full disk is
    raised as :class:`DiskFullError` naming ``path``.
    """
    path = Path(path)
    check_parent_writable(path)
    remove_stale_temporaries(path.parent, path.name)
    tmp_path = path.with_name(temporary_name(path.name, "tmp"))
    os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        if is_space_error(exc):
            raise DiskFullError.from_oserror(exc, path, written=_size(tmp_path)) from exc
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; move it to ``path`` when complete.

    With ``force`` an existing ``path`` is replaced only after the new one is complete (it is
    first renamed to an owner-named ``.old``, so concurrent runs never share a name). Stale
    temporaries of killed runs for the same ``path`` are removed first.
    """
    path = Path(path)
    check_output_free(path, force)
    check_parent_writable(path)
    remove_stale_temporaries(path.parent, path.name)
    tmp = path.with_name(temporary_name(path.name, "partial"))
    tmp.mkdir(0o777)
    try:
        yield tmp
        if path.exists():
            old = path.with_name(temporary_name(path.name, "old"))
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        if is_space_error(exc):
            raise DiskFullError.from_oserror(exc, path, written=_size(tmp)) from exc
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def reserve_file(path: str | os.PathLike, nbytes: int, label: str | os.PathLike | None = None) -> None:
    """Create ``path`` with ``nbytes`` allocated on disk (for a memmap written later).

    A memmap over a sparse file dies with SIGBUS when the disk fills; allocating first turns
    that into :class:`DiskFullError` naming ``label`` (default ``path``) and the bytes needed.
    """
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        if nbytes > 0:
            try:
                os.posix_fallocate(fd, 0, nbytes)
            except OSError as exc:
                if is_space_error(exc):
                    raise DiskFullError.from_oserror(exc, label or path, needed=nbytes) from exc
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                os.ftruncate(fd, nbytes)  # a filesystem without fallocate: sparse, as before
    finally:
        os.close(fd)


def check_free_space(directory: str | os.PathLike, needed: int, label: str | os.PathLike) -> None:
    """Raise :class:`DiskFullError` before any work when ``directory`` has under ``needed`` bytes free."""
    free = shutil.disk_usage(directory).free
    if needed > free:
        exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(label))
        raise DiskFullError.from_oserror(exc, label, needed=needed)
