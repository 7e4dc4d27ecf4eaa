"""The package's layout holds: rooms <= 500 lines, functions <= 80, no core module imports the
CLI, no import cycles (tools/check_layout.py, counted with ast)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "check_layout.py"


def _tool():
    spec = importlib.util.spec_from_file_location("check_layout", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_layout_has_no_violations():
    tool = _tool()
    assert tool.violations(tool.scan(), max_lines=500, max_function=80) == []


def test_layout_check_finds_a_cycle_and_a_core_import_of_the_shell(tmp_path):
    tool = _tool()
    package = tmp_path / "seq2exp_cli"
    (package / "cli").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli" / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from seq2exp_cli import b\n")
    (package / "b.py").write_text("from seq2exp_cli.a import x\n\n\ndef f():\n    from seq2exp_cli.cli import main\n")
    problems = tool.violations(tool.scan(package), max_lines=500, max_function=80)
    assert any("import cycle" in p and "seq2exp_cli.a" in p and "seq2exp_cli.b" in p for p in problems)
    assert any("core module imports the shell" in p for p in problems)
