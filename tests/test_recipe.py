"""The Bioconda recipe agrees with the package: version, dependencies, entry point, test commands.

meta.yaml is a Jinja2 template (conda-build renders it with helpers such as ``pin_subpackage``);
here it is rendered with stand-ins for those helpers and parsed as YAML, then compared with
``pyproject.toml`` (the source of truth for dependencies) and the CLI's own command list.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import click
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

import seq2exp_cli
from seq2exp_cli.cli import SUBCOMMANDS, cli

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as a package
    tomllib = pytest.importorskip("tomli", reason="Python 3.10 needs tomli to read pyproject.toml")

jinja2 = pytest.importorskip("jinja2", reason="jinja2 not installed (pip install '.[test]')")
yaml = pytest.importorskip("yaml", reason="pyyaml not installed (pip install '.[test]')")

REPO = Path(__file__).resolve().parents[1]
META = REPO / "recipes" / "seq2exp" / "meta.yaml"
PYPROJECT = REPO / "pyproject.toml"

# PyPI name (canonical) -> conda-forge/bioconda name, where they differ
CONDA_NAMES = {"torch": "pytorch"}


def render_meta(path: Path = META) -> dict[str, Any]:
    """Render meta.yaml as conda-build would (with stand-in helpers) and parse the YAML."""
    def pin_subpackage(name: str, max_pin: str | None = None, exact: bool = False, **_: Any) -> str:
        return f"{name} {'exact' if exact else 'max_pin=' + str(max_pin)}"

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = env.from_string(path.read_text())
    text = template.render(
        PYTHON="$PYTHON", pin_subpackage=pin_subpackage, pin_compatible=pin_subpackage,
        compiler=lambda lang: f"{lang}-compiler", load_setup_py_data=dict, environ={},
    )
    return yaml.safe_load(text)


def read_pyproject(path: Path = PYPROJECT) -> dict[str, Any]:
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def parse_conda_spec(line: str) -> tuple[str, SpecifierSet]:
    """``"pybigwig >=0.3.22"`` -> (``pybigwig``, ``>=0.3.22``); conda's ``,`` is AND as in PEP 440."""
    parts = str(line).split(None, 1)
    spec = parts[1].replace(" ", "") if len(parts) > 1 else ""
    return parts[0].lower(), SpecifierSet(spec)


def conda_name(pypi_name: str) -> str:
    name = canonicalize_name(pypi_name)
    return CONDA_NAMES.get(name, name)


def dependency_problems(recipe: dict[str, Any], pyproject: dict[str, Any]) -> list[str]:
    """Differences between the recipe's run requirements and pyproject's dependencies (empty: agree)."""
    problems: list[str] = []
    expected: dict[str, SpecifierSet] = {}
    for dep in pyproject["project"]["dependencies"]:
        req = Requirement(dep)
        if req.marker is not None or req.extras:
            problems.append(f"pyproject dependency {dep!r} has markers/extras; map it by hand")
        expected[conda_name(req.name)] = req.specifier
    expected["python"] = SpecifierSet(pyproject["project"]["requires-python"])
    seen: dict[str, SpecifierSet] = {}
    for line in recipe["requirements"]["run"]:
        name, spec = parse_conda_spec(line)
        if name in seen:
            problems.append(f"run requirement {name} listed twice")
        seen[name] = spec
    for name in sorted(set(expected) - set(seen)):
        problems.append(f"missing from run requirements: {name} {expected[name]}")
    for name in sorted(set(seen) - set(expected)):
        problems.append(f"run requirement {name} is not a pyproject dependency")
    for name in sorted(set(seen) & set(expected)):
        if seen[name] != expected[name]:
            problems.append(f"{name}: recipe bound {seen[name] or '(none)'} != "
                            f"pyproject bound {expected[name] or '(none)'}")
    return problems


def command_problems(recipe: dict[str, Any], subcommands: list[str]) -> list[str]:
    """What the recipe's test section fails to cover (empty: covers it all)."""
    commands = [" ".join(str(c).split()) for c in recipe["test"]["commands"]]
    wanted = ["seq2exp --help", "seq2exp -V"] + [f"seq2exp {name} --help" for name in subcommands]
    problems = [f"test command missing: {w}" for w in wanted if w not in commands]
    for command in commands:
        match = re.fullmatch(r"seq2exp ([\w-]+) --help", command)
        if match and match.group(1) not in SUBCOMMANDS:
            problems.append(f"test command names an unknown subcommand: {command}")
    return problems


@pytest.fixture(scope="module")
def recipe() -> dict[str, Any]:
    return render_meta()


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return read_pyproject()


