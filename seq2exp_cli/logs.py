"""The package's log output: one handler on the ``seq2exp_cli`` logger, writing to stderr.

The CLI sets it up once per command; Python callers (notebooks, benchmarks, a spawned process
that carries its parent's level) call :func:`configure_logging` themselves, or leave logging
to their own configuration.
"""

from __future__ import annotations

import logging
import sys


class _StderrHandler(logging.StreamHandler):
    """Logs to the *current* sys.stderr (Click's test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def configure_logging(verbose: int, quiet: bool) -> None:
    """INFO by default, DEBUG with -v, WARNING with -q; messages go to stderr."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO)
    logger = logging.getLogger("seq2exp_cli")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("[seq2exp] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    # propagation stays on: a plain CLI run has no root handlers (nothing is printed twice), and
    # test harnesses that listen on the root logger still see our records
