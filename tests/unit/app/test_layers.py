"""The tree against docs/style.md's layers: imports only point down, no cycles, one place per thing.

Every module under ``edgeqa/`` is parsed with ``ast``; every import counts, at module level,
inside functions and under ``if TYPE_CHECKING:`` ("no import cycles, not even type-only ones").

Choices this test makes where docs/style.md leaves room:
- ``runtime/`` (backoff, sd_notify, logging set-up) is process plumbing below every layer: any
  module may import it, and it imports nothing of edgeqa but itself and the package root.
- The package root ``edgeqa/__init__.py`` (``__version__`` only) sits with runtime.
- ``config/`` is Root; it imports each capability's own config dataclass (``live/config.py``),
  which is a downward import. A capability never imports ``edgeqa.config``.
- ``app.py`` is the composition root: it builds everything, the HTTP server included, so it may
  import ``api/`` (and ``web/``) to mount their routes. Nothing else below Face may.
- ``sandbox/`` may import anything; the only modules that may import it are its own and its
  CLI faces (``commands/sandbox.py``, ``commands/demo.py``). The daemon's logic never does.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import REPO

PACKAGE = REPO / "edgeqa"
UNIT_TESTS = REPO / "tests" / "unit"

#: Rank of each layer; an import may only go to the same or a lower rank.
PLUMBING, METRICS, PROTOCOLS, MODEL, LIVE, ROOT_LAYER, FACE, SANDBOX = range(8)
LAYER_NAMES = {PLUMBING: "Plumbing", METRICS: "Metrics", PROTOCOLS: "Protocols", MODEL: "Model",
               LIVE: "Live", ROOT_LAYER: "Root", FACE: "Face", SANDBOX: "Sandbox"}
#: Top-level unit (package, or module of the top level) -> layer, per docs/style.md "Layers".
LAYERS: dict[str, int] = {
    "edgeqa": PLUMBING, "runtime": PLUMBING,
    "metrics": METRICS, "analyze": METRICS,
    "ami": PROTOCOLS, "ari": PROTOCOLS, "media": PROTOCOLS, "agi": PROTOCOLS,
    "calls": MODEL, "stream": MODEL, "store": MODEL, "audit": MODEL, "auth": MODEL,
    "live": LIVE, "recording": LIVE, "pci": LIVE, "supervisor": LIVE, "routing": LIVE,
    "feed": LIVE, "cues": LIVE, "spy": LIVE, "route": LIVE, "hints": LIVE,
    "app": ROOT_LAYER, "config": ROOT_LAYER,
    "cli": FACE, "__main__": FACE, "commands": FACE, "api": FACE, "web": FACE,
    "sandbox": SANDBOX,
}
#: The CLI commands that drive the sandbox: the only modules outside it that may import it.
SANDBOX_FACES = frozenset({"edgeqa.commands.sandbox", "edgeqa.commands.demo"})
#: Upward edges (module -> package) allowed: the composition root mounts the HTTP routes.
ROOT_BUILDS = frozenset({("edgeqa.app", "api"), ("edgeqa.app", "web")})
#: What the pure metrics may import ("metrics -> anything that talks to the switch, or to the
#: store" never happens); analyze adds file I/O and may use metrics, and the plumbing's file
#: opening (runtime.files: regular files only).
METRICS_MAY_IMPORT = {"metrics": {"edgeqa", "metrics"},
                      "analyze": {"edgeqa", "metrics", "analyze", "runtime"}}
TOP_LEVEL_MODULES = {"__init__.py", "__main__.py", "cli.py", "app.py"}
#: Files at the top of edgeqa/ that are not modules (PEP 561 marker).
TOP_LEVEL_DATA = {"py.typed"}


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement of one module, resolved to an edgeqa module."""

    source: str
    target: str
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
            if "__pycache__" not in p.parts}


def _resolve(name: str, known: Iterable[str]) -> str | None:
    """The longest known module that ``name`` is, or is inside (``a.b.attr`` -> ``a.b``)."""
    known = set(known)
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(modules: dict[str, Path]) -> list[Import]:
    found: list[Import] = []
    for source, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = source.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                # ``from a import b`` imports the module a.b when there is one, else a.
                names = [f"{base}.{alias.name}" for alias in node.names]
            for name in names:
                if not name.startswith("edgeqa"):
                    continue
                target = _resolve(name, modules)
                if target is not None and target != source:
                    found.append(Import(source, target, node.lineno))
    return sorted(set(found), key=lambda i: (i.source, i.line, i.target))


