"""Run records: plain JSON values from dataclasses and paths."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists and paths as strings, recursively (for ``json.dumps``)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def recorded_command(command: str | list[str] | tuple[str, ...] | None = None) -> str:
    """The command line a run's files record: ``command`` as given (the CLI passes the line it
    rebuilt from its parsed options; a list is joined with spaces), else the process's argv
    (a Python caller that gives none)."""
    if command:
        return command if isinstance(command, str) else " ".join(map(str, command))
    return " ".join(sys.argv)
