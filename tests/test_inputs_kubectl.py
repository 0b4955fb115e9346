"""Ray objects read and validated as `kubectl apply` and the API server do, and as KubeRay runs them.

Each refusal is shown on an input wrong in exactly that way (exit 2, file:line, fix, who refuses),
beside a near miss that is accepted. Sources: KubeRay v1.5.0's CRDs (gpuconf.inputs.crds), the API
server's ValidateResourceRequirements and name rules (gpuconf.inputs.apiserver), KubeRay's
validation.go and util.go, and sigs.k8s.io/yaml v1.6.0 (gpuconf.inputs.loader.KUBECTL).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gpuconf.cli import main
from gpuconf.inputs import crds
from gpuconf.inputs.loader import load_yaml_documents, plain
from tests.test_inputs_catalogue import copy_manifest_root

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
CLUSTER = (MANIFESTS / "raycluster.yaml").read_text(encoding="utf-8")
GPU_GROUP = "      replicas: 1\n      minReplicas: 1\n      maxReplicas: 1\n      rayStartParams:\n        # The seed"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped manifest root, as the working folder."""
    monkeypatch.chdir(tmp_path)
    return copy_manifest_root(tmp_path)


def _swap(old: str, new: str, text: str = CLUSTER) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _check(root: Path, text: str, capsys: pytest.CaptureFixture[str], fmt: str = "json") -> tuple[int, Any]:
    (root / "raycluster.yaml").write_text(text, encoding="utf-8")
    rc = main(["check", "--format", fmt, "raycluster.yaml", "serve-config.yaml"])
    out = capsys.readouterr().out
    return rc, (json.loads(out) if fmt == "json" else out)


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def _refused(root: Path, text: str, needle: str, fix: str, who: str, capsys: pytest.CaptureFixture[str]) -> str:
    rc, data = _check(root, text, capsys)
    assert rc == 2, data
    err = data["error"]
    assert (err["file"], err["line"]) == ("raycluster.yaml", _line(text, needle)), err
    assert fix.lower() in err["fix"].lower(), err
    assert who in err["message"], err
    return str(err["message"])


def _accepted(root: Path, text: str, capsys: pytest.CaptureFixture[str]) -> Any:
    rc, data = _check(root, text, capsys)
    assert rc in (0, 1, 4), data
    return data


# --- 1. KubeRay's CRD schemas, strict ------------------------------------------------------------