def _unit(module: str) -> str:
    """The layer unit of a module: its top-level package, or the top-level module's name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "edgeqa"


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(out)


def _cycle_report(components: list[list[str]], imports: list[Import], unit: bool) -> list[str]:
    lines = []
    for component in components:
        members = set(component)
        edges = sorted({f"{i.source}:{i.line} -> {i.target}" for i in imports
                        if (_unit(i.source) if unit else i.source) in members
                        and (_unit(i.target) if unit else i.target) in members
                        and (not unit or _unit(i.source) != _unit(i.target))})
        lines.append(" <-> ".join(component) + "\n    " + "\n    ".join(edges))
    return lines


MODULES = _modules()
IMPORTS = _imports(MODULES)


def test_the_parser_sees_imports_everywhere() -> None:
    # Guards the test itself: function-level and TYPE_CHECKING imports must be found.
    assert MODULES and IMPORTS
    sources = {i.source for i in IMPORTS}
    assert "edgeqa.app" in sources
    assert any(i.source == "edgeqa.commands.sandbox" and i.target.startswith("edgeqa.sandbox")
               for i in IMPORTS), "function-level imports are missed"


def test_every_package_has_a_layer() -> None:
    unmapped = sorted({_unit(m) for m in MODULES} - set(LAYERS))
    assert unmapped == [], f"give these a layer in docs/style.md and in LAYERS: {unmapped}"


def _upward(imports: Iterable[Import]) -> list[str]:
    upward = []
    for i in imports:
        src, dst = _unit(i.source), _unit(i.target)
        if dst == "sandbox":
            if src != "sandbox" and i.source not in SANDBOX_FACES:
                upward.append(f"{i.source}:{i.line} -> {i.target} (only the sandbox's CLI "
                              "faces may import the sandbox)")
        elif LAYERS[dst] > LAYERS[src] and (i.source, dst) not in ROOT_BUILDS:
            upward.append(f"{i.source}:{i.line} -> {i.target} "
                          f"({LAYER_NAMES[LAYERS[src]]} -> {LAYER_NAMES[LAYERS[dst]]})")
    return upward


def _metrics_reach(imports: Iterable[Import]) -> list[str]:
    return [f"{i.source}:{i.line} -> {i.target}" for i in imports
            if _unit(i.source) in METRICS_MAY_IMPORT
            and _unit(i.target) not in METRICS_MAY_IMPORT[_unit(i.source)]]


def test_no_import_points_to_a_higher_layer() -> None:
    upward = _upward(IMPORTS)
    assert upward == [], "imports pointing up:\n" + "\n".join(upward)


def test_metrics_import_nothing_of_the_switch_or_the_store() -> None:
    bad = _metrics_reach(IMPORTS)
    assert bad == [], "metrics/analyze import beyond metrics:\n" + "\n".join(bad)


def test_the_rules_can_fail() -> None:
    # The checks themselves, on imports that break them.
    bad = [Import("edgeqa.calls.tracker", "edgeqa.live.service", 3),
           Import("edgeqa.live.service", "edgeqa.config", 4),
           Import("edgeqa.live.service", "edgeqa.sandbox.pbx", 5),
           Import("edgeqa.api.server", "edgeqa.sandbox.pbx", 6),
           Import("edgeqa.ami.client", "edgeqa.calls.model", 7)]
    assert len(_upward(bad)) == len(bad)
    good = [Import("edgeqa.config.model", "edgeqa.live.config", 1),
            Import("edgeqa.app", "edgeqa.api", 2),
            Import("edgeqa.commands.demo", "edgeqa.sandbox.demo.runner", 3),
            Import("edgeqa.sandbox.demo.runner", "edgeqa.app", 4),
            Import("edgeqa.live.service", "edgeqa.runtime.backoff", 5)]
    assert _upward(good) == []
    assert _metrics_reach([Import("edgeqa.metrics.call", "edgeqa.store.records", 1),
                           Import("edgeqa.analyze.offline", "edgeqa.media.timeline", 2)]) == [
        "edgeqa.metrics.call:1 -> edgeqa.store.records",
        "edgeqa.analyze.offline:2 -> edgeqa.media.timeline"]
    assert _metrics_reach([Import("edgeqa.analyze.offline", "edgeqa.metrics.call", 1)]) == []


def test_no_module_import_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for i in IMPORTS:
        graph[i.source].add(i.target)
    cycles = _sccs(graph)
    assert cycles == [], "module import cycles:\n" + "\n".join(
        _cycle_report(cycles, IMPORTS, unit=False))


def test_no_package_import_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for i in IMPORTS:
        src, dst = _unit(i.source), _unit(i.target)
        if src != dst:
            graph[src].add(dst)
    cycles = _sccs(graph)
    assert cycles == [], "package import cycles:\n" + "\n".join(
        _cycle_report(cycles, IMPORTS, unit=True))


def test_top_level_holds_only_the_entry_points_and_packages() -> None:
    stray = []
    for entry in sorted(PACKAGE.iterdir()):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            if not (entry / "__init__.py").is_file():
                stray.append(f"{entry.name}/ (not a package)")
        elif entry.name not in TOP_LEVEL_MODULES | TOP_LEVEL_DATA:
            stray.append(entry.name)
    assert stray == [], f"edgeqa/ keeps only {sorted(TOP_LEVEL_MODULES)} and packages: {stray}"


def test_unit_tests_have_one_folder_per_package() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    # app.py is a module, not a package; its tests (composition root, ops) live in unit/app/.
    # unit/support/ tests the shared helpers of tests/support/ (hygiene fixtures).
    expected = packages | {"app", "support"}
    folders = {p.name for p in UNIT_TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    loose = sorted(p.name for p in UNIT_TESTS.glob("*.py")
                   if p.name not in {"__init__.py", "conftest.py"})
    assert sorted(folders - expected) == [], "tests/unit folders that are no edgeqa package"
    assert sorted(expected - folders) == [], "edgeqa packages without a tests/unit folder"
    assert loose == [], "test modules outside a package folder"


def test_sccs_finds_a_cycle() -> None:
    # The cycle finder must be able to fail: a -> b -> c -> a, and d alone.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _sccs(graph) == [["a", "b", "c"]]
    assert _sccs({"a": {"b"}, "b": set()}) == []
