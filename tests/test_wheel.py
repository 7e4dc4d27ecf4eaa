"""The PyPI artifacts: build an sdist and a wheel, ``twine check`` them, install the wheel into a
fresh virtual environment and run every command's ``--help`` from outside the source tree.

The venv reuses this interpreter's site-packages (``--system-site-packages``), so torch and the
other heavy dependencies are not downloaded; the wheel goes in with ``--no-deps`` and pip never
contacts an index (``PIP_NO_INDEX``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import click
import pytest

import seq2exp_cli
from seq2exp_cli.cli import cli

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# what a release build needs from the checkout; copied so the build never writes into the repo
# (build/, *.egg-info) and never races another build in the same checkout
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "seq2exp_cli")


def _require(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed ({install})")


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)
    command = " ".join(map(str, args))
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    """Build the sdist and the wheel once from a clean copy of the sources."""
    _require("build", "pip install '.[dev]'")
    tmp = tmp_path_factory.mktemp("release")
    src = tmp / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, src / name)
    dist = tmp / "dist"
    # --no-isolation: use the installed setuptools instead of downloading one; setuptools >= 70.1
    # builds wheels without the `wheel` package, so its absence is not an error here
    _run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--skip-dependency-check",
          "-o", str(dist), str(src)], cwd=tmp)
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    return {"tmp": tmp, "wheel": wheels[0], "sdist": sdists[0]}


def test_artifact_names_carry_the_version(artifacts):
    version = seq2exp_cli.__version__
    assert artifacts["wheel"].name == f"seq2exp-{version}-py3-none-any.whl"
    assert artifacts["sdist"].name == f"seq2exp-{version}.tar.gz"


def test_twine_check_passes(artifacts):
    _require("twine", "pip install '.[dev]'")
    out = _run([sys.executable, "-m", "twine", "check", "--strict", str(artifacts["wheel"]),
                str(artifacts["sdist"])], cwd=artifacts["tmp"])
    assert out.count("PASSED") == 2, out


def test_wheel_contents(artifacts):
    with zipfile.ZipFile(artifacts["wheel"]) as wheel:
        names = wheel.namelist()
        dist_info = f"seq2exp-{seq2exp_cli.__version__}.dist-info"
        metadata = wheel.read(f"{dist_info}/METADATA").decode()
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert "seq2exp_cli/__init__.py" in names and "seq2exp_cli/cli/__init__.py" in names
    assert f"{dist_info}/licenses/LICENSE" in names
    unwanted = [n for n in names if n.startswith("tests/") or "gpl" in n.lower()]
    assert not unwanted, f"tests or GPL files in the wheel: {unwanted}"
    assert f"Version: {seq2exp_cli.__version__}" in metadata
    assert "License-Expression: MIT" in metadata
    assert "seq2exp = seq2exp_cli.cli:main" in entry_points
    with tarfile.open(artifacts["sdist"]) as sdist:
        members = sdist.getnames()
    assert f"seq2exp-{seq2exp_cli.__version__}/LICENSE" in members
    assert not [n for n in members if "gpl" in n.lower()]


def test_installed_wheel_runs_every_help(artifacts, tmp_path):
    venv = artifacts["tmp"] / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)  # the source tree must not leak in
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(artifacts["wheel"])],
         cwd=tmp_path, env=env)
    # the venv's own copy is the one imported, not the checkout
    where = _run([str(python), "-c", "import seq2exp_cli; print(seq2exp_cli.__file__)"], cwd=tmp_path,
                 env=env)
    assert Path(where.strip()).resolve().is_relative_to(venv.resolve()), where
    exe = str(venv / "bin" / "seq2exp")
    assert _run([exe, "-V"], cwd=tmp_path, env=env).strip() == f"seq2exp, version {seq2exp_cli.__version__}"
    group_help = _run([exe, "--help"], cwd=tmp_path, env=env)
    names = cli.list_commands(click.Context(cli))
    assert names
    listed = group_help.split("Commands:", 1)[1]
    for name in names:
        assert f"  {name} " in listed, f"{name} missing from the installed `seq2exp --help`"
        out = _run([exe, name, "--help"], cwd=tmp_path, env=env)
        assert out.startswith(f"Usage: seq2exp {name} "), out[:200]
