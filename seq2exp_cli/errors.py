"""Errors a user can cause. The CLI turns each into one line on stderr and exit code 1.

Messages name the file, the offending value and the fix, in one sentence.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class Seq2ExpError(Exception):
    """Base class for every error seq2exp reports to the user without a traceback."""

    exit_code = 1


class InputError(Seq2ExpError):
    """An input file or value is missing, malformed or inconsistent with another input."""


class ChromosomeNameError(InputError):
    """Chromosome names of two inputs cannot be matched, even through aliases."""


class OutputExistsError(Seq2ExpError):
    """An output already exists and neither --force nor --resume was given."""


class ModelMismatchError(InputError):
    """A model and a dataset (or a checkpoint and this version) do not fit together."""


class TrainingError(Seq2ExpError):
    """Training cannot go on (for instance a non-finite loss)."""


class DiskFullError(Seq2ExpError):
    """The filesystem of an output ran out of space (or quota) while writing it."""

    @classmethod
    def from_oserror(cls, exc: OSError, path: object = None, needed: int | None = None,
                     written: int | None = None) -> DiskFullError:
        """One message naming the path, the bytes needed (when known) and the space free there."""
        import os
        import shutil

        where = path if path is not None else (exc.filename or "an output")
        free = None
        probe = os.path.dirname(os.path.abspath(str(where))) if where != "an output" else None
        while probe and not os.path.isdir(probe):
            probe = os.path.dirname(probe)
        if probe:
            free = shutil.disk_usage(probe).free
        if needed is not None:
            need = f"needs {needed:,} bytes"
        elif written:
            need = f"needs more than the {written:,} bytes written when it filled"
        else:
            need = "needs more space"
        have = f", {free:,} bytes free there" if free is not None else ""
        return cls(f"{where}: no space left on the device ({need}{have}); free space or write the "
                   "output to another filesystem (nothing partial was kept)")


@contextlib.contextmanager
def naming_flag(flag: str, path: object = None) -> Iterator[None]:
    """Make every :class:`InputError` raised inside name the option ``flag`` that gave the input.

    A message about the input (one that starts with its path) gets the flag in front
    (``--genes genes.gtf: ...``); other messages, and those that already name the flag, are left
    as they are.
    """
    try:
        yield
    except InputError as exc:
        message = str(exc)
        if flag not in message and message.startswith(str(path)):
            exc.args = (f"{flag} {message}",)
        raise
