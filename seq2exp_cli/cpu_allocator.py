"""Keep freed tensor memory in the process on CPU (glibc ``mallopt``), for faster CPU training and inference.

Why: glibc serves every allocation above its mmap threshold (128 kB, rising to at most 32 MB)
with a fresh ``mmap`` and returns it to the kernel on ``free``. A CPU training step allocates
and frees the same large activations every step (the stem's per-bp detector outputs are
~60 MB per batch of 40-kb windows), so each step page-faults its whole working set anew. On the
quickstart's model that was a third of the step: 0.43 s -> 0.28 s per step on 2 cores, system
time from 0.22 s to 0 (``benchmarks/results/quickstart_small.md``). PyTorch's CPU guidance gets
the same effect by swapping in jemalloc or tcmalloc; this needs no extra library.

It only raises two glibc thresholds: allocations come from the heap and freed memory stays
there for the next step (at most ``KEEP_BYTES`` of free memory is kept at the top of the heap).
Nothing happens on other C libraries or when the user set either threshold in the environment.

The change holds for the rest of the process, so it is opt-in: the ``seq2exp`` commands and the
quickstart's training opt in (:func:`allow`); a notebook that calls ``fit`` or the Python API
keeps glibc's defaults unless it calls ``allow()`` first.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

#: glibc's mallopt parameter numbers (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: allocations below this come from the heap; free memory kept at the heap's top before trimming
KEEP_BYTES = 1 << 30
#: environment variables through which a user sets the same thresholds (left to them when set)
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

_applied: bool | None = None
_allowed = False


def allow(wanted: bool = True) -> None:
    """Let :func:`keep_freed_memory_on` tune this process's allocator (the CLI does, once)."""
    global _allowed
    _allowed = bool(wanted)


def allowed() -> bool:
    """Whether this process opted in (a spawned helper process carries it over)."""
    return _allowed


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds to ``KEEP_BYTES`` once per process.

    Returns True when the thresholds are (or were already) set here, False when left alone: not
    glibc, ``mallopt`` refused, or the user configured malloc through the environment."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if any(name in os.environ for name in USER_SETTINGS):
        log.debug("malloc thresholds left as configured in the environment")
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (macOS, musl without mallopt): nothing to tune
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _applied = bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
    log.debug("malloc thresholds raised to %d bytes: %s", KEEP_BYTES, _applied)
    return _applied


def keep_freed_memory_on(device) -> bool:
    """:func:`keep_freed_memory` when the process opted in (:func:`allow`) and ``device`` (a
    torch.device) is the CPU; False otherwise."""
    return _allowed and device.type == "cpu" and keep_freed_memory()
