"""Preflight of a cluster before anything is applied: each failure has its own message and exit code.

Environment failures (no cluster, no KubeRay, no GPU nodes, missing permissions) are
told apart from conformance failures: they exit 10-14 (gpuconf.errors), a failing check exits 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gpuconf.errors import (
    EXIT_NO_GPU_ALLOCATABLE,
    EXIT_NO_GPU_NODES,
    EXIT_NO_KUBERAY,
    EXIT_RBAC,
    EXIT_UNREACHABLE,
    InputError,
)
from gpuconf.inputs.expectations import Expectations
from gpuconf.kube.rbac import CLUSTER_ACCESS, NAMED_ACCESS, allowed, describe

KUBERAY_CRDS = ("rayclusters.ray.io", "rayservices.ray.io")
KUBERAY_INSTALL = (
    "helm repo add kuberay https://ray-project.github.io/kuberay-helm/ && "
    "helm install kuberay-operator kuberay/kuberay-operator --version 1.5.0"
)
# What preflight demands: the cluster-wide grants (the ClusterRole gpuconf). What reaches workloads
# (gpuconf.kube.rbac.RUN_ACCESS) is bound per run in the run's namespace, checked by the run itself.
REQUIRED_ACCESS = CLUSTER_ACCESS


@dataclass
class PreflightResult:
    """One preflight check: passed or not, what was seen, and the fix."""

    check: str
    ok: bool
    message: str
    exit_code: int = 0
    fix: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


class Budget:
    """One deadline for the whole preflight: every request may take only what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self, check: str) -> float:
        """Seconds left for the next request; BudgetSpent when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0.05:
            raise BudgetSpent(check, self.seconds)
        return left


class BudgetSpent(Exception):
    """Preflight ran out of its time budget during `check`."""

    def __init__(self, check: str, seconds: float) -> None:
        super().__init__(f"{check}: no answer within preflight's {seconds:g} s budget")
        self.check = check


@dataclass
class Reached:
    """Preflight's first check, and the API client that made it (None: no client could be built)."""

    result: PreflightResult
    api: Any = None  # a kubernetes.client.ApiClient


def run_preflight(
    kubeconfig: str | None,
    expectations: Expectations,
    timeout_s: float = 5.0,
    crds: tuple[str, ...] = KUBERAY_CRDS,
    budget_s: float = 30.0,
) -> list[PreflightResult]:
    """Every preflight check, in order; stops after an unreachable cluster (nothing else can be asked).

    `kubeconfig` None means the pod's own service account (the suite running as a Job).
    Time is bounded for real: the reachability request has `timeout_s`, the whole preflight
    `budget_s`, and urllib3's retries are off (with them one timeout is paid four times).
    A malformed kubeconfig raises InputError (exit 2, file:line): it is bad input, not an absent cluster.
    """
    budget = Budget(max(budget_s, timeout_s))
    reached = reach(kubeconfig, timeout_s)
    if reached.api is None or not reached.result.ok:
        return [reached.result]
    return [reached.result, *_cluster_checks(reached.api, expectations, crds, budget)]


def reach(kubeconfig: str | None, timeout_s: float = 5.0) -> Reached:
    """The "reachable" check: one API client of `kubeconfig` and one /version within `timeout_s`.

    The client has urllib3's retries off, so a request's timeout is all it can take; a run that
    goes on after preflight keeps using this client (gpuconf.backends.cluster). A malformed
    kubeconfig raises InputError.
    """
    from kubernetes import client

    from gpuconf.kube.client import api_client_for

    server = _server_of(kubeconfig)
    try:
        api = api_client_for(kubeconfig, retries=False)
    except InputError:
        raise
    except Exception as exc:  # in-cluster: no service account here
        return Reached(
            PreflightResult(
                "reachable",
                False,
                f"no API server at {server}: {exc}",
                EXIT_UNREACHABLE,
                "pass --kubeconfig, or run inside the cluster with a service account",
                {"server": server},
            )
        )
    try:
        version = client.VersionApi(api).get_code(_request_timeout=timeout_s)
    except Exception as exc:  # refused, TLS, timeout, in-cluster files missing: all "unreachable"
        return Reached(
            PreflightResult(
                "reachable",
                False,
                f"no API server answers at {server} within "
                f"{timeout_s:g} s: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}",
                EXIT_UNREACHABLE,
                "check the kubeconfig, the context and that the cluster is up",
                {"server": server},
            ),
            api,
        )
    return Reached(PreflightResult("reachable", True, f"API server {version.git_version} at {server}"), api)


def cluster_checks(
    api: Any, expectations: Expectations, crds: tuple[str, ...] = KUBERAY_CRDS, budget_s: float = 30.0
) -> list[PreflightResult]:
    """The checks after "reachable" (RBAC, KubeRay, GPU nodes), through the client `reach` built."""
    return _cluster_checks(api, expectations, crds, Budget(budget_s))


def _cluster_checks(
    api: Any, expectations: Expectations, crds: tuple[str, ...], budget: Budget
) -> list[PreflightResult]:
    from kubernetes import client

    results = _guarded("rbac", lambda: [_rbac(client.AuthorizationV1Api(api), budget)], budget)
    results += _guarded("kuberay", lambda: [_crds(client.ApiextensionsV1Api(api), crds, budget)], budget)
    results += _guarded("gpu-nodes", lambda: _gpu_nodes(client.CoreV1Api(api), expectations, budget), budget)
    return results


