"""The package's structure holds: imports run one way (no cycle, no import of a higher layer, the
phases never import each other, ``demo/`` only through ``sdrrl_ray.assets``), no module over 400
lines outside ``sdrrl_ray/demo/``, and benchmarks and tests use the package's public names only.

Every import counts wherever it is: at the top, inside functions, under ``TYPE_CHECKING``, and
``importlib.import_module`` / ``__import__`` with a literal module name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sdrrl_ray"
MAX_LINES = 400

# lowest first; a module may import its own layer's modules (the phases excepted) and lower layers only
LAYERS = [
    {"errors", "languages", "seeding", "schema", "storage", "provenance", "prompts", "execution_stats",
     "generation_cache", "part_cache", "translation_cache", "config", "layout", "runtime", "fetch",
     "extras"},
    {"engines", "mt", "filters", "codeswitch", "parallel", "ingest"},
    {"stages"},
    {"demo"},
    {"assets"},
    {"transfer", "train", "evaluation"},
    {"planner"},
    {"app", "__main__"},
]
PHASES = {"transfer", "train", "evaluation"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_names(path: Path, modules: dict[str, Path], here: str = "") -> list[tuple[int, str]]:
    """(line, module) for every import of a package module in ``path`` (the module ``here``),
    resolved to a known module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = here or module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def add(line: int, name: str) -> None:
        while name and name not in modules and "." in name:
            name = name.rpartition(".")[0]
        if name in modules and name != here:
            found.append((line, name))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(node.lineno, full if full in modules else base)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                add(node.lineno, node.args[0].value)
    return found


