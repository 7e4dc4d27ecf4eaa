"""Build docs/cli.md, the command-line reference, from the Click objects themselves.

The page cannot drift from the code: it is rendered from ``seq2exp_cli.cli.cli`` (the group and
every subcommand the group lists), and ``tests/test_cli_docs.py`` regenerates it and compares.

Usage::

    python tools/gen_cli_docs.py            # rewrite docs/cli.md
    python tools/gen_cli_docs.py --check    # exit 1 (and say so) when docs/cli.md is stale
    python tools/gen_cli_docs.py -o -       # print to stdout

The output is deterministic: help text is wrapped at a fixed width (not the terminal's), and
commands appear in the group's own order (``SUBCOMMANDS``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "docs" / "cli.md"
# help text is wrapped as if the terminal were this wide, whatever the real terminal is
WIDTH = 100
PROG = "seq2exp"
_UNSET = getattr(getattr(click, "_utils", None), "UNSET", object())


def _context(command: click.Command, name: str, parent: click.Context | None) -> click.Context:
    """A Click context with a fixed width, so wrapping never depends on the terminal."""
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    return click.Context(command, info_name=name, parent=parent, **settings)


def _formatter() -> click.HelpFormatter:
    return click.HelpFormatter(width=WIDTH, max_width=WIDTH)


def _cell(text: str) -> str:
    """Make ``text`` safe inside one Markdown table cell (pipes escaped, one line)."""
    return " ".join(text.split()).replace("|", "\\|")


def _usage(command: click.Command, ctx: click.Context) -> str:
    formatter = _formatter()
    command.format_usage(ctx, formatter)
    return formatter.getvalue().rstrip()


def _description(command: click.Command, ctx: click.Context) -> str:
    """The command's help text as Click prints it (paragraphs re-wrapped, ``\\b`` blocks kept)."""
    formatter = _formatter()
    command.format_help_text(ctx, formatter)
    return _dedent(formatter.getvalue())


def _epilog(command: click.Command, ctx: click.Context) -> str:
    formatter = _formatter()
    command.format_epilog(ctx, formatter)
    return _dedent(formatter.getvalue())


def _dedent(text: str) -> str:
    """Strip Click's two-space help indent and surrounding blank lines."""
    lines = [line.removeprefix("  ") for line in text.splitlines()]
    return "\n".join(lines).strip("\n")


def _type_name(param: click.Parameter, ctx: click.Context) -> str:
    """Human type: `FLOAT`, `INTEGER RANGE`, the choices, ``flag`` or ``counter`` (-vv)."""
    if isinstance(param, click.Option) and param.count:
        return "counter"
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    if isinstance(param.type, click.Choice):
        return " \\| ".join(f"`{_cell(str(c))}`" for c in param.type.choices)
    return f"`{param.type.get_metavar(param, ctx) or param.type.name.upper()}`"


def _default(param: click.Parameter, ctx: click.Context) -> str:
    """The default as ``--help`` would show it, or an empty cell."""
    if param.required:
        return "required"
    value = param.get_default(ctx, call=False)
    if value is _UNSET or type(value).__name__ == "Sentinel":  # Click >= 8.3 marks "no default"
        return ""
    if callable(value):
        return "(computed)"
    if value is None or value == () or value == []:
        return ""
    if isinstance(param, click.Option) and param.is_flag and not param.count:
        return "on" if value else ""
    if isinstance(value, (list, tuple)):
        return "`" + ", ".join(str(v) for v in value) + "`"
    return f"`{value}`"


