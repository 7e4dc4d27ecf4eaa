"""Check the package's layout with ``ast``: room sizes, function lengths, layering, import cycles.

    python tools/check_layout.py [--max-lines 500] [--max-function 80] [--report]

Rules (each violation is one line; exit 1 when there is any):
- no file under ``seq2exp_cli/`` longer than ``--max-lines`` lines;
- no function (or method) longer than ``--max-function`` lines from ``def`` to its end (docstring
  included; decorators, such as a command's Click options, are not);
- no module outside ``seq2exp_cli/cli/`` imports ``seq2exp_cli.cli`` (the shell sits on top);
- no import cycle between the package's modules, counting every import a module makes at its
  top level, under ``if TYPE_CHECKING:`` included (imports inside functions are lazy and load
  on use, so they may point upwards, but never into ``cli/`` from the core).
``--report`` prints the counts (files, the longest ones, functions over the limit) as well.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "seq2exp_cli"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


@dataclass
class ModuleInfo:
    name: str
    path: Path  # relative to the package's parent directory
    lines: int
    functions: list[tuple[str, int, int]] = field(default_factory=list)  # (qualname, first line, length)
    top_imports: set[str] = field(default_factory=set)  # imported package modules (top level)
    all_imports: set[str] = field(default_factory=set)  # including function-local imports


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module: str, node: ast.ImportFrom | ast.Import, known: set[str]) -> set[str]:
    """The package modules an import statement loads (``from a import b`` loads a.b if a module)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ""
    if node.level:
        package = module.split(".") if module in known and _is_package(module, known) else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    submodules = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known}
    # A module's own ancestor packages load before it; ``from <ancestor> import <submodule>``
    # depends on the submodule alone.
    ancestor = module.startswith(base + ".")
    names_only_submodules = len(submodules) == len(node.names)
    found = {base} if base in known and not (ancestor and names_only_submodules) else set()
    return found | submodules


def _is_package(module: str, known: set[str]) -> bool:
    return any(other.startswith(module + ".") for other in known)


def _functions(tree: ast.Module) -> list[tuple[str, int, int]]:
    found = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child.lineno, child.end_lineno - child.lineno + 1))
                walk(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                walk(child, prefix + child.name + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return found


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports executed (or type-checked) when the module loads: not those inside functions."""
    found = []

    def walk(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for block in ("body", "orelse", "finalbody", "handlers"):
                    for item in getattr(node, block, []):
                        walk(item.body if isinstance(item, ast.ExceptHandler) else [item])

    walk(tree.body)
    return found


def scan(root: Path = ROOT) -> dict[str, ModuleInfo]:
    paths = sorted(root.rglob("*.py"))
    known = {module_name(p, root) for p in paths}
    modules = {}
    for path in paths:
        name = module_name(path, root)
        text = path.read_text()
        tree = ast.parse(text, filename=str(path))
        info = ModuleInfo(name, path.relative_to(root.parent), len(text.splitlines()), _functions(tree))
        for node in _top_level_imports(tree):
            info.top_imports |= _resolve(name, node, known)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                info.all_imports |= _resolve(name, node, known)
        info.top_imports.discard(name)
        info.all_imports.discard(name)
        modules[name] = info
    return modules


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def _is_shell(name: str) -> bool:
    return name in (f"{PACKAGE}.cli", f"{PACKAGE}.__main__") or name.startswith(f"{PACKAGE}.cli.")


def violations(modules: dict[str, ModuleInfo], max_lines: int, max_function: int) -> list[str]:
    problems = []
    for info in modules.values():
        where = info.path
        if info.lines > max_lines:
            problems.append(f"{where}: {info.lines} lines (> {max_lines})")
        for qualname, first, length in info.functions:
            if length > max_function:
                problems.append(f"{where}:{first}: {qualname} is {length} lines (> {max_function})")
        if not _is_shell(info.name):
            for target in sorted(info.all_imports):
                if _is_shell(target):
                    problems.append(f"{where}: core module imports the shell {target}")
    graph = {name: info.top_imports for name, info in modules.items()}
    for cycle in find_cycles(graph):
        problems.append("import cycle: " + " <-> ".join(cycle))
    return problems


def report(modules: dict[str, ModuleInfo], max_lines: int, max_function: int) -> list[str]:
    lines = sorted(modules.values(), key=lambda m: -m.lines)
    functions = sorted(((length, f"{m.path}:{first} {q}")
                        for m in modules.values() for q, first, length in m.functions), reverse=True)
    return [
        f"{len(modules)} modules, {sum(m.lines for m in modules.values())} lines, "
        f"{sum(len(m.functions) for m in modules.values())} functions",
        f"files over {max_lines} lines: {sum(m.lines > max_lines for m in lines)}; longest: "
        + ", ".join(f"{m.path.as_posix()} {m.lines}" for m in lines[:5]),
        f"functions over {max_function} lines: {sum(n > max_function for n, _ in functions)}; longest: "
        + ", ".join(f"{where} {n}" for n, where in functions[:5]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-lines", type=int, default=500)
    parser.add_argument("--max-function", type=int, default=80)
    parser.add_argument("--report", action="store_true", help="print the counts as well")
    parser.add_argument("--root", type=Path, default=ROOT, help="the package directory (default: this checkout's)")
    args = parser.parse_args(argv)
    modules = scan(args.root.resolve())
    if args.report:
        print("\n".join(report(modules, args.max_lines, args.max_function)))
    problems = violations(modules, args.max_lines, args.max_function)
    print("\n".join(problems) if problems else "layout ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
