"""The import graph of gpuconf, the suites and the benchmarks, held to its layers (in the spirit of
Kubernetes' .import-restrictions).

Every module of gpuconf/, suites/, benchmarks/ and entrypoints/ belongs to exactly one layer
(LAYERS, first match wins), and a layer imports only the layers ALLOWED lists for it: nothing
imports a layer above its own, so gpuconf never imports the suites or the benchmarks. Imports
inside functions and under TYPE_CHECKING count too: a late import is still a dependency. Each
backend is its own layer (``backend:<name>``), so a backend that imports another fails here; only
the registry names them all. And no module imports itself back through others (no circles).

To add a layer (e.g. when the static modules move into packages), add its prefixes to LAYERS and
its row to ALLOWED; a module that matches no layer fails ``test_every_module_has_a_layer``.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gpuconf"
# Every folder whose modules the graph holds (entrypoints/ is the reference service, shipped alone).
SCANNED = ("gpuconf", "suites", "benchmarks", "entrypoints")


# (layer, module prefixes). A prefix matches the module itself and everything under it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("gpuconf.errors", "gpuconf.waits", "gpuconf")),  # "gpuconf" is the package's own __init__ only
    ("host", ("gpuconf.host",)),
    ("inputs", ("gpuconf.inputs",)),
    ("model", ("gpuconf.model",)),
    ("static", ("gpuconf.static",)),
    ("kube", ("gpuconf.kube",)),
    ("live", ("gpuconf.live",)),
    ("provision", ("gpuconf.provision",)),
    ("localray", ("gpuconf.backends.localray",)),
    ("registry", ("gpuconf.backends.registry", "gpuconf.backends")),  # the package __init__ and the registry
    ("bench", ("gpuconf.bench",)),
    ("testing", ("gpuconf.testing",)),
    ("soak", ("gpuconf.soak",)),
    ("cli", ("gpuconf.cli", "gpuconf.__main__")),
    ("entrypoints", ("entrypoints",)),
    ("suites", ("suites",)),
    ("benchmarks", ("benchmarks",)),
]
BACKEND = "backend"  # every other package under gpuconf.backends is one backend: layer "backend:<name>"

_STATIC = {"inputs", "model", "static"}
# entrypoints/ (the reference service and the in-replica probes) imports nothing of ours.
_BELOW_LIVE = {"base", "host", "kube", "entrypoints"} | _STATIC
# What each layer may import (itself always). "backend" is any one backend, and only itself.
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "host": {"base"},  # ports, network namespaces, process groups: used by provision, backends and tools alike
    "inputs": {"base"},
    "model": {"base", "inputs"},
    "static": {"base", "inputs", "model"},
    "kube": {"base"} | _STATIC,
    "live": _BELOW_LIVE,
    "provision": _BELOW_LIVE | {"live"},
    "localray": _BELOW_LIVE | {"live"},
    BACKEND: _BELOW_LIVE | {"live", "provision", "localray"},
    "registry": _BELOW_LIVE | {"live", BACKEND},
    "bench": _BELOW_LIVE | {"live"},
    "testing": _BELOW_LIVE | {"live", "bench", "registry"},
    "soak": set(),  # runs `make conformance` in a PID namespace: it drives processes, not modules
    "cli": {*_BELOW_LIVE, "live", "provision", "localray", "registry", "bench"},
    "entrypoints": set(),
    # The suites stand on the pytest edge and the live tier; the realpods suite reads that tier's
    # GPU allocations (gpuconf.provision.realpods.allocations) to compare with the probes.
    "suites": {*_BELOW_LIVE, "live", "testing", "provision"},
    # The benchmarks also read the host's GPUs (localray) and reuse the scaling suite's helpers.
    "benchmarks": {*_BELOW_LIVE, "live", "testing", "bench", "localray", "suites"},
}


def module_name(path: Path) -> str:
    """gpuconf/live/serve.py → gpuconf.live.serve; a package's __init__ is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer a gpuconf module belongs to (None: no layer claims it)."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["gpuconf", "backends"] and parts[2] not in ("localray", "registry"):
        return f"{BACKEND}:{parts[2]}"
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            # The bare package prefixes ("gpuconf", "gpuconf.backends") claim their __init__ only.
            bare = prefix in ("gpuconf", "gpuconf.backends")
            if module == prefix or (not bare and module.startswith(prefix + ".")):
                return layer
    return None


