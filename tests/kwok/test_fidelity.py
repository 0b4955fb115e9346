"""Model fidelity on the kwok control plane: our plan vs the real scheduler and KubeRay v1.5.0.

Each case's RayCluster (or RayService's rayClusterConfig) goes into its own namespace on the
control plane `make kwok-up` started; the pods the real operator creates and the real
scheduler binds (or leaves Pending) are compared field by field with `build_plan`, and so are
the DRA devices the scheduler allocates to their claims. A case that brings its own node pool
(with its ResourceSlices and DeviceClasses) has it in place of the shipped one for the test.
Run: ``pytest tests/kwok --backend kwok`` with the control plane up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuconf.backends.kwok.backend import apply_target
from gpuconf.backends.kwok.dra import resource_claims
from gpuconf.backends.kwok.fidelity import compare_report
from gpuconf.errors import InputError
from gpuconf.kube.client import KubeClient
from gpuconf.live.settings import Settings
from gpuconf.model.plan import Plan
from gpuconf.provision.kwok.nodes import Pool, load_pool, read_pools, replace_pool
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


def _case_pool(path: Path) -> Pool | None:
    """The node pool a case file brings itself (None: it uses the shipped pool)."""
    if path.is_dir():
        return None
    pool = load_pool(path, other_kinds=True)
    return pool if pool.nodes else None


@pytest.fixture
def node_pool(kube: KubeClient, case: tuple[str, Path, str]) -> Iterator[None]:
    """Make a case's own pool (Nodes, ResourceSlices, DeviceClasses) the control plane's for the test;
    restore the shipped pool afterwards."""
    pool = _case_pool(case[1])
    if pool is None:
        yield
        return
    try:
        replace_pool(kube.api, pool)
        yield
    finally:
        replace_pool(kube.api, read_pools([POOL]))


def _road_not_run_here(plan: Plan) -> str | None:
    """Why the kwok tier cannot show what the real control plane does with this plan (None: it can).

    DRA claims run here: the real scheduler allocates them against the ResourceSlices the case's
    pool publishes (allocation needs no driver).
    """
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
        claims = resource_claims(kube, dep.namespace) if any(g.dra for g in plan.groups) else None
        report = compare_report(plan, dep.pods, dep.nodes, dep.namespace, claims)
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
