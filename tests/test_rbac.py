"""manifests/rbac, the Job and the Dockerfile, checked without a cluster.

The ClusterRoles must grant no more and no less than the suite needs. "Needs" is not a second
hand-written list: it is gpuconf.kube.rbac (CLUSTER_ACCESS, which preflight demands, and
RUN_ACCESS, which each run binds in its own namespace) plus every Kubernetes API call found in the
code an in-cluster run executes, each call mapped to its (API group, resource, verb) and scope
(cluster or namespace) from the official client's own request path and HTTP method. Cluster-scoped
calls must be granted by the cluster-wide ClusterRole gpuconf, namespaced ones by gpuconf-run
(bound per run), except the run's own RoleBinding, which has to be created before it exists.
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
import stat
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes import client

from gpuconf.inputs.schema import KUBERNETES_SCHEMA_VERSION
from gpuconf.kube.names import MANAGED_BY
from gpuconf.kube.preflight import REQUIRED_ACCESS
from gpuconf.kube.rbac import CLUSTER_ACCESS, NAMED_ACCESS, RBAC_GROUP, RUN_ACCESS, RUN_BINDING, RUN_ROLE

ROOT = Path(__file__).resolve().parents[1]
RBAC = ROOT / "manifests" / "rbac"
SA_NAMESPACE, SA_NAME = "gpuconf-system", "gpuconf"
Perm = tuple[str, str, str]  # (API group, resource[/subresource], verb), as in REQUIRED_ACCESS

# The code an in-cluster run (`--backend=cluster`) executes against the API server. gpuconf/provision
# builds and feeds local clusters with their own admin credentials: not scanned.
SCANNED = ("gpuconf/kube", "gpuconf/live", "gpuconf/backends/cluster", "gpuconf/testing", "suites")
# Calls that only the opt-in `--label-gpu-nodes` makes: granted by gpuconf-label-nodes, never by gpuconf.
LABEL_ONLY: frozenset[Perm] = frozenset({("", "nodes", "patch")})
# Calls in the scanned code that are not the suite's: advertise_fake_gpus (gpuconf/kube/nodes.py)
# writes a kind node's status for `gpuconf kind up`, which runs as the kind admin.
ADMIN_ONLY: frozenset[Perm] = frozenset({("", "nodes/status", "patch")})
# CustomObjectsApi paths carry {group} and {plural}; the suite's only custom objects are RayClusters
# (test_custom_objects_are_rayclusters checks the calls say so).
CUSTOM_OBJECTS = ("ray.io", "rayclusters")
# Streams whose WebSocket upgrade is a GET, authorized as `get` up to Kubernetes 1.34 and as
# `get` and `create` from 1.35 (KEP-4006, AuthorizePodWebsocketUpgradeCreatePermission).
STREAMS = ("pods/exec", "pods/attach", "pods/portforward")


# -- reading the manifests ----------------------------------------------------------------------


@cache
def docs(name: str) -> tuple[dict[str, Any], ...]:
    """The YAML documents of manifests/rbac/<name>."""
    return tuple(d for d in yaml.safe_load_all((RBAC / name).read_text()) if d)


def find(name: str, kind: str, obj_name: str) -> dict[str, Any]:
    """The one object of `kind` called `obj_name` in manifests/rbac/<name>."""
    found = [d for d in docs(name) if d["kind"] == kind and d["metadata"]["name"] == obj_name]
    assert len(found) == 1, f"{name}: expected one {kind}/{obj_name}, found {len(found)}"
    return found[0]


def grants(role: dict[str, Any]) -> set[Perm]:
    """Every (group, resource, verb) a ClusterRole grants on any object; wildcards and URL rules are refused."""
    return {p[:3] for p in _rules(role) if not p[3]}


def named_grants(role: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """The (group, resource, verb, name) a ClusterRole grants on one named object only."""
    return {p for p in _rules(role) if p[3]}


def _rules(role: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    out: set[tuple[str, str, str, str]] = set()
    for rule in role["rules"]:
        # A wildcard grants what nobody listed (and what future API versions add). resourceNames
        # only where the code's request names the object (`bind` on one role): elsewhere it would
        # make preflight's name-less SelfSubjectAccessReviews answer "denied".
        assert "nonResourceURLs" not in rule, f"{role['metadata']['name']}: {rule}"
        assert "resourceNames" not in rule or rule["verbs"] == ["bind"], f"{role['metadata']['name']}: {rule}"
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"{role['metadata']['name']}: wildcard in {field}: {rule}"
        names = rule.get("resourceNames", [""])
        out |= {
            (g, r, v, n) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"] for n in names
        }
    return out


# -- what the code calls ------------------------------------------------------------------------


def _is_namespaced(path: str) -> bool:
    """Whether a request path of the official client is inside one namespace."""
    return "/namespaces/{namespace}/" in path


def _perms_of_request(method: str, path: str) -> set[Perm]:
    """The permissions kube-apiserver checks for one request of the official client."""
    segs = path.strip("/").split("/")
    if segs[0] == "api":
        group, rest = "", segs[2:]
    elif segs[0] == "apis":
        group, rest = segs[1], segs[3:]
    else:
        return set()  # /version and other non-resource URLs: public (system:public-info-viewer)
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[1] == "{namespace}":
        rest = rest[2:]
    resource = rest[0]
    if group == "{group}":
        group, resource = CUSTOM_OBJECTS
    named = len(rest) > 1
    sub = f"{resource}/{rest[2]}" if len(rest) > 2 else resource
    verb = {
        "GET": "get" if named else "list",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if named else "deletecollection",
    }[method]
    perms = {(group, sub, verb)}
    if method == "GET" and sub in STREAMS:
        perms.add((group, sub, "create"))  # WebSocket upgrade on >= 1.35
    if method == "PATCH" and (group, resource) == CUSTOM_OBJECTS:
        perms.add((group, sub, "create"))  # server-side apply of a missing object is a create
    return perms


@cache
def api_calls(scope: str = "any") -> dict[Perm, tuple[str, ...]]:
    """Each permission the scanned code needs, with the API methods (file: Class.method) needing it.

    `scope`: "cluster" for calls outside any namespace, "namespace" for calls inside one, "any".
    """
    sources = {p: p.read_text() for d in SCANNED for p in sorted((ROOT / d).rglob("*.py"))}
    # Only the API classes the code constructs: a method name like list_namespaced_event exists in
    # CoreV1Api and EventsV1Api, with different API groups.
    classes = sorted(
        {
            c
            for s in sources.values()
            for c in re.findall(r"\b(\w+Api)\(", s)
            if isinstance(getattr(client, c, None), type)
        }
    )
    found: dict[Perm, set[str]] = {}
    for path, text in sources.items():
        for attr in sorted(set(re.findall(r"\.(\w+)\b", text))):
            for cls in classes:
                serialize = getattr(getattr(client, cls), f"_{attr}_serialize", None)
                if serialize is None:
                    continue
                m = re.search(r"method='(\w+)',\s*resource_path='([^']+)'", inspect.getsource(serialize))
                assert m, f"cannot read the request of {cls}.{attr}"
                if scope != "any" and _is_namespaced(m.group(2)) != (scope == "namespace"):
                    continue
                for perm in _perms_of_request(*m.groups()):
                    found.setdefault(perm, set()).add(f"{path.relative_to(ROOT)}: {cls}.{attr}")
    return {perm: tuple(sorted(where)) for perm, where in found.items()}


def needed() -> set[Perm]:
    """What the cluster-wide ClusterRole gpuconf must grant: preflight's list and every cluster-scoped call."""
    return set(REQUIRED_ACCESS) | (set(api_calls("cluster")) - LABEL_ONLY - ADMIN_ONLY)