def may_import(importer: str, imported: str) -> bool:
    """Whether a module of layer `importer` may import one of layer `imported`."""
    if importer == imported:
        return True
    kind, _, _ = importer.partition(":")
    target_kind, _, _ = imported.partition(":")
    if kind == BACKEND:
        return target_kind != BACKEND and target_kind in ALLOWED[BACKEND]
    return target_kind in ALLOWED[kind]


def _sources() -> list[Path]:
    return sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.py"))


@cache
def imports() -> dict[str, set[str]]:
    """Every scanned module and the scanned modules it imports (top level and inside functions)."""
    out: dict[str, set[str]] = {}
    for path in _sources():
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                # `from pkg import mod` imports the submodule when there is one
                found |= {f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")}
        out[name] = {m for m in found if m.split(".")[0] in SCANNED}
    return out


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def test_the_scan_sees_known_imports() -> None:
    """Guard against a scanner that silently finds nothing: known imports (one of them late) show up."""
    graph = imports()
    assert "gpuconf.live.observe" in graph["gpuconf.live.verdicts"]
    assert "gpuconf.backends.localray.launcher" in graph["gpuconf.backends.embedded.backend"]
    assert "gpuconf.kube.client" in graph["gpuconf.backends.cluster.backend"]
    assert "gpuconf.provision.kwok.paths" in graph["gpuconf.backends.kwok.backend"]  # inside a function
    assert "gpuconf.testing.evidence" in graph["suites.placement.test_placement"]
    assert "suites.scaling.scaling" in graph["benchmarks.test_scaling"]
    assert "entrypoints.timing" in graph["gpuconf.bench.device_timing"]


def test_every_module_has_a_layer() -> None:
    """A new module must be placed in a layer before it can be imported from anywhere."""
    homeless = sorted(m for m in imports() if layer_of(m) is None)
    assert not homeless, f"modules in no layer (add them to LAYERS in tests/test_layers.py): {homeless}"


@pytest.mark.parametrize("layer", sorted({layer_of(m) or "-" for m in imports()}))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    """Each layer imports only the layers ALLOWED lists for it; no backend imports another."""
    wrong = sorted(
        f"{m} imports {t} ({layer_of(t)})"
        for m, targets in imports().items()
        if layer_of(m) == layer
        for t in targets
        if layer_of(t) is not None and not may_import(layer, layer_of(t) or "")
    )
    assert not wrong, "imports against the layers:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("backend:kwok", "backend:cluster", False),
        ("backend:kwok", "localray", True),
        ("backend:kwok", "testing", False),
        ("live", "registry", False),
        ("static", "kube", False),
        ("testing", "registry", True),
        ("testing", "backend:embedded", False),
        ("live", "suites", False),
        ("bench", "benchmarks", False),
        ("testing", "suites", False),
        ("suites", "benchmarks", False),
        ("benchmarks", "suites", True),
        ("entrypoints", "base", False),
    ],
)
def test_the_rules_say_what_the_layers_mean(importer: str, imported: str, allowed: bool) -> None:
    """The table itself: a loosened row fails here, not silently."""
    assert may_import(importer, imported) is allowed


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of `graph`: each set of modules that import one another (Tarjan's strongly
    connected components of more than one module, or a module that imports itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, set()) & graph.keys()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            members = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(members) > 1 or module in graph.get(module, set()):
                found.append(sorted(members))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def test_the_circle_finder_finds_circles() -> None:
    """Guard against a finder that finds nothing: a two-module circle, a self-import, and a chain that is none."""
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": set(), "d": {"d"}, "e": {"c"}}
    assert circles(graph) == [["a", "b"], ["d"]]


# The circles left, each closed by a late or type-only import: the node pool's validation reads the
# manifests' Inputs and Notice, and the DRA allocator reads the scheduler's node model. Any other
# circle fails the test below, and so does the end of one of these (then delete its line).
KNOWN_CIRCLES: list[list[str]] = []


def test_no_import_circles() -> None:
    """No module imports itself back through others (beyond KNOWN_CIRCLES, which may only shrink)."""
    found = circles(imports())
    assert found == KNOWN_CIRCLES, "import circles:\n  " + "\n  ".join(" <-> ".join(c) for c in found)


def test_live_and_static_never_import_pytest() -> None:
    """The contract and the static half run without pytest (the CLI and the in-cluster Job use them)."""
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if layer_of(name) in ("base", "static", "kube", "live", "provision", "localray", "registry") or (
            layer_of(name) or ""
        ).startswith(BACKEND):
            tree = ast.parse(path.read_text())
            names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            if any(n == "pytest" or n.startswith(("pytest.", "_pytest")) for n in names):
                bad.append(name)
    assert not bad, f"modules below gpuconf.testing that import pytest: {bad}"
