"""The ``seq2exp`` command group.

Each subcommand lives in its own module and is imported only when it runs (or when its help
is shown), so ``seq2exp --help`` never imports torch. User errors (``Seq2ExpError``) end in
one line on stderr and exit code 1; ``--debug`` shows the traceback instead. Usage errors
(an unknown option, a missing argument, a value Click cannot parse) keep Click's exit code 2 but
are reported on one line too, without the usage dump. A full disk met anywhere is reported as
one line and exit code 1.
"""

from __future__ import annotations

import errno
import importlib
import sys

import click

from seq2exp_cli import __version__
from seq2exp_cli.errors import DiskFullError, Seq2ExpError
from seq2exp_cli.logs import configure_logging

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "show_default": True}

# name -> (module, function): the registry of subcommands, in the order help lists them.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": ("seq2exp_cli.cli.quickstart", "quickstart"),
    "prepare": ("seq2exp_cli.cli.prepare", "prepare"),
    "train": ("seq2exp_cli.cli.train", "train"),
    "predict": ("seq2exp_cli.cli.predict", "predict"),
    "call-elements": ("seq2exp_cli.cli.call_elements", "call_elements"),
    "simulate": ("seq2exp_cli.cli.simulate", "simulate"),
    "plot-locus": ("seq2exp_cli.cli.plot_locus", "plot_locus"),
}


class LazyGroup(click.Group):
    """A Click group that imports a subcommand's module only when it is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _) in SUBCOMMANDS.items() if _module_exists(module)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module_name, attr = SUBCOMMANDS[cmd_name]
        if not _module_exists(module_name):
            return None
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (Seq2ExpError, OSError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            if isinstance(exc, OSError):
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                exc = DiskFullError.from_oserror(exc)
            click.echo(f"Error: {_one_line(str(exc))}", err=True)
            ctx.exit(exc.exit_code)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's main, with usage errors on one line (exit code 2, as Click's)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else (prog_name or "seq2exp")
            click.echo(f"Error: {_one_line(exc.format_message())} (see `{where} --help`)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _one_line(message: str) -> str:
    """``message`` with its line breaks folded, so an error is always one stderr line."""
    return "; ".join(part.strip() for part in message.strip().splitlines() if part.strip())


def _module_exists(module_name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="seq2exp")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (debug messages).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, debug: bool) -> None:
    """seq2exp: predict gene expression from DNA, chromatin signals and Hi-C, and call
    the regulatory elements that drive it (Seq2Exp, Su et al., ICLR 2025).

    \b
    Typical run:
      seq2exp prepare --fasta hg38.fa --genes genes.gtf --expression expr.tsv \\
          --track dnase=dnase.bw --track h3k27ac=h3k27ac.bw --hic k562.hic -o data/
      seq2exp train data/ -o model/
      seq2exp predict model/ data/ -o predictions.tsv
      seq2exp call-elements model/ data/ -o elements.narrowPeak

    \b
    Exit codes: 0 done; 1 an input mistake, a full disk or a failed run; 2 a usage
    mistake (unknown option, missing argument, unparsable value). Either way one line
    on stderr (--debug: the traceback).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    configure_logging(verbose, quiet)
    from seq2exp_cli import cpu_allocator

    cpu_allocator.allow()  # a command owns its process: CPU steps reuse freed memory


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="seq2exp")
