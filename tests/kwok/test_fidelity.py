"""Model fidelity on the kwok control plane: our plan vs the real scheduler and KubeRay v1.5.0.

Each case's RayCluster (or RayService's rayClusterConfig) goes into its own namespace on the
control plane `make kwok-up` started; the pods the real operator creates and the real
scheduler binds (or leaves Pending) are compared field by field with `build_plan`. Cases that
bring their own node pool get it applied for the test and the shipped pool restored after.
Run: ``pytest tests/kwok --backend kwok`` with the control plane up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gpuconf.backends.kwok.backend import apply_target
from gpuconf.backends.kwok.fidelity import compare_report
from gpuconf.errors import InputError
from gpuconf.kube.client import KubeClient
from gpuconf.live.settings import Settings
from gpuconf.model.plan import Plan
from gpuconf.provision.kwok.nodes import apply_node, load_nodes, node_pool_files
from gpuconf.static.check import run_check

pytestmark = pytest.mark.local_control_plane

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
POOL = MANIFESTS / "nodes"
CASES = [("manifests", MANIFESTS, "RayCluster/"), ("manifests", MANIFESTS, "RayService/")] + [
    (f"regressions/{p.stem}", p, "") for p in sorted((MANIFESTS / "regressions").glob("*.yaml"))
]


def _plan(path: Path, prefer: str) -> Plan:
    plans = run_check([path]).plans
    # As the live fixture does: the RayCluster target first, unless a kind is asked for.
    chosen = (
        [p for p in plans if p.target.name.startswith(prefer)]
        if prefer
        else sorted(plans, key=lambda p: not p.target.name.startswith("RayCluster/"))
    )
    return chosen[0]


def _node_docs(path: Path) -> list[dict]:
    """The Node objects a case file brings itself (empty: it uses the shipped pool)."""
    if path.is_dir():
        return []
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict) and d.get("kind") == "Node"]


@pytest.fixture
def node_pool(kube: KubeClient, case: tuple[str, Path, str]) -> Iterator[None]:
    """Apply a case's own nodes for the test; restore the shipped pool afterwards."""
    path = case[1]
    docs = _node_docs(path)
    if not docs:
        yield
        return
    shipped = {n["metadata"]["name"] for f in node_pool_files([POOL]) for n in load_nodes(f)}
    if {d["metadata"]["name"] for d in docs} != shipped:
        pytest.skip(
            f"{path.name} brings nodes {sorted(d['metadata']['name'] for d in docs)} other than the "
            f"shipped pool's {sorted(shipped)}; swapping whole nodes is not supported"
        )
    try:
        for doc in docs:  # server-side apply by the pool's field manager: labels it leaves out are removed
            apply_node(kube.core, doc)
        yield
    finally:
        for f in node_pool_files([POOL]):
            for doc in load_nodes(f):
                apply_node(kube.core, doc)


def _road_not_run_here(plan: Plan) -> str | None:
    """Why the kwok tier cannot show what the real control plane does with this plan (None: it can)."""
    if any(g.dra is not None for g in plan.groups):
        return "its GPUs come through DRA claims, and the kwok tier publishes no ResourceSlices for them"
    if any(p.gang_held for p in plan.pods):
        return "a batch scheduler holds its pods, and the kwok tier runs none (Volcano, YuniKorn, KAI)"
    return None


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}:{c[2].rstrip('/')}" if c[2] else c[0] for c in CASES])
def test_model_matches_control_plane(
    kube: KubeClient, case: tuple[str, Path, str], node_pool: None, gpuconf_settings: Settings
) -> None:
    """The plan's pods, nodes, Pending reasons and `ray start` commands are what KubeRay and the scheduler made."""
    name, path, prefer = case
    try:
        plan = _plan(path, prefer)
    except InputError as exc:
        pytest.skip(f"{name} is rejected on input, so there is no plan to compare: {exc.message}")
    road = _road_not_run_here(plan)
    if road:
        pytest.skip(f"{name}: {road}; the model of that road is checked in tests/test_gpu_roads.py")
    t0 = time.monotonic()
    dep = apply_target(
        kube,
        plan,
        "fidelity",
        suffix=Path(name).name[:20],
        diagnostics_dir=Path(gpuconf_settings.report_dir) / f"fidelity-{Path(name).name}",
    )
    try:
        report = compare_report(plan, dep.pods, dep.nodes, dep.namespace)
        settled = time.monotonic() - t0
    finally:
        dep.teardown(None, wait=True)  # the next case needs the GPU this one's pods hold
    print(
        f"\n{name} {plan.target.name}: settled in {settled:.1f}s, total {time.monotonic() - t0:.1f}s; "
        f"pods {[(p.name, p.node) for p in dep.pods]}; notes {report.notes}"
    )
    assert not report.mismatches, f"{plan.target.name} ({name}): model and control plane disagree:\n" + "\n".join(
        f"  - {m}" for m in report.mismatches
    )


def test_fidelity_catches_a_model_that_keeps_num_gpus(kube: KubeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """With KubeRay's JSON check removed from the model (its pre-fix state), the fidelity check names the field."""
    import gpuconf.model.kuberay as kuberay

    monkeypatch.setattr(kuberay, "kuberay_resources_json_error", lambda params: None)
    plan = _plan(MANIFESTS / "regressions" / "kuberay-drops-num-gpus.yaml", "RayCluster/")
    assert "--num-gpus=1" in next(g for g in plan.groups if g.name == "gpu-workers").command
    dep = apply_target(kube, plan, "fidelity", suffix="negative")
    try:
        report = compare_report(plan, dep.pods, dep.nodes, dep.namespace)
    finally:
        dep.teardown(None, wait=True)
    fields = [m.field for m in report.mismatches]
    assert any(f.startswith("gpu-workers/") and f.endswith(".ray_start.resources") for f in fields), fields
    bad = next(m for m in report.mismatches if m.field.endswith(".ray_start.resources"))
    assert bad.model.get("GPU") == 1.0 and "GPU" not in bad.real, bad