def _existing_subcommands() -> list[str]:
    return cli.list_commands(click.Context(cli))


def test_version_and_name_match_the_package(recipe, pyproject):
    assert recipe["package"]["name"] == pyproject["project"]["name"] == "seq2exp"
    assert str(recipe["package"]["version"]) == seq2exp_cli.__version__


def test_source_is_the_pypi_sdist_with_a_sha256(recipe):
    version = seq2exp_cli.__version__
    assert recipe["source"]["url"] == f"https://pypi.io/packages/source/s/seq2exp/seq2exp-{version}.tar.gz"
    assert re.fullmatch(r"[0-9a-f]{64}", str(recipe["source"]["sha256"]))


def test_build_section(recipe, pyproject):
    build = recipe["build"]
    assert build["noarch"] == "python"
    assert build["number"] == 0
    assert build["script"] == "$PYTHON -m pip install . --no-deps --no-build-isolation -vvv"
    scripts = [f"{k} = {v}" for k, v in pyproject["project"]["scripts"].items()]
    assert build["entry_points"] == scripts == ["seq2exp = seq2exp_cli.cli:main"]
    assert build["run_exports"] == ["seq2exp max_pin=x.x"]


def test_host_requirements(recipe, pyproject):
    host = {parse_conda_spec(line)[0]: parse_conda_spec(line)[1] for line in recipe["requirements"]["host"]}
    assert set(host) == {"python", "pip", "setuptools", "wheel"}
    assert host["python"] == SpecifierSet(pyproject["project"]["requires-python"])


def test_run_requirements_match_pyproject_one_to_one(recipe, pyproject):
    assert dependency_problems(recipe, pyproject) == []


def test_dependency_check_catches_drift(recipe, pyproject):
    # the comparison itself must notice each kind of drift
    dropped = copy.deepcopy(recipe)
    dropped["requirements"]["run"] = [r for r in dropped["requirements"]["run"] if not r.startswith("pysam")]
    assert dependency_problems(dropped, pyproject) == ["missing from run requirements: pysam >=0.22"]

    rebound = copy.deepcopy(recipe)
    rebound["requirements"]["run"] = [("pytorch >=2.0" if r.startswith("pytorch") else r)
                                      for r in rebound["requirements"]["run"]]
    assert dependency_problems(rebound, pyproject) == ["pytorch: recipe bound >=2.0 != pyproject bound >=2.1"]

    extra = copy.deepcopy(recipe)
    extra["requirements"]["run"].append("matplotlib >=3.7")
    assert dependency_problems(extra, pyproject) == [
        "run requirement matplotlib is not a pyproject dependency"]

    pypi_name = copy.deepcopy(recipe)
    pypi_name["requirements"]["run"] = [("torch >=2.1" if r.startswith("pytorch") else r)
                                        for r in pypi_name["requirements"]["run"]]
    assert sorted(dependency_problems(pypi_name, pyproject)) == [
        "missing from run requirements: pytorch >=2.1", "run requirement torch is not a pyproject dependency"]


def test_test_section_covers_every_command(recipe):
    assert set(recipe["test"]["imports"]) >= {"seq2exp_cli", "seq2exp_cli.cli"}
    subcommands = _existing_subcommands()
    assert subcommands, "the CLI lists no subcommands"
    assert command_problems(recipe, subcommands) == []
    # and the check notices a missing one
    trimmed = copy.deepcopy(recipe)
    trimmed["test"]["commands"] = [c for c in trimmed["test"]["commands"] if "train" not in c]
    assert command_problems(trimmed, subcommands) == ["test command missing: seq2exp train --help"]


def test_about_section(recipe, pyproject):
    about = recipe["about"]
    assert about["license"] == pyproject["project"]["license"] == "MIT"
    assert (REPO / about["license_file"]).is_file()
    assert (REPO / about["license_file"]).read_text().startswith("MIT License")
    assert about["home"] == pyproject["project"]["urls"]["Homepage"]
    assert about["doc_url"] == pyproject["project"]["urls"]["Documentation"]
    assert about["dev_url"].startswith("https://github.com/")
    assert about["summary"].strip() and about["description"].strip()
    assert recipe["extra"]["recipe-maintainers"]


def test_render_refuses_unknown_template_names(tmp_path):
    # StrictUndefined: a typo such as {{ verison }} must fail here, not render as empty
    bad = tmp_path / "meta.yaml"
    bad.write_text('{% set version = "1.0" %}\npackage:\n  version: {{ verison }}\n')
    with pytest.raises(jinja2.UndefinedError):
        render_meta(bad)
