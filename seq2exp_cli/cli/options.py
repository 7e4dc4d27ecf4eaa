"""Click parameter helpers shared by several subcommands."""

from __future__ import annotations

import click


def comma_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    """Turn ``a,b,c`` into ``("a", "b", "c")``; an empty string gives an empty tuple."""
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


def command_line(ctx: click.Context) -> str:
    """The command as a re-runnable line, rebuilt from the parsed parameters.

    Built from what Click parsed (not ``sys.argv``), so it is right however the command was
    invoked (console script, ``python -m``, torchrun, a test runner). Defaults are left out.
    """
    import shlex

    words = ctx.command_path.split()
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value == param.default or value == () or value is False:
            continue
        if isinstance(param, click.Argument):
            words.append(str(value))
            continue
        flag = max(param.opts, key=len)
        if param.is_flag if isinstance(param, click.Option) else False:
            words.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                item = "=".join(map(str, item)) if isinstance(item, tuple) else item
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)