def _options_table(command: click.Command, ctx: click.Context) -> list[str]:
    """Markdown rows for every option (including --help) and every argument."""
    arguments = [p for p in command.get_params(ctx) if isinstance(p, click.Argument)]
    options = [p for p in command.get_params(ctx) if isinstance(p, click.Option) and not p.hidden]
    lines: list[str] = []
    if arguments:
        lines += ["**Arguments**", "", "| argument | type | required | repeatable |", "|---|---|---|---|"]
        for arg in arguments:
            repeat = "yes" if arg.nargs == -1 or arg.multiple else ""
            lines.append(f"| `{arg.human_readable_name}` | {_type_name(arg, ctx)} | "
                         f"{'yes' if arg.required else 'no'} | {repeat} |")
        lines.append("")
    if options:
        lines += ["**Options**", "", "| option | type | default | description |", "|---|---|---|---|"]
        for opt in options:
            # short forms first (-h, --help), as --help prints them
            flags = sorted([*opt.opts, *opt.secondary_opts], key=lambda n: n.startswith("--"))
            names = ", ".join(f"`{n}`" for n in flags)
            help_text = opt.help or ""
            if opt.multiple:
                help_text += " (repeatable)"
            if isinstance(opt.type, click.types._NumberRangeBase) and not opt.count:
                help_text += f" Range: {opt.type._describe_range()}."
            default = _cell(_default(opt, ctx))
            lines.append(f"| {names} | {_type_name(opt, ctx)} | {default} | {_cell(help_text)} |")
        lines.append("")
    return lines


def _section(title: str, command: click.Command, ctx: click.Context, level: int) -> list[str]:
    anchor = "#" * level
    lines = [f"{anchor} `{title}`", "", "```text", _usage(command, ctx), "```", ""]
    description = _description(command, ctx)
    if description:
        lines += ["```text", description, "```", ""]
    lines += _options_table(command, ctx)
    epilog = _epilog(command, ctx)
    if epilog:
        lines += ["```text", epilog, "```", ""]
    return lines


def _anchor(title: str) -> str:
    """GitHub's heading anchor for ``seq2exp call-elements`` -> ``seq2exp-call-elements``."""
    return "".join(ch for ch in title.lower().replace(" ", "-") if ch.isalnum() or ch in "-_")


def render(group: click.Group | None = None) -> str:
    """Render the Markdown reference of ``group`` (default ``seq2exp_cli.cli.cli``).

    Returns:
        The page's text, ending in one newline; identical for identical code.
    """
    if group is None:
        from seq2exp_cli.cli import cli as group
    root = _context(group, PROG, None)
    names = group.list_commands(root)
    commands = [(name, group.get_command(root, name)) for name in names]
    commands = [(name, cmd) for name, cmd in commands if cmd is not None and not cmd.hidden]

    lines = [
        "# seq2exp command-line reference",
        "",
        "<!-- generated by tools/gen_cli_docs.py from the Click objects; do not edit by hand. -->",
        ("This page is generated from the code by `python tools/gen_cli_docs.py`; "
         "`tests/test_cli_docs.py` fails when it is out of date. `seq2exp COMMAND --help` prints "
         "the same text in a terminal."),
        "",
        "| command | summary |",
        "|---|---|",
        f"| [`{PROG}`](#{_anchor(PROG)}) | the command group: global options |",
    ]
    for name, cmd in commands:
        title = f"{PROG} {name}"
        lines.append(f"| [`{title}`](#{_anchor(title)}) | {_cell(cmd.get_short_help_str(limit=WIDTH))} |")
    lines.append("")
    lines += [
        ("Global options (`-v`, `-q`, `--debug`) go before the command name: "
         f"`{PROG} -v train DATA -o RUN`."),
        "",
    ]
    lines += _section(PROG, group, root, 2)
    for name, cmd in commands:
        ctx = _context(cmd, name, root)
        lines += _section(f"{PROG} {name}", cmd, ctx, 2)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or check) the reference; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT), help="output file, or - for stdout")
    parser.add_argument("--check", action="store_true", help="exit 1 when the output file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    output = Path(args.output)
    if args.check:
        current = output.read_text() if output.is_file() else ""
        if current != text:
            sys.stderr.write(f"{output} is out of date; run: python tools/gen_cli_docs.py\n")
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
