"""Click parameter helpers shared by several subcommands."""

from __future__ import annotations

import click


def comma_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    """Turn ``a,b,c`` into ``("a", "b", "c")``; an empty string gives an empty tuple."""
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())