def test_shipped_crd_version_is_the_pinned_one() -> None:
    """The shipped schemas are for the KUBERAY_VERSION of build/versions.env."""
    pinned = dict(
        line.split("=", 1)
        for line in (REPO / "build" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert pinned["KUBERAY_VERSION"] == crds.KUBERAY_VERSION
    for kind in crds.PLURALS:
        for version in ("v1", "v1alpha1"):
            assert crds.schema_path(kind, version).is_file()


def _module_dir() -> Path | None:
    gopath = Path(os.environ.get("GOMODCACHE") or Path.home() / "go" / "pkg" / "mod")
    folder = gopath / "github.com" / "ray-project" / "kuberay" / f"ray-operator@{crds.KUBERAY_VERSION}"
    return folder if (folder / "config" / "crd" / "bases").is_dir() else None


def test_shipped_crd_schemas_equal_the_modules() -> None:
    """Each shipped openAPIV3Schema is the module's CRD's, byte for byte once read (regenerate, never edit)."""
    module = _module_dir()
    if module is None:
        pytest.skip(
            f"ray-operator@{crds.KUBERAY_VERSION} is not in the Go module cache: "
            f"go mod download github.com/ray-project/kuberay/ray-operator@{crds.KUBERAY_VERSION}"
        )
    found = crds.extract(module)
    assert set(found) == {(k, v) for k in crds.PLURALS for v in ("v1", "v1alpha1")}
    for (kind, version), schema in found.items():
        assert crds.shipped(kind, version) == schema, (kind, version)


def test_unknown_field_on_the_head_is_refused_with_did_you_mean(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rayStartParam:` (no s): the API server's strict decoding names it; the near miss is the shipped cluster."""
    text = _swap("  headGroupSpec:\n    rayStartParams:", "  headGroupSpec:\n    rayStartParam:")
    message = _refused(root, text, "rayStartParam:", "did you mean `rayStartParams`?", "API server", capsys)
    assert "spec.headGroupSpec.rayStartParam" in message
    _accepted(root, CLUSTER, capsys)


def test_unknown_field_on_a_worker_group_and_at_the_top(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown fields anywhere outside the pod templates: workerGroupSpecs[] and spec."""
    text = _swap("      maxReplicas: 1\n", "      maxReplica: 1\n      maxReplicas: 1\n")
    _refused(root, text, "maxReplica: 1", "did you mean `maxReplicas`?", "API server", capsys)
    text = _swap("  rayVersion:", "  enableInTreeAutoscale: true\n  rayVersion:")
    _refused(root, text, "enableInTreeAutoscale", "did you mean `enableInTreeAutoscaling`?", "API server", capsys)


@pytest.mark.parametrize(
    ("line", "fix"),
    [
        ('  enableInTreeAutoscaling: "true"\n', "boolean"),
        ('  suspend: "yes"\n', "boolean"),
        ("  rayVersion: 2.6\n", '"2.6"'),
    ],
)
def test_wrong_types_are_refused(line: str, fix: str, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A quoted boolean, or a number where a string goes, is not the type the CRD says."""
    text = _swap('  rayVersion: "2.60.0"\n', line if "rayVersion" in line else line + '  rayVersion: "2.60.0"\n')
    message = _refused(root, text, line.strip(), fix, "API server", capsys)
    assert "must be of type" in message


def test_unquoted_yes_is_a_boolean_to_kubectl(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """sigs.k8s.io/yaml reads `yes` as true (YAML 1.1 booleans; its yaml.go says so): accepted, autoscaling on."""
    text = _swap('  rayVersion: "2.60.0"\n', '  enableInTreeAutoscaling: yes\n  rayVersion: "2.60.0"\n')
    _accepted(root, text, capsys)


def test_label_values_must_be_strings(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A label value `1` is a number (refused); `"1"` and an unquoted date (a string to kubectl) are accepted."""
    text = _swap("    app.kubernetes.io/name: ml-service\n", "    app.kubernetes.io/name: ml-service\n    tier: 1\n")
    _refused(root, text, "tier: 1", 'quote it: "1"', "API server", capsys)
    _accepted(root, text.replace("tier: 1", 'tier: "1"'), capsys)
    _accepted(root, text.replace("tier: 1", "released: 2024-01-01"), capsys)


# --- 2. the API server's rules outside the schema ------------------------------------------------


def _gpu(limit: str | None, request: str | None) -> str:
    """The GPU group with this GPU limit and request (None: not given)."""
    block = '                limits:\n                  cpu: "4"\n                  memory: 16Gi\n'
    block += f"                  nvidia.com/gpu: {limit}\n" if limit else ""
    block += '                requests:\n                  cpu: "4"\n                  memory: 16Gi\n'
    block += f"                  nvidia.com/gpu: {request}\n" if request else ""
    old = (
        '                limits:\n                  cpu: "4"\n                  memory: 16Gi\n'
        '                  nvidia.com/gpu: 1\n                requests:\n                  cpu: "4"\n'
        "                  memory: 16Gi\n                  nvidia.com/gpu: 1\n"
    )
    return _swap(old, block)


def test_extended_resource_request_must_equal_its_limit(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """nvidia.com/gpu request 1, limit 2: every pod of the group is refused; 2 and 2 is fine."""
    text = _gpu("2", "1")
    _refused(root, text, "nvidia.com/gpu: 1", "equal the limit", "API server", capsys)
    _accepted(root, _gpu("2", "2"), capsys)


def test_extended_resource_must_be_whole(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A GPU limit of 500m is not a whole device."""
    _refused(root, _gpu('"500m"', None), 'nvidia.com/gpu: "500m"', "whole devices", "API server", capsys)


def test_extended_resource_request_needs_a_limit(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A GPU request without a limit: `Limit must be set for non overcommitable resources`; a limit alone is fine."""
    text = _gpu(None, "1")
    message = _refused(root, text, "nvidia.com/gpu: 1", "under resources.limits", "API server", capsys)
    assert "Limit must be set" in message
    _accepted(root, _gpu("1", None), capsys)


def test_cpu_request_over_its_limit(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """requests.cpu 4 over limits.cpu 2 on the head; equal is fine."""
    old = '              requests:\n                cpu: "2"\n'
    text = _swap(old, '              requests:\n                cpu: "4"\n')
    _refused(root, text, 'cpu: "4"', "at most the limit", "API server", capsys)


@pytest.mark.parametrize(
    ("name", "who", "fix"),
    [
        ("ML_cluster", "API server", "use a name like"),
        ("1cluster", "KubeRay", "use a name like"),
        ("a" * 54, "KubeRay", "use a name like"),
    ],
)
def test_cluster_names(name: str, who: str, fix: str, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """metadata.name: a DNS-1123 subdomain for the API server, a DNS-1035 label of at most 53 for KubeRay."""
    text = _swap("  name: ml-cluster\n", f"  name: {name}\n")
    _refused(root, text, f"name: {name}", fix, who, capsys)


def test_cluster_name_of_53_is_accepted(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The longest name KubeRay takes (MaxRayClusterNameLength = 53)."""
    _accepted(root, _swap("  name: ml-cluster\n", f"  name: {'a' * 53}\n"), capsys)


def test_group_name_that_makes_an_invalid_pod_name(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`gpu_workers` is a fine label value but no pod name; `GPU-workers` is lowercased by KubeRay: fine."""
    text = _swap("    - groupName: gpu-workers\n", "    - groupName: gpu_workers\n")
    _refused(root, text, "groupName: gpu_workers", "lowercase letters", "API server", capsys)
    text = _swap("    - groupName: gpu-workers\n", f"    - groupName: {'g' * 64}\n")
    _refused(root, text, "groupName: ggg", "use a name like", "API server", capsys)


def test_int32_ranges(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """maxReplicas past int32 is refused by the schema's format; 2^31-1 (the CRD default) is accepted."""
    text = _swap("      maxReplicas: 1\n", "      maxReplicas: 2147483648\n")
    _refused(root, text, "maxReplicas: 2147483648", "int32", "API server", capsys)
    _accepted(root, _swap("      maxReplicas: 1\n", "      maxReplicas: 2147483647\n"), capsys)


# --- 3. KubeRay's defaulting ---------------------------------------------------------------------


def test_max_below_min_runs_max_replicas(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """minReplicas 3 > maxReplicas 2: KubeRay runs 2 pods (GetWorkerGroupDesiredReplicas) and the output says so."""
    text = _swap(
        "      replicas: 1\n      minReplicas: 1\n      maxReplicas: 1\n      rayStartParams:\n        # The seed",
        "      replicas: 3\n      minReplicas: 3\n      maxReplicas: 2\n      rayStartParams:\n        # The seed",
    )
    rc, out = _check(root, text, capsys, fmt="text")
    assert rc in (0, 1), out
    pods = [ln for ln in out.splitlines() if "ml-cluster-gpu-workers-worker-" in ln and ln.strip().startswith("pod")]
    assert len(pods) == 2, out
    assert "KubeRay runs maxReplicas" in out


def test_num_of_hosts_null_means_one(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`numOfHosts: null` takes the CRD's default, 1 (the API server defaults a non-nullable null)."""
    text = _swap(
        GPU_GROUP, GPU_GROUP.replace("      maxReplicas: 1\n", "      maxReplicas: 1\n      numOfHosts: null\n")
    )
    rc, out = _check(root, text, capsys, fmt="text")
    assert rc in (0, 1), out
    assert sum("ml-cluster-gpu-workers-worker-" in ln for ln in out.splitlines() if ln.strip().startswith("pod")) == 1


# --- 4. YAML as kubectl reads it ----------------------------------------------------------------


def test_sexagesimal_is_a_string_to_kubectl(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`maxReplicas: 1:00` is the string "1:00" to kubectl (refused), and the message says YAML 1.1 reads 60."""
    text = _swap("      maxReplicas: 1\n", "      maxReplicas: 1:00\n")
    message = _refused(root, text, "maxReplicas: 1:00", "integer", "API server", capsys)
    assert "the integer 60 to YAML 1.1" in message, message


# Generated by running sigs.k8s.io/yaml v1.6.0's YAMLToJSON on `v: <scalar>` (a 20-line Go program
# over the module cache, as in the report of this change); ERR: kubectl cannot write it as JSON.
GO_YAML = """\
yes\t{"v":true}
Y\t{"v":true}
n\t{"v":false}
on\t{"v":true}
OFF\t{"v":false}
True\t{"v":true}
NULL\t{"v":null}
~\t{"v":null}
1:00\t{"v":"1:00"}
190:20:30\t{"v":"190:20:30"}
2024-01-01\t{"v":"2024-01-01"}
2001-12-14t21:59:43.10-05:00\t{"v":"2001-12-14t21:59:43.10-05:00"}
0777\t{"v":511}
0o17\t{"v":15}
0x1F\t{"v":31}
0b101\t{"v":5}
-0b101\t{"v":-5}
1_000\t{"v":1000}
1e3\t{"v":1000}
1.5e3\t{"v":1500}
.5\t{"v":0.5}
5.\t{"v":5}
+1\t{"v":1}
9223372036854775808\t{"v":9223372036854775808}
99999999999999999999\t{"v":100000000000000000000}
18446744073709551616\t{"v":18446744073709552000}
1.0\t{"v":1}
=\t{"v":"="}
<<\t{"v":"<<"}
08\t{"v":8}
0x_1F\t{"v":31}
1__0\t{"v":10}
1e21\t{"v":1e+21}
._5\t{"v":"._5"}
.5_0\t{"v":0.5}
0x\t{"v":"0x"}
yes please\t{"v":"yes please"}
"""


@pytest.mark.parametrize("row", GO_YAML.splitlines(), ids=lambda r: r.split("\t")[0])
def test_scalars_read_as_sigs_k8s_yaml_reads_them(row: str) -> None:
    """Each plain scalar has the value and JSON type kubectl gives it."""
    scalar, want = row.split("\t")
    got = plain(load_yaml_documents(f"v: {scalar}", "x.yaml")[0])
    expected = json.loads(want)
    assert got == expected and type(got["v"]) is type(expected["v"]), (scalar, got, expected)


# --- 6. never a traceback ------------------------------------------------------------------------


def test_symlink_loop_is_exit_2_at_the_path(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A link to itself: exit 2 naming the path, with a fix; a link to the real file is read."""
    (root / "loop.yaml").symlink_to("loop.yaml")
    rc = main(["check", "--format", "json", "loop.yaml"])
    err = json.loads(capsys.readouterr().out)["error"]
    assert rc == 2 and err["file"] == "loop.yaml" and err["line"] == 1, err
    assert "symbolic link loop" in err["message"] and "real YAML file" in err["fix"], err
    (root / "link.yaml").symlink_to("raycluster.yaml")
    assert main(["check", "--format", "json", "link.yaml", "serve-config.yaml"]) in (0, 1, 4)
    capsys.readouterr()


def test_group_labels_as_a_list_is_exit_2(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Group-level `labels:`/`resources:` as a list: the CRD's map type refuses them at their line."""
    for field_ in ("labels", "resources"):
        text = _swap("    - groupName: cpu-workers\n", f"    - groupName: cpu-workers\n      {field_}: [a, b]\n")
        _refused(root, text, f"{field_}: [a, b]", f"`{field_}: {{}}`", "API server", capsys)
    text = _swap("    - groupName: cpu-workers\n", "    - groupName: cpu-workers\n      labels: {tier: cpu}\n")
    _accepted(root, text, capsys)
