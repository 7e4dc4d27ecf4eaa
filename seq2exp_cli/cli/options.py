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
    invoked (console script, ``python -m``, torchrun, a test runner). Parameters left at their
    defaults are omitted.
    """
    import shlex

    from click.core import ParameterSource

    words = ctx.command_path.split()
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if ctx.get_parameter_source(param.name) in (ParameterSource.DEFAULT, None) or value is None:
            continue
        if isinstance(param, click.Argument):
            words.append(str(value))
            continue
        flag = max(param.opts, key=len)
        if isinstance(param, click.Option) and param.is_flag:
            if value:
                words.append(flag)
        elif isinstance(param, click.Option) and param.multiple:
            for item in value:
                words += [flag, "=".join(map(str, item)) if isinstance(item, tuple) else str(item)]
        elif isinstance(value, (list, tuple)):
            words += [flag, ",".join(map(str, value))]
        else:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)