def needed_in_run() -> set[Perm]:
    """What gpuconf-run must grant: RUN_ACCESS and every namespaced call but the run's own RoleBinding."""
    return set(RUN_ACCESS) | (set(api_calls("namespace")) - set(CLUSTER_ACCESS) - ADMIN_ONLY)


def _fmt(perms: set[Perm]) -> str:
    return ", ".join(f"{v} {r}" + (f".{g}" if g else "") for g, r, v in sorted(perms, key=lambda p: (p[1], p[2])))


# -- the tests ----------------------------------------------------------------------------------

RBAC_FILES = sorted(p.name for p in RBAC.glob("*.yaml"))


def test_the_rbac_folder_has_the_documented_files() -> None:
    """The files the README's commands apply, and nothing else that `kubectl apply -f` would pick up."""
    assert RBAC_FILES == [
        "clusterrole.yaml",
        "clusterrolebinding-label-nodes.yaml",
        "clusterrolebinding.yaml",
        "job.yaml",
        "namespace-policy.yaml",
        "serviceaccount.yaml",
    ]


@pytest.mark.parametrize("name", RBAC_FILES)
def test_every_rbac_manifest_validates(name: str) -> None:
    """Each object passes the Kubernetes 1.34 schema, strictly (an unknown field is an error)."""
    assert docs(name), f"{name} holds no object"
    for doc in docs(name):
        kubernetes_validate.validate(doc, KUBERNETES_SCHEMA_VERSION, strict=True)