def _server_of(kubeconfig: str | None) -> str:
    """The server a kubeconfig points at (InputError when malformed), or the in-cluster one."""
    if kubeconfig:
        from gpuconf.kube.kubeconfig import read_kubeconfig

        return read_kubeconfig(kubeconfig).server
    import os

    host, port = os.environ.get("KUBERNETES_SERVICE_HOST", "?"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    return f"https://{host}:{port} (in-cluster service account)"


def _guarded(check: str, run: Any, budget: Budget) -> list[PreflightResult]:
    """A check the credentials may not be allowed to make: a 403 is an RBAC failure, not a crash.

    A check that runs out of the budget, or whose server stops answering, is "unreachable".
    """
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return list(run())
    except ApiException as exc:
        code = EXIT_RBAC if exc.status in (401, 403) else EXIT_UNREACHABLE
        return [
            PreflightResult(
                check,
                False,
                f"the API server refused the check: {exc.status} {exc.reason}",
                code,
                "grant the suite's ClusterRole to these credentials" if code == EXIT_RBAC else "",
            )
        ]
    except BudgetSpent as exc:
        return [
            PreflightResult(check, False, str(exc), EXIT_UNREACHABLE, "check that the API server is not overloaded")
        ]
    except (HTTPError, OSError) as exc:
        return [
            PreflightResult(
                check,
                False,
                f"the API server stopped answering within {budget.seconds:g} s: {type(exc).__name__}",
                EXIT_UNREACHABLE,
                "check that the API server is not overloaded",
            )
        ]


def _crds(ext: Any, names: tuple[str, ...], budget: Budget) -> PreflightResult:
    from kubernetes.client.exceptions import ApiException

    missing = []
    for name in names:
        try:
            ext.read_custom_resource_definition(name, _request_timeout=budget.left("kuberay"))
        except ApiException as exc:
            if exc.status != 404:
                raise
            missing.append(name)
    if missing:
        return PreflightResult(
            "kuberay",
            False,
            f"KubeRay CRDs missing: {', '.join(missing)}",
            EXIT_NO_KUBERAY,
            f"install the KubeRay operator: {KUBERAY_INSTALL}",
            {"missing": missing},
        )
    return PreflightResult("kuberay", True, f"KubeRay CRDs present: {', '.join(names)}")


def _gpu_nodes(core: Any, exp: Expectations, budget: Budget) -> list[PreflightResult]:
    from gpuconf.inputs.quantity import parse_quantity

    selector = ",".join(f"{k}={v}" for k, v in exp.gpu_node_selector.items())
    nodes = core.list_node(label_selector=selector, _request_timeout=budget.left("gpu-nodes")).items
    if not nodes:
        return [
            PreflightResult(
                "gpu-nodes",
                False,
                f"no node matches the GPU node selector {selector}",
                EXIT_NO_GPU_NODES,
                f"label the GPU nodes: kubectl label node <name> {selector.replace(',', ' ')}",
            )
        ]
    alloc = {n.metadata.name: str(exp.gpus(n.status.allocatable or {}) if n.status else 0) for n in nodes}
    found = PreflightResult("gpu-nodes", True, f"GPU nodes: {sorted(alloc)}", evidence={"allocatable": alloc})
    if not any(parse_quantity(v) > 0 for v in alloc.values()):
        return [
            found,
            PreflightResult(
                "gpu-allocatable",
                False,
                f"no GPU node advertises allocatable {exp.gpu_resources_text()}: {alloc}",
                EXIT_NO_GPU_ALLOCATABLE,
                "install the NVIDIA device plugin (or GPU operator) on the GPU nodes",
                {"allocatable": alloc},
            ),
        ]
    return [found, PreflightResult("gpu-allocatable", True, f"allocatable GPUs ({exp.gpu_resources_text()}): {alloc}")]


def _rbac(authz: Any, budget: Budget) -> PreflightResult:
    checks = [(g, r, v, None) for g, r, v in REQUIRED_ACCESS] + [(g, r, v, n) for g, r, v, n in NAMED_ACCESS]
    missing = [
        describe(g, r, v, n or "")
        for g, r, v, n in checks
        if not allowed(authz, g, r, v, name=n, timeout=budget.left("rbac"))
    ]
    if missing:
        return PreflightResult(
            "rbac",
            False,
            f"missing permissions: {', '.join(missing)}",
            EXIT_RBAC,
            "apply manifests/rbac (the ClusterRoles gpuconf and gpuconf-run) and bind gpuconf to this user "
            "or service account",
            {"missing": missing},
        )
    return PreflightResult("rbac", True, f"all {len(checks)} cluster-wide permissions granted")


def exit_code(results: list[PreflightResult]) -> int:
    """The exit code of the first failed check (0 when all passed)."""
    return next((r.exit_code for r in results if not r.ok), 0)


def raise_on_failure(results: list[PreflightResult]) -> None:
    """Raise an EnvironmentFailure naming every failed check and its fix (nothing when all passed)."""
    from gpuconf.errors import EnvironmentFailure

    failed = [r for r in results if not r.ok]
    if failed:
        text = "preflight failed: " + " | ".join(
            f"{r.check}: {r.message} (fix: {r.fix})" if r.fix else f"{r.check}: {r.message}" for r in failed
        )
        raise EnvironmentFailure(
            text,
            exit_code=exit_code(results),
            evidence={r.check: {"ok": r.ok, "message": r.message, **r.evidence} for r in results},
        )
