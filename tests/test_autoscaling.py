"""Autoscaling: the pods Ray's autoscaler can add, its own reading of the spec, and Serve's bounds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gpuconf.errors import InputError
from gpuconf.inputs.manifests import load_roots
from gpuconf.model.autoscaler import node_type
from gpuconf.model.plan import summary
from gpuconf.static.check import run_check
from gpuconf.static.rules import ERROR

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "manifests" / "regressions"
AUTOSCALER_ON = "enableInTreeAutoscaling: true"


def _twin(tmp_path: Path, case: str, old: str, new: str) -> Path:
    """The case with one edit, written beside a copy of the manifest root so nodes and expectations still apply."""
    root = tmp_path / "manifests"
    for name in ("nodes", "expectations.yaml", "serve-config.yaml", "raycluster.yaml"):
        src = REPO / "manifests" / name
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            (root / name).mkdir(exist_ok=True)
            for f in src.iterdir():
                (root / name / f.name).write_text(f.read_text())
        else:
            (root / name).write_text(src.read_text())
    text = (CASES / case).read_text()
    assert old in text, (case, old)
    (root / "regressions").mkdir()
    out = root / "regressions" / case
    out.write_text(text.replace(old, new, 1))
    return out


def _errors(path: Path) -> set[str]:
    return {f.rule for f in run_check([path]).findings if f.severity == ERROR}


def test_gpu_group_at_zero_passes_with_the_autoscaler(tmp_path: Path) -> None:
    """The same GPU group at 0 replicas: failing without the autoscaler, passing with it (scaled to maxReplicas)."""
    case = "gpu-group-at-zero-without-autoscaler.yaml"
    assert _errors(CASES / case) == {"SERVE-UNPLACEABLE"}
    twin = _twin(tmp_path, case, '  rayVersion: "2.60.0"\n', f'  rayVersion: "2.60.0"\n  {AUTOSCALER_ON}\n')
    result = run_check([twin])
    assert result.verdict == "pass", [f.message for f in result.findings]
    pods = [p for p in result.plans[0].pods if p.group.name == "gpu-workers"]
    assert [(p.autoscaled, p.node) for p in pods] == [(True, "gpu-node-1")]


def test_autoscaled_cpu_group_is_harmless_without_the_autoscaler(tmp_path: Path) -> None:
    """The CPU group that advertises a GPU it lacks: at 0 replicas without the autoscaler no pod of it exists."""
    case = "autoscaled-cpu-group-hosts-gpu-work.yaml"
    assert _errors(CASES / case) == {"GPU-PLACEMENT"}
    twin = _twin(tmp_path, case, AUTOSCALER_ON, "enableInTreeAutoscaling: false")
    assert _errors(twin) == set()


def test_autoscaled_pods_are_marked_in_the_json_and_stop_at_max_replicas() -> None:
    """maxReplicas 2 plans exactly two added pods, each marked autoscaled in the plan summary."""
    result = run_check([CASES / "autoscaled-cpu-group-hosts-gpu-work.yaml"])
    data = summary(result.plans[0])
    cpu = [p for p in data["pods"] if p["group"] == "cpu-workers"]
    assert [p["autoscaled"] for p in cpu] == [True, True]
    assert all(p["autoscaled"] is False for p in data["pods"] if p["group"] != "cpu-workers")
    rows = result.as_json()["deployments"][0]["feasible_nodes"]
    assert {r["group"]: r["autoscaled"] for r in rows} == {"gpu-workers": False, "cpu-workers": True}


def test_serve_max_replicas_beyond_the_cluster_warns_with_the_ceiling() -> None:
    """max_replicas 4 on a pool with one GPU: a warning (not an error) that names 1 as the ceiling."""
    result = run_check([CASES / "serve-max-replicas-beyond-reach.yaml"])
    (finding,) = [f for f in result.findings if f.rule == "SERVE-AUTOSCALING-MAX"]
    assert finding.severity == "warning" and finding.evidence == {"max_replicas": 4, "ceiling": 1}
    assert result.verdict == "pass"


def test_shell_expansion_is_not_flagged_inside_single_quotes(tmp_path: Path) -> None:
    """bash expands nothing between single quotes, so '$(hostname)' reaches Ray as written."""
    case = "ray-start-param-expanded-by-bash.yaml"
    twin = _twin(tmp_path, case, 'node-name: "$(hostname)"', "node-name: \"'$(hostname)'\"")
    assert "SHELL-EXPANSION" not in _errors(twin)


def _ray_cr(doc: Any) -> dict[str, Any] | None:
    """The RayCluster Ray's builder reads: a RayCluster, or a RayService's rayClusterConfig."""
    spec = doc.get("spec") or {}
    if doc.get("kind") == "RayService":
        spec = spec.get("rayClusterConfig") or {}
    elif doc.get("kind") == "RayJob":
        spec = spec.get("rayClusterSpec") or {}
    elif doc.get("kind") != "RayCluster":
        return None
    if not spec.get("headGroupSpec"):
        return None
    return _with_crd_defaults(spec)


def _with_crd_defaults(spec: Any) -> dict[str, Any]:
    """A RayCluster as the API server stores it: Ray's builder reads fields the CRD defaults."""
    cr = json.loads(json.dumps({"metadata": {"name": "c", "namespace": "default"}, "spec": spec}))
    cr["spec"].setdefault("workerGroupSpecs", [])
    for g in cr["spec"]["workerGroupSpecs"] or []:
        g.setdefault("minReplicas", 0)
        g.setdefault("maxReplicas", 2**31 - 1)
    return cr