@pytest.mark.parametrize("name", RBAC_FILES)
def test_every_rbac_manifest_says_what_it_is_and_how_to_apply_it(name: str) -> None:
    """A header comment before the first object, with the command that applies the file."""
    header = (RBAC / name).read_text().split("apiVersion:", 1)[0]
    lines = [line for line in header.splitlines() if line.strip()]
    assert lines and all(line.startswith("#") for line in lines), f"{name}: no header comment"
    assert f"kubectl apply -f manifests/rbac/{name}" in header


def test_the_scan_finds_the_calls_it_must() -> None:
    """Guard against a scanner that silently finds nothing: known calls of known files show up."""
    calls = api_calls()
    assert ("", "namespaces", "create") in calls and ("ray.io", "rayclusters", "patch") in calls
    assert any("CoreV1Api.connect_get_namespaced_pod_exec" in w for w in calls.get(("", "pods/exec", "get"), ()))
    assert any(
        "AuthorizationV1Api.create_self_subject_access_review" in w
        for w in calls.get(("authorization.k8s.io", "selfsubjectaccessreviews", "create"), ())
    )


def test_custom_objects_are_rayclusters() -> None:
    """The scan maps CustomObjectsApi calls to rayclusters.ray.io; every such call must say ray.io."""
    calls = 0
    for d in SCANNED:
        for path in (ROOT / d).rglob("*.py"):
            for args in re.findall(r"\w+_custom_object\(([^)]*)\)", path.read_text()):
                calls += 1
                assert "RAY_GROUP" in args or '"ray.io"' in args, f"{path}: custom object call ({args})"
    assert calls, "no CustomObjectsApi call found: the RayCluster apply moved?"


def test_clusterrole_grants_exactly_what_the_suite_needs() -> None:
    """Cluster-wide, no more, no less: an unused permission fails, and so does a needed one that is missing."""
    role = find("clusterrole.yaml", "ClusterRole", "gpuconf")
    granted = grants(role)
    need = needed()
    calls = api_calls("cluster")
    unused = granted - need
    missing = need - granted
    assert not unused, f"the ClusterRole gpuconf grants what nobody uses: {_fmt(unused)}"
    assert not missing, (
        f"the ClusterRole gpuconf lacks: {_fmt(missing)} (called by: "
        f"{sorted({w for p in missing for w in calls.get(p, ('REQUIRED_ACCESS',))})})"
    )
    # The one grant on a named object: `bind` on the run's role, and preflight checks it.
    assert named_grants(role) == set(NAMED_ACCESS) == {(RBAC_GROUP, "clusterroles", "bind", RUN_ROLE)}


def test_run_role_grants_exactly_what_a_run_does_in_its_namespace() -> None:
    """gpuconf-run: RUN_ACCESS and every namespaced call, no more, no less, on no named object."""
    role = find("clusterrole.yaml", "ClusterRole", RUN_ROLE)
    granted, need, calls = grants(role), needed_in_run(), api_calls("namespace")
    assert not named_grants(role)
    assert not granted - need, f"the ClusterRole {RUN_ROLE} grants what nobody uses: {_fmt(granted - need)}"
    assert not need - granted, (
        f"the ClusterRole {RUN_ROLE} lacks: {_fmt(need - granted)} (called by: "
        f"{sorted({w for p in need - granted for w in calls.get(p, ('RUN_ACCESS',))})})"
    )


