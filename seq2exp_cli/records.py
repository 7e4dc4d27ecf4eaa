"""Run records: plain JSON values from dataclasses and paths."""

from __future__ import annotations

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