def unit(module: str) -> str:
    """The top-level unit of a package module: sdrrl_ray.stages.generate -> stages."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(module: str) -> int:
    for i, names in enumerate(LAYERS):
        if unit(module) in names:
            return i
    raise AssertionError(f"{module} belongs to no layer; add its unit to LAYERS in {__file__}")


def import_graph() -> tuple[dict[str, set], dict[tuple[str, str], int]]:
    modules = package_modules()
    edges: dict[str, set] = {m: set() for m in modules}
    lines: dict[tuple[str, str], int] = {}
    for name, path in modules.items():
        for line, target in imported_names(path, modules):
            edges[name].add(target)
            lines.setdefault((name, target), line)
    return edges, lines


def cycles(edges: dict[str, set]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set = set()
    out: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def direction_problems(edges: dict[str, set], lines: dict) -> list[str]:
    problems = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            where = f"{source} (line {lines[(source, target)]}) imports {target}"
            s, t = unit(source), unit(target)
            if not s or not t:  # the package's __init__ imports nothing
                if source == "sdrrl_ray":
                    problems.append(f"{where}: sdrrl_ray/__init__.py must stay free of imports")
                continue
            if layer(target) > layer(source):
                problems.append(f"{where}: a higher layer")
            elif s != t and s in PHASES and t in PHASES:
                problems.append(f"{where}: phases never import each other")
            elif t == "demo" and s not in ("demo", "assets"):
                problems.append(f"{where}: the demo is reached through sdrrl_ray.assets only")
            elif source.endswith("__init__") or PACKAGE.joinpath(*source.split(".")[1:], "__init__.py").exists():
                if not target.startswith(source + "."):
                    problems.append(f"{where}: a package's __init__ imports only its own modules")
    return problems


def test_the_package_has_no_import_cycle():
    edges, _ = import_graph()
    found = cycles(edges)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_imports_run_one_way():
    edges, lines = import_graph()
    problems = direction_problems(edges, lines)
    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_they_should():
    edges = {"sdrrl_ray.a.x": {"sdrrl_ray.b.y"}, "sdrrl_ray.b.y": {"sdrrl_ray.a.x"}, "sdrrl_ray.c": set()}
    assert cycles(edges) == [["sdrrl_ray.a.x", "sdrrl_ray.b.y"]]
    edges = {"sdrrl_ray.schema": {"sdrrl_ray.stages.generate"}, "sdrrl_ray.train.run": {"sdrrl_ray.transfer.run"},
             "sdrrl_ray.evaluation.run": {"sdrrl_ray.demo.build"}, "sdrrl_ray.stages.generate": set(),
             "sdrrl_ray.transfer.run": set(), "sdrrl_ray.demo.build": set()}
    lines = {(s, t): 1 for s, ts in edges.items() for t in ts}
    problems = "\n".join(direction_problems(edges, lines))
    assert "sdrrl_ray.schema (line 1) imports sdrrl_ray.stages.generate: a higher layer" in problems
    assert "phases never import each other" in problems
    assert "through sdrrl_ray.assets only" in problems


def test_function_level_typing_and_literal_dynamic_imports_count(tmp_path):
    src = tmp_path / "probe.py"
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..layout import paths\n"
                   "def f():\n    import importlib\n    importlib.import_module('sdrrl_ray.app.cli')\n"
                   "    from sdrrl_ray.transfer import run\n", encoding="utf-8")
    found = {m for _, m in imported_names(src, package_modules(), here="sdrrl_ray.stages.probe")}
    assert found == {"sdrrl_ray.app.cli", "sdrrl_ray.transfer.run", "sdrrl_ray.layout.paths"}


def python_files() -> list[Path]:
    skip = {".venv", ".venv-vllm", ".cache", "out", ".git", "build"}
    out = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in skip or rel.parts[0].startswith("."):
            continue
        out.append(path)
    return out


def test_no_module_over_400_lines_outside_the_demo():
    demo = PACKAGE / "demo"
    long = []
    for path in python_files():
        if demo in path.parents:
            continue
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            long.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert not long, f"modules over {MAX_LINES} lines (split them by what they do): " + ", ".join(long)


@pytest.mark.parametrize("folder", ["benchmarks", "tests", "jobs"])
def test_benchmarks_tests_and_jobs_use_public_names(folder):
    private = []
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sdrrl_ray"):
                names = [a.name for a in node.names if a.name.startswith("_")]
                names += [p for p in node.module.split(".") if p.startswith("_")]
                private += [f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{n}" for n in names]
    assert not private, "private names imported from the package: " + ", ".join(private)


def test_the_subset_names_are_spelled_out_in_the_schema_only():
    """A tuple, list, set or dict of two or more subset names is written in sdrrl_ray/schema.py only."""
    names = {"LL", "TL", "LT", "TT", "mt", "comp"}
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "schema.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            elements = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
            if not isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) or not elements:
                continue
            spelled = {e.value for e in elements if isinstance(e, ast.Constant) and e.value in names}
            if len(spelled) >= 2:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {sorted(spelled)}")
    assert not found, "subset names written out again (use sdrrl_ray.schema): " + ", ".join(found)


def test_every_package_folder_is_a_regular_package():
    """A folder of modules without __init__.py is left out of a (non-editable) install."""
    missing = [str(d.relative_to(ROOT)) for d in [PACKAGE, *PACKAGE.rglob("*")]
               if d.is_dir() and any(d.glob("*.py")) and not (d / "__init__.py").exists()]
    assert not missing, f"folders of modules without __init__.py: {missing}"


def test_every_data_file_of_the_package_is_declared_package_data():
    """What the code reads beside its modules (demo data, planner tables) ships in a wheel."""
    import fnmatch
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as fh:
        patterns = tomllib.load(fh)["tool"]["setuptools"]["package-data"]["sdrrl_ray"]
    undeclared = []
    for path in PACKAGE.rglob("*"):
        rel = path.relative_to(PACKAGE).as_posix()
        if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in rel:
            continue
        if not any(fnmatch.fnmatch(rel, p) for p in patterns):
            undeclared.append(rel)
    assert not undeclared, f"data files not in [tool.setuptools.package-data]: {undeclared}"