def test_nothing_that_reaches_workloads_is_cluster_wide() -> None:
    """RayClusters, pods, logs, exec, port-forward and events are only in gpuconf-run, never in gpuconf."""
    cluster_wide = grants(find("clusterrole.yaml", "ClusterRole", "gpuconf"))
    workloads = {(g, r) for g, r, _ in RUN_ACCESS}
    assert {("ray.io", "rayclusters"), ("", "pods/exec"), ("", "pods/portforward"), ("", "pods/log")} <= workloads
    assert not {(g, r) for g, r, _ in cluster_wide} & workloads, _fmt({p for p in cluster_wide if p[:2] in workloads})
    # Every namespaced call the code makes is bound per run, except creating that very binding.
    assert set(api_calls("namespace")) - set(RUN_ACCESS) - ADMIN_ONLY == {(RBAC_GROUP, "rolebindings", "create")}
    # And the run binds gpuconf-run by that name (gpuconf.kube.rbac.bind_run_role).
    assert RUN_BINDING and any(
        "RbacAuthorizationV1Api.create_namespaced_role_binding" in w
        for w in api_calls("namespace")[(RBAC_GROUP, "rolebindings", "create")]
    )


def _policy() -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        find("namespace-policy.yaml", "ValidatingAdmissionPolicy", "gpuconf-own-namespaces"),
        find("namespace-policy.yaml", "ValidatingAdmissionPolicyBinding", "gpuconf-own-namespaces"),
    )


def test_namespace_policy_guards_the_suites_account_and_nothing_else() -> None:
    """The policy matches only the ServiceAccount the ClusterRoles are bound to, and denies (not warns)."""
    policy, binding = _policy()
    (cond,) = policy["spec"]["matchConditions"]
    assert cond["expression"] == f'request.userInfo.username == "system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"'
    assert binding["spec"] == {"policyName": "gpuconf-own-namespaces", "validationActions": ["Deny"]}
    assert policy["spec"]["failurePolicy"] == "Fail"  # a policy that cannot be evaluated refuses


def test_namespace_policy_covers_every_write_the_role_allows_on_namespaces_and_bindings() -> None:
    """Each namespace or RoleBinding write the ClusterRole gpuconf allows is one the policy checks."""
    policy, _ = _policy()
    verb_of = {"create": "CREATE", "delete": "DELETE", "update": "UPDATE", "patch": "UPDATE"}
    guarded = {
        (g, r, op)
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for op in rule["operations"]
    }
    role = grants(find("clusterrole.yaml", "ClusterRole", "gpuconf"))
    writes = {(g, r, verb_of[v]) for g, r, v in role if r in ("namespaces", "rolebindings") and v in verb_of}
    assert writes == {
        ("", "namespaces", "CREATE"),
        ("", "namespaces", "DELETE"),
        (RBAC_GROUP, "rolebindings", "CREATE"),
    }
    assert writes <= guarded
    text = yaml.safe_dump(policy["spec"]["variables"]) + yaml.safe_dump(policy["spec"]["validations"])
    # The label it demands is the one the run puts on its namespaces, the role the one it binds.
    assert f'"{MANAGED_BY[0]}"' in text and f'"{MANAGED_BY[1]}"' in text
    assert f'object.roleRef.name == "{RUN_ROLE}"' in text


def test_node_labelling_is_only_in_the_opt_in_role() -> None:
    """Patching nodes is the opt-in role's, which grants read/patch of nodes and nothing else."""
    assert grants(find("clusterrole.yaml", "ClusterRole", "gpuconf-label-nodes")) == {
        ("", "nodes", "get"),
        ("", "nodes", "patch"),
    }
    assert not LABEL_ONLY & grants(find("clusterrole.yaml", "ClusterRole", "gpuconf"))
    # And the label code really is what needs it (else the opt-in role grants something unused).
    assert set(api_calls()) >= LABEL_ONLY, "nothing patches nodes any more: drop the opt-in role"


@pytest.mark.parametrize(
    ("name", "role"),
    [("clusterrolebinding.yaml", "gpuconf"), ("clusterrolebinding-label-nodes.yaml", "gpuconf-label-nodes")],
)
def test_bindings_grant_their_role_to_the_service_account_only(name: str, role: str) -> None:
    """Each binding: one ClusterRole, to the ServiceAccount of serviceaccount.yaml and no one else."""
    (binding,) = docs(name)
    assert binding["kind"] == "ClusterRoleBinding" and binding["metadata"]["name"] == role
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SA_NAME, "namespace": SA_NAMESPACE}]
    find("serviceaccount.yaml", "ServiceAccount", SA_NAME)
    find("serviceaccount.yaml", "Namespace", SA_NAMESPACE)
    assert find("serviceaccount.yaml", "ServiceAccount", SA_NAME)["metadata"]["namespace"] == SA_NAMESPACE


def _job() -> dict[str, Any]:
    return find("job.yaml", "Job", "gpuconf-conformance")