def _shipped() -> list[Path]:
    return sorted(p for p in (REPO / "manifests").rglob("*.yaml") if "kind" not in p.parts[-2:-1])


def _agree(cr: dict[str, Any]) -> None:
    builder = pytest.importorskip("ray.autoscaler._private.kuberay.autoscaling_config")
    spec = cr["spec"]
    groups = [(spec["headGroupSpec"], True)] + [(g, False) for g in spec.get("workerGroupSpecs") or []]
    model = {("headgroup" if h else g["groupName"]): node_type(copy.deepcopy(g), h) for g, h in groups}
    try:
        ray = builder._derive_autoscaling_config_from_ray_cr(cr)["available_node_types"]
    except Exception as exc:  # Ray's builder fails (any error): the model must say so for some group
        assert any(t.error for t in model.values()), (exc, model)
        return
    assert not any(t.error for t in model.values()), model
    for name, t in model.items():
        mine = {k: v for k, v in t.resources.items() if v}
        # TPU-<type>-head comes from GKE's TPU node selectors, which the model leaves out (gpuconf.model.autoscaler).
        theirs = {
            k: v for k, v in ray[name]["resources"].items() if v and not (k.startswith("TPU-") and k.endswith("-head"))
        }
        assert mine == theirs, name
        assert (t.min_workers, t.max_workers) == (ray[name]["min_workers"], ray[name]["max_workers"]), name


def test_the_autoscaler_model_agrees_with_rays_builder_on_every_shipped_manifest() -> None:
    """Ray's own config builder, imported from the pinned Ray, derives the same node types as the model."""
    seen = 0
    for path in _shipped():
        try:
            inputs = list(load_roots([path]))
        except InputError:  # inputs refused on purpose are not manifests to compare
            continue
        for inp in inputs:
            for target in inp.targets():
                _agree(_with_crd_defaults(target.cluster.spec))
                seen += 1
    assert seen >= 20


def test_the_autoscaler_model_agrees_with_rays_builder_on_kuberay_samples() -> None:
    """The same agreement on KubeRay v1.5.0's own samples (read from the Go module cache)."""
    import shutil

    from gpuconf.provision.kwok.build import BuildError, module_dir
    from tests.test_inputs_real import KUBERAY

    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        pytest.skip("go is not installed: cannot read KubeRay's samples from the Go module cache")
    try:
        folder = module_dir(*KUBERAY) / "config" / "samples"
    except BuildError as exc:
        pytest.skip(f"KubeRay's samples are not in the Go module cache: {exc}")
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    seen = 0
    for path in sorted(folder.rglob("*.yaml")):
        for doc in yaml.load_all(path.read_text()):
            cr = _ray_cr(doc) if isinstance(doc, dict) else None
            if cr:
                _agree(cr)
                seen += 1
    assert seen >= 50
