"""Import hygiene: params load light, ``portraittalker`` stands alone, and ``portraittalker``/``eval`` have no cycles.

The orchestration services are an install extra, not core dependencies, and the library runs without them.

The graph is built from the source (every ``import``/``from`` statement, function-level ones included), so a
deferred import that would close a cycle, or reach into ``eval``/``flows``/``tasks``, fails here too.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("portraittalker", "eval")
# The library never imports these (only its CLI may import `eval`, inside the `evaluate` command).
OFF_LIMITS = ("eval", "flows", "tasks", "prefect", "mlflow")
LIBRARY_ENTRY_POINTS = {"portraittalker.cli"}
HEAVY = ("torch", "cv2", "pytorch3d", "eval", "mlflow", "prefect")
# The `orchestration` extra of pyproject.toml (distribution names), and the modules they install.
ORCHESTRATION = {"prefect", "prefect-dask", "dvc", "mlflow"}
ORCHESTRATION_MODULES = ("prefect", "prefect_dask", "dvc", "mlflow")


def _module_files() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``) for every module of :data:`PACKAGES`."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute dotted names ``source`` imports anywhere (``from a import b`` gives ``a`` and ``a.b``)."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _resolve(name: str, modules: Iterable[str]) -> str | None:
    """The longest known module that ``name`` is, or lies in (``a.b.attr`` -> ``a.b``)."""
    known = set(modules)
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges between our modules, all names each module imports).

    An edge to one's own parent package is left out: Python initialises a parent before its children anyway,
    and ``from pkg import submodule`` inside ``pkg`` is the edge to the submodule.
    """
    files = _module_files()
    graph: dict[str, set[str]] = {}
    raw: dict[str, set[str]] = {}
    for module, (path, is_package) in files.items():
        raw[module] = imported_names(path.read_text(), module, is_package)
        targets = {_resolve(name, files) for name in raw[module]} - {None, module}
        graph[module] = {t for t in targets if t is not None and not module.startswith(f"{t}.")}
    return graph, raw


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None when the graph is acyclic (iterative DFS, sorted for stable output)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph.get(start, ())))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def subpackage_graph(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """Edges between ``portraittalker``'s subpackages (``portraittalker.motion`` -> ``portraittalker.data``)."""
    files = _module_files()
    packages = {m for m, (_, is_package) in files.items()
                if is_package and m.count(".") == 1 and m.startswith("portraittalker.")}

    def owner(module: str) -> str | None:
        head = ".".join(module.split(".")[:2])
        return head if head in packages else None

    edges: dict[str, set[str]] = {p: set() for p in packages}
    for module, targets in graph.items():
        source = owner(module)
        if source:
            edges[source].update(t for t in map(owner, targets) if t and t != source)
    return edges


def test_find_cycle_on_toy_graphs() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"y"}, "y": {"y"}}) == ["y", "y"]
    assert find_cycle({"a": {"b", "d"}, "b": {"c"}, "c": set(), "d": {"c", "e"}, "e": {"d"}}) == ["d", "e", "d"]


def test_imported_names_resolves_relative_and_deferred_imports() -> None:
    source = "import os\nfrom . import sibling\nfrom ..up import thing\ndef f():\n    from eval.report import x\n"
    names = imported_names(source, "portraittalker.motion.train", is_package=False)
    assert {"os", "portraittalker.motion", "portraittalker.motion.sibling", "portraittalker.up",
            "portraittalker.up.thing", "eval.report", "eval.report.x"} <= names
    assert "portraittalker.motion.sibling" in imported_names("from . import sibling", "portraittalker.motion", True)


def test_no_import_cycles() -> None:
    graph, _ = import_graph()
    assert "portraittalker.config" in graph and "eval.evaluate" in graph  # the scan found the modules
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
    cycle = find_cycle(subpackage_graph(graph))
    assert cycle is None, "subpackage import cycle: " + " -> ".join(cycle or [])


def test_library_does_not_import_eval_flows_tasks_or_services() -> None:
    _, raw = import_graph()
    offending = {
        module: sorted(n for n in names if n.split(".")[0] in OFF_LIMITS)
        for module, names in raw.items()
        if module.startswith("portraittalker") and module not in LIBRARY_ENTRY_POINTS
    }
    offending = {module: names for module, names in offending.items() if names}
    assert not offending, f"portraittalker modules importing {OFF_LIMITS}: {offending}"


@pytest.mark.parametrize("statement", [
    "import portraittalker.config as c; c.load_params()",
    # `portraittalker --help`, and each command's help, run in-process
    "from typer.testing import CliRunner; from portraittalker.cli import app; "
    "assert all(CliRunner().invoke(app, [*cmd, '--help']).exit_code == 0 for cmd in ([], ['generate'], ['evaluate']))",
])
def test_loading_params_and_cli_help_stay_light(statement: str) -> None:
    code = f"import json, sys; {statement}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    heavy = json.loads(result.stdout.strip().splitlines()[-1])
    assert heavy == [], f"loading params imported {heavy}"


def _distribution(requirement: str) -> str:
    """``"prefect>=3.8,<3.9"`` -> ``"prefect"`` (normalised as pip compares names)."""
    name = re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_orchestration_is_an_extra_not_a_core_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {_distribution(r) for r in project["dependencies"]}
    assert not core & ORCHESTRATION, f"core dependencies include {sorted(core & ORCHESTRATION)}"
    assert {_distribution(r) for r in project["optional-dependencies"]["orchestration"]} == ORCHESTRATION


def test_pipeline_runs_without_orchestration_modules() -> None:
    code = ("import json, sys; import portraittalker.pipeline; "
            f"print(json.dumps([m for m in {ORCHESTRATION_MODULES!r} if m in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"import portraittalker.pipeline loaded {loaded}"
