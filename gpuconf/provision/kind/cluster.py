"""The kind cluster itself: create or reuse it, wait for its nodes, install KubeRay, fake the GPUs; delete it.

kind, helm (and, through kind, docker) run as subprocesses — they are the user's tools; their
output goes to stderr so that stdout carries only the kubeconfig path. Everything against the
API server goes through the official client.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gpuconf.kube.client import KubeClient
from gpuconf.kube.nodes import FAKE_GPU_LABEL, GPU_RESOURCE, ensure_fake_gpus
from gpuconf.kube.reach import cluster_answers
from gpuconf.provision.kind.paths import CLUSTER_CONFIG, CLUSTER_NAME, kubeconfig_path
from gpuconf.provision.kwok.versions import load_versions
from gpuconf.waits import wait_until

GPU_NODE_SELECTOR = "gpu-node=true"  # the label manifests/kind/cluster.yaml puts on the GPU worker
FAKE_GPUS_PER_NODE = 1
KUBERAY_RELEASE, KUBERAY_NAMESPACE = "kuberay-operator", "kuberay-system"
KUBERAY_HELM_REPO = "https://ray-project.github.io/kuberay-helm/"
KUBERAY_CRD = "rayclusters.ray.io"


class KindError(Exception):
    """A kind or helm command failed; the message names the command and its exit status."""


def run_tool(argv: list[str], capture: bool = False) -> str:
    """Run a user tool; return its stdout when `capture`, else stream it to stderr. Raises KindError."""
    print(f"+ {shlex.join(argv)}", file=sys.stderr, flush=True)
    try:
        stdout: Any = subprocess.PIPE if capture else sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr is not a real file (e.g. captured): collect instead
        stdout = subprocess.PIPE
    try:
        done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE if capture else None, text=True)
    except OSError as exc:
        raise KindError(f"`{shlex.join(argv)}` could not run: {exc}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or "").strip().splitlines()[-5:])
        raise KindError(f"`{shlex.join(argv)}` failed (exit {done.returncode})" + (f":\n{tail}" if tail else ""))
    return done.stdout or ""


def config_nodes(config: Path = CLUSTER_CONFIG) -> list[dict[str, Any]]:
    """The ``nodes`` of a kind Cluster config."""
    doc = yaml.safe_load(config.read_text()) or {}
    if doc.get("kind") != "Cluster" or not str(doc.get("apiVersion", "")).startswith("kind.x-k8s.io/"):
        raise KindError(f"{config}: not a kind Cluster config (kind: Cluster, apiVersion: kind.x-k8s.io/v1alpha4)")
    return list(doc.get("nodes") or [{"role": "control-plane"}])  # kind's default: one control-plane node


def cluster_exists(name: str = CLUSTER_NAME) -> bool:
    """True when ``kind get clusters`` lists `name`."""
    return name in run_tool(["kind", "get", "clusters"], capture=True).split()


def kuberay_chart_version() -> str:
    """The KubeRay chart version: ``KUBERAY_VERSION`` of build/versions.env without its ``v``."""
    return load_versions().kuberay.removeprefix("v")


@dataclass
class KindCluster:
    """The gpuconf kind cluster: its name, config and kubeconfig."""

    name: str = CLUSTER_NAME
    config: Path = CLUSTER_CONFIG
    kubeconfig: Path | None = None

    def __post_init__(self) -> None:
        if self.kubeconfig is None:
            self.kubeconfig = kubeconfig_path()

    @property
    def kubeconfig_file(self) -> Path:
        """The kubeconfig path (always set after construction)."""
        assert self.kubeconfig is not None
        return self.kubeconfig

    def up(self) -> Path:
        """Create the cluster unless it exists, wait for its nodes, install KubeRay, fake the GPUs.

        Idempotent: re-running it repairs what a restart undid (kubelets zero fake GPUs).
        Returns the kubeconfig path.
        """
        expected = len(config_nodes(self.config))
        self.kubeconfig_file.parent.mkdir(parents=True, exist_ok=True)
        if cluster_exists(self.name):
            print(f"kind cluster {self.name} exists: reusing it", file=sys.stderr)
            self._write_kubeconfig()  # the state folder may have been cleared since it was created
        else:
            run_tool(
                [
                    "kind",
                    "create",
                    "cluster",
                    "--name",
                    self.name,
                    "--config",
                    str(self.config),
                    "--kubeconfig",
                    str(self.kubeconfig_file),
                ]
            )
        kube = KubeClient(str(self.kubeconfig_file))
        wait_nodes_ready(kube, expected)
        self.install_kuberay()
        advertise_gpu_nodes(kube)
        return self.kubeconfig_file

    def _write_kubeconfig(self) -> None:
        text = run_tool(["kind", "get", "kubeconfig", "--name", self.name], capture=True)
        self.kubeconfig_file.write_text(text)
        self.kubeconfig_file.chmod(0o600)  # it holds the cluster-admin client key

    def install_kuberay(self) -> None:
        """Install (or upgrade to) the pinned KubeRay operator chart and wait for it to be ready."""
        run_tool(
            [
                "helm",
                "upgrade",
                "--install",
                KUBERAY_RELEASE,
                "kuberay-operator",
                "--repo",
                KUBERAY_HELM_REPO,
                "--version",
                kuberay_chart_version(),
                "--namespace",
                KUBERAY_NAMESPACE,
                "--create-namespace",
                "--kubeconfig",
                str(self.kubeconfig_file),
                "--wait",
                "--timeout",
                "5m",
            ]
        )

    def down(self) -> None:
        """Delete the cluster (absent is fine: kind says so and succeeds) and its kubeconfig."""
        run_tool(["kind", "delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig_file)])
        self.kubeconfig_file.unlink(missing_ok=True)

    def status(self) -> int:
        """Print the cluster, its nodes (Ready, GPUs) and KubeRay; 0 when all is as `up` leaves it, else 1."""
        if not cluster_exists(self.name):
            print(f"down (no kind cluster named {self.name}; `gpuconf kind up` creates it)")
            return 1
        if not self.kubeconfig_file.exists() or not cluster_answers(str(self.kubeconfig_file)):
            print(
                f"kind cluster {self.name} exists but {self.kubeconfig_file} does not reach it; "
                "`gpuconf kind up` rewrites it"
            )
            return 1
        kube = KubeClient(str(self.kubeconfig_file))
        ok = True
        for node in kube.core.list_node(_request_timeout=kube.timeout).items:
            labels = (node.metadata.labels if node.metadata else None) or {}
            gpus = ((node.status.allocatable if node.status else None) or {}).get(GPU_RESOURCE, "-")
            ready = _is_ready(node)
            gpu_node = labels.get("gpu-node") == "true"
            ok &= ready and (not gpu_node or gpus not in ("-", "0"))
            fake = " (fake)" if labels.get(FAKE_GPU_LABEL) == "true" else ""
            print(f"{_name(node):<32} {'Ready' if ready else 'NOT Ready':<10} {GPU_RESOURCE}={gpus}{fake}")
        kuberay = _crd_present(kube, KUBERAY_CRD)
        ok &= kuberay
        print(f"{'kuberay':<32} {'installed' if kuberay else 'NOT installed'}")
        print(f"{'kubeconfig':<32} {self.kubeconfig_file}")
        if not ok:
            print(
                "not as `up` leaves it: run `gpuconf kind up` "
                "(it also re-advertises fake GPUs that a kubelet restart zeroed)"
            )
        return 0 if ok else 1


def _name(obj: Any) -> str:
    """An API object's name (every object the API server returns has one)."""
    return str(obj.metadata.name)


