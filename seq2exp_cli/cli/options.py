"""Click parameter helpers shared by several subcommands."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

log = logging.getLogger(__name__)

#: environment variables through which the OpenMP / MKL runtimes (torch's CPU kernels) and any
#: process this one starts read their thread count
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
THREADS_HELP = ("CPU threads for this command: torch's intra-op threads here and in the processes it "
                "starts (default: torch's own choice, usually every core).")


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


def use_threads(n: int) -> None:
    """Run torch's CPU kernels on ``n`` threads in this process and in any process it starts."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)  # read when torch loads, here or in a child process
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    log.debug("using %d CPU thread(s)", n)


def threads_option(expose: bool = False, default: int | None = None, extra_help: str = "") -> Callable[[Any], Any]:
    """The shared ``--threads N`` option: calls :func:`use_threads` when the user gives it.

    ``expose`` passes the value on to the command (as ``threads``; ``default`` when not given),
    for commands that also spread their own work over N threads."""

    def apply(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
        from click.core import ParameterSource

        if value is not None and ctx.get_parameter_source(param.name) != ParameterSource.DEFAULT:
            use_threads(value)
        return value

    return click.option("--threads", type=click.IntRange(min=1), default=default, expose_value=expose,
                        callback=apply, help=THREADS_HELP + extra_help)