def _job_script() -> str:
    container = _job()["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["bash", "-c"] and len(container["args"]) == 1
    return container["args"][0]


def test_job_runs_the_suite_in_cluster_as_the_service_account() -> None:
    """The Job: account gpuconf, the cluster backend, reports on a mounted volume, no retries, bounded."""
    job = _job()
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert job["metadata"]["namespace"] == SA_NAMESPACE and pod["serviceAccountName"] == SA_NAME
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 3600 and spec["ttlSecondsAfterFinished"] > 0
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["image"] == "gpuconf:latest"
    words = shlex.split(_job_script().splitlines()[0])
    assert words[:4] == ["python", "-m", "pytest", "suites"]
    assert "--backend=cluster" in words and "--report-dir=/reports" in words
    assert words[words.index("-m", 3) + 1] == "not slow"
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/reports")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert "emptyDir" in volume and not mount.get("readOnly")
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind


def test_job_pod_is_locked_down() -> None:
    """Non-root (numeric uid, so the kubelet can verify it), no privilege escalation, no capabilities."""
    pod = _job()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
    # A read-only root filesystem needs somewhere writable for HOME and temp files.
    if sc.get("readOnlyRootFilesystem"):
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}
        assert {"name": "HOME", "value": "/tmp"} in container["env"]


@pytest.mark.parametrize("pytest_rc", [0, 1, 4])
def test_job_script_keeps_pytests_exit_code_and_prints_the_summary(tmp_path: Path, pytest_rc: int) -> None:
    """Run the Job's real script with a stand-in `python`: the summary reaches the log, the exit code stays."""
    reports = tmp_path / "reports"
    reports.mkdir()
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(
        f"#!/bin/sh\necho \"$@\" > {reports}/argv\necho '# summary: {pytest_rc}' > {reports}/summary.md\n"
        f"exit {pytest_rc}\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    script = _job_script().replace("/reports", str(reports))
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == pytest_rc, out.stderr
    assert f"# summary: {pytest_rc}" in out.stdout
    assert (reports / "argv").read_text().split() == [
        "-m",
        "pytest",
        "suites",
        "-m",
        "not",
        "slow",
        "--backend=cluster",
        f"--report-dir={reports}",
    ]


# -- Dockerfile ---------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_base_image_matches_the_ray_pin() -> None:
    """ray[serve]==X in requirements.txt ↔ FROM rayproject/ray:X-…, so the image's Ray is the tested one."""
    pin = re.search(r"^ray\[serve\]==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin, "requirements.txt pins no ray[serve]"
    instrs = _dockerfile()
    args = dict(a.split("=", 1) for i, a in instrs if i == "ARG" and "=" in a)
    (base,) = [a for i, a in instrs if i == "FROM"]
    base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], base)
    repo, _, tag = base.partition(":")
    assert repo == "rayproject/ray" and tag.split("-")[0] == pin.group(1), base
    # The Ray image of the RayCluster under test is the same Ray too (use (b) of the Dockerfile).
    assert f"rayproject/ray:{pin.group(1)}-py311" in (ROOT / "manifests" / "raycluster.yaml").read_text()


def test_dockerfile_copies_what_the_suite_needs_and_runs_it_as_the_job_does() -> None:
    """Pinned deps installed, every COPY source present, non-root at the end, CMD = the Job's script."""
    instrs = _dockerfile()
    assert ("RUN", "pip install --no-cache-dir -r requirements.txt") in instrs
    copied = {w for i, a in instrs if i == "COPY" for w in a.split()[:-1] if not w.startswith("--")}
    assert {
        "requirements.txt",
        "gpuconf/",
        "entrypoints/",
        "suites/",
        "benchmarks/",
        "manifests/",
        "conftest.py",
        "pytest.ini",
        "Makefile",
    } <= copied
    for src in copied:
        assert (ROOT / src).exists(), src
    assert ("WORKDIR", "/app") in instrs
    user = [a for i, a in instrs if i == "USER"][-1]
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user), f"final USER {user!r}: numeric and non-root, for runAsNonRoot"
    assert str(_job()["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == user.split(":")[0]
    (cmd,) = [a for i, a in instrs if i == "CMD"]
    assert yaml.safe_load(cmd) == ["bash", "-c", _job_script()]  # JSON exec form; JSON is YAML


def test_dockerignore_keeps_local_state_out() -> None:
    """The virtualenv, reports, build cache and git history never enter the build context."""
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "reports", "build"} <= ignored
