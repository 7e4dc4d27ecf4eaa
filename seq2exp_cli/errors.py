"""Errors a user can cause. The CLI turns each into one line on stderr and exit code 1.

Messages name the file, the offending value and the fix, in one sentence.
"""

from __future__ import annotations


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
