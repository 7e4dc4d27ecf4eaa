"""Every module of the package imports cleanly with warnings turned into errors (a deprecated
call or a stray warning at import time fails here first), in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import importlib, pkgutil
import seq2exp_cli
names = [m.name for m in pkgutil.walk_packages(seq2exp_cli.__path__, "seq2exp_cli.")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_module_imports_under_warnings_as_errors():
    result = subprocess.run([sys.executable, "-W", "error", "-c", CODE], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) > 60
