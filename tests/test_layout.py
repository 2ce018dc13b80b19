"""The package layout is the pipeline: each stage imports only the stages before it.

Layers, lowest first: the foundation modules, ``warehouse``, then the stages in pipeline order
(``ingest``, ``clean``, ``embed``, ``cluster``, ``rank``, ``deliver``), ``report``, and at the top
``config`` (which composes every stage's settings), ``pipeline``, ``backfill``, ``cluster_file``
and ``cli``. A module may import its own layer and any layer below it, never one above.

Three checks: every import in the source (lazy ones inside functions included) points down or
sideways; importing every module of a package in a fresh interpreter loads nothing of a later
layer; and no import cycle exists among the package's modules.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "feedback_pipeline"
FLOWS = SRC.parents[1] / "flows"
FOUNDATION = {"_exports", "authors", "crashpoints", "errors", "fingerprint", "markup", "paths",
              "records", "redact", "secret_shapes", "secrets", "section"}
STAGES = ["warehouse", "ingest", "clean", "embed", "cluster", "rank", "deliver", "report"]
TOP = {"config", "pipeline", "backfill", "cluster_file", "cli", "cli_options", "cli_search",
       "cli_pulse"}
LEVEL = {**dict.fromkeys(FOUNDATION, 0), **{name: i + 1 for i, name in enumerate(STAGES)},
         **dict.fromkeys(TOP, len(STAGES) + 1)}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def level(module: str) -> int:
    """The layer of ``feedback_pipeline.<first>...``; unknown top-level names fail loudly."""
    first = module.split(".")[1] if module.count(".") else ""
    if first not in LEVEL:
        raise AssertionError(f"{module}: not in any layer of tests/test_layout.py; add it to "
                             "FOUNDATION, STAGES or TOP (and to README's 'Where things live')")
    return LEVEL[first]


def imports(path: Path, *, lazy: bool = True) -> set[str]:
    """``feedback_pipeline`` modules ``path`` imports (``lazy``: inside functions too).

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``.
    Imports under ``if TYPE_CHECKING:`` are annotations only and do not count.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for n in ast.walk(node)}
    nodes = ast.walk(tree) if lazy else iter(tree.body)
    found: set[str] = set()
    for node in nodes:
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("feedback_pipeline.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "feedback_pipeline":
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                as_module = SRC.parent.joinpath(*target.split("."))
                is_module = as_module.with_suffix(".py").exists() or as_module.is_dir()
                found.add(target if is_module else node.module)
    return {m for m in found if m != "feedback_pipeline"}


SOURCES = sorted(SRC.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in SOURCES:
        name = module_name(path)
        if name != "feedback_pipeline":
            level(name)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_imports_point_down_the_pipeline(path: Path):
    name = module_name(path)
    if name == "feedback_pipeline":
        return
    upward = sorted(m for m in imports(path) if level(m) > level(name))
    assert not upward, (f"{name} (layer {level(name)}) imports a later layer: {upward}; move the "
                        "shared code down (foundation or warehouse) or pass it in")


def test_relative_imports_are_not_used():
    # The layer check reads absolute names; a relative import would slip past it.
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        relative = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
        assert not relative, f"{module_name(path)}: relative imports at lines {relative}"


LOADED = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(info.name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("feedback_pipeline"))))
"""


@pytest.mark.parametrize("stage", STAGES)
def test_importing_a_stage_loads_no_later_stage(stage: str):
    """Every module of the stage, imported in a fresh interpreter, pulls in no later layer."""
    out = subprocess.run([sys.executable, "-c", LOADED, f"feedback_pipeline.{stage}"],
                         capture_output=True, text=True, check=True, timeout=300)
    loaded = json.loads(out.stdout)
    later = sorted(m for m in loaded if m != "feedback_pipeline" and level(m) > LEVEL[stage])
    assert not later, f"importing feedback_pipeline.{stage} loaded later layers: {later}"
    if stage == "clean":  # pure text cleaning: the example the layout was drawn for
        assert not any(m.split(".")[1] in ("ingest", "cluster", "deliver") for m in loaded
                       if m.count(".")), loaded


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    """No two modules import each other, directly or around a loop (lazy imports included)."""
    graph = {module_name(p): imports(p) for p in SOURCES}
    assert cycles(graph) == []


def test_only_flows_import_prefect():
    """Prefect stays in ``flows/``; the library runs without it (tests, the CLI's reads).

    The one exception is reading a credential from a Prefect ``Secret`` block (``secrets.py``),
    imported only when no environment variable holds the secret.
    """
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if any(n.split(".")[0] in ("prefect", "prefect_dask") for n in names):
                assert module_name(path) == "feedback_pipeline.secrets" and names == [
                    "prefect.blocks.system"], f"{module_name(path)} imports Prefect: {names}"
    assert any("prefect" in p.read_text(encoding="utf-8") for p in FLOWS.glob("*.py"))


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(SRC.parents[1])): n for p in [*SOURCES, *FLOWS.glob("*.py")]
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, f"split these modules by responsibility: {long}"