def _is_ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


def _crd_present(kube: KubeClient, name: str) -> bool:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        client.ApiextensionsV1Api(kube.api).read_custom_resource_definition(name, _request_timeout=kube.timeout)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


class NodesNotReady(Exception):
    """The nodes that are not Ready yet (remembered by wait_until for its timeout message)."""


def wait_nodes_ready(kube: KubeClient, expected: int) -> list[str]:
    """Wait (tier ``kube``) until `expected` nodes exist and all are Ready; return their names."""

    def probe() -> list[str] | None:
        nodes = kube.core.list_node(_request_timeout=kube.timeout).items
        waiting = [_name(n) for n in nodes if not _is_ready(n)]
        if len(nodes) < expected or waiting:
            raise NodesNotReady(f"{len(nodes)}/{expected} nodes registered, not Ready: {waiting}")
        return sorted(_name(n) for n in nodes)

    names = wait_until(probe, f"{expected} kind nodes to be Ready", tier="kube", interval=1.0)
    print(f"nodes Ready: {', '.join(names)}", file=sys.stderr)
    return names


def advertise_gpu_nodes(
    kube: KubeClient, selector: str = GPU_NODE_SELECTOR, count: int = FAKE_GPUS_PER_NODE
) -> dict[str, bool]:
    """Give every node matching `selector` `count` fake GPUs (and the fake-GPU label); {node: patched}."""
    nodes = kube.core.list_node(label_selector=selector, _request_timeout=kube.timeout).items
    if not nodes:
        raise KindError(f"no node matches {selector}: is {CLUSTER_CONFIG} the config the cluster was made from?")
    done: dict[str, bool] = {}
    for node in nodes:
        name = _name(node)
        done[name] = ensure_fake_gpus(kube, name, count)
        note = "advertised" if done[name] else "already advertised"
        print(f"fake GPU: {name} {GPU_RESOURCE}={count} ({note}; labelled {FAKE_GPU_LABEL}=true)", file=sys.stderr)
    return done
