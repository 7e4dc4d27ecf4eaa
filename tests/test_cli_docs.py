"""docs/cli.md is generated from the Click objects and must match them; --help stays torch-free."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import click
import pytest

import seq2exp_cli
from seq2exp_cli.cli import cli

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "tools" / "gen_cli_docs.py"
CLI_MD = REPO / "docs" / "cli.md"


def _load_generator():
    """tools/ is not a package: load the script as a module."""
    spec = importlib.util.spec_from_file_location("gen_cli_docs", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return _load_generator()


@pytest.fixture(scope="module")
def rendered(gen) -> str:
    return gen.render()


def _subcommands() -> list[str]:
    return cli.list_commands(click.Context(cli))


def test_cli_md_is_up_to_date(rendered):
    assert CLI_MD.is_file(), "docs/cli.md is missing; run: python tools/gen_cli_docs.py"
    assert CLI_MD.read_text() == rendered, "docs/cli.md is out of date; run: python tools/gen_cli_docs.py"


def test_render_ignores_the_terminal_width(gen, rendered, monkeypatch):
    monkeypatch.setenv("COLUMNS", "37")
    assert gen.render() == rendered


def test_every_command_and_option_is_documented(rendered):
    root = click.Context(cli)
    names = _subcommands()
    assert names, "the CLI lists no subcommands"
    for name in names:
        assert f"## `seq2exp {name}`" in rendered
        assert f"(#seq2exp-{name})" in rendered  # the contents table links to it
        command = cli.get_command(root, name)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for flag in param.opts:
                    assert f"`{flag}`" in rendered, f"{name}: option {flag} missing from docs/cli.md"
    for flag in ("-V", "--verbose", "--quiet", "--debug"):
        assert f"`{flag}`" in rendered


def test_check_mode_reports_stale_files(gen, tmp_path, capsys):
    target = tmp_path / "cli.md"
    target.write_text("# stale\n")
    assert gen.main(["--check", "-o", str(target)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert gen.main(["-o", str(target)]) == 0
    assert gen.main(["--check", "-o", str(target)]) == 0
    assert target.read_text() == gen.render()


def test_toy_group_rendering(gen):
    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    def toy():
        """Toy group."""

    @toy.command("do-it", epilog="Notes after the options.")
    @click.argument("inputs", nargs=-1, type=click.Path())
    @click.option("--mode", type=click.Choice(["a|b", "c"]), default="c", show_default=True,
                  help="Pick a|b or c.")
    @click.option("-n", "--count", type=click.IntRange(1, 9), default=3, help="How many.")
    @click.option("--out", required=True, help="Output.")
    @click.option("--tag", multiple=True, help="A tag.")
    @click.option("--secret", hidden=True)
    def do_it(inputs, mode, count, out, tag, secret):
        """Do it.

        \b
        keep   this
        layout exactly
        """

    text = gen.render(toy)
    assert "## `seq2exp do-it`" in text and "[`seq2exp do-it`](#seq2exp-do-it)" in text
    assert "| `INPUTS` | `PATH` | no | yes |" in text
    # a pipe inside a cell is escaped so the table keeps its columns
    assert "| `--mode` | `a\\|b` \\| `c` | `c` | Pick a\\|b or c. |" in text
    assert "| `-n`, `--count` | `INTEGER RANGE` | `3` | How many. Range: 1<=x<=9. |" in text
    assert "| `--out` | `TEXT` | required | Output. |" in text
    assert "A tag. (repeatable)" in text
    assert "--secret" not in text
    assert "keep   this\nlayout exactly" in text  # \b blocks are not re-wrapped
    assert "Notes after the options." in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120,
                          check=False)


def test_group_help_does_not_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import seq2exp_cli.cli as c\n"
        "result = CliRunner().invoke(c.cli, ['--help'], prog_name='seq2exp')\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'Commands:' in result.output\n"
        "print('torch' in sys.modules)\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "`seq2exp --help` imported torch"


def test_subcommand_help_does_not_import_torch(tmp_path):
    # DESIGN: heavy imports live inside each command, so every --help is instant
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import seq2exp_cli.cli as c\n"
        "bad = []\n"
        "for name in c.cli.list_commands(None):\n"
        "    result = CliRunner().invoke(c.cli, [name, '--help'], prog_name='seq2exp')\n"
        "    assert result.exit_code == 0, (name, result.output)\n"
        "    if 'torch' in sys.modules:\n"
        "        bad.append(name)\n"
        "        break\n"
        "print(','.join(bad) or 'none')\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none", f"`seq2exp {done.stdout.strip()} --help` imported torch"


def test_version_flag_prints_the_version(tmp_path):
    for flag in ("-V", "--version"):
        done = subprocess.run([sys.executable, "-m", "seq2exp_cli", flag], capture_output=True, text=True,
                              check=False,
                              cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"seq2exp, version {seq2exp_cli.__version__}"
