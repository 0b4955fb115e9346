"""Ray's own KubeRay autoscaler, run as KubeRay's head sidecar runs it, against the kwok API server.

With ``enableInTreeAutoscaling: true`` KubeRay v1.5.0 puts an ``autoscaler`` container into the
head pod (ray-operator common/pod.go, BuildAutoscalerContainer): ``ray kuberay-autoscaler
--cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)`` with the pod's
service account, whose Role KubeRay also makes (pods get/list/watch/patch, rayclusters get/patch).
Here that container's command and env are read from the real head pod and run from the pinned
Ray in the venv, with what a pod gives it and nothing more:

- a token of the pod's ServiceAccount (TokenRequest API), the cluster CA and the namespace at
  ``/var/run/secrets/kubernetes.io/serviceaccount`` inside a private mount namespace of this
  process only (``unshare --mount``; see podmount), and ``KUBERNETES_SERVICE_HOST`` and
  ``KUBERNETES_SERVICE_PORT(_HTTPS)`` naming the API server;
- the GCS address of the local head (``--gcs-address``): in the pod it is ``<pod IP>:6379``,
  here the head's port is remapped, like every port of the local nodes;
- the autoscaler's metrics port remapped to a free one (``AUTOSCALER_METRIC_PORT``).

The process is the run's: its own session, recorded in the run's lock (the reaper stops it
if the owner dies), the run's marker in its env, stopped by ``stop()``; its output is a file
that goes into the diagnostics.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gpuconf.backends.localray import procs
from gpuconf.backends.localray.launcher import LocalRayCluster, spawn_owned
from gpuconf.host.ports import free_port
from gpuconf.kube.client import KubeClient
from gpuconf.model.shell import bash_words
from gpuconf.waits import wait_until

SIDECAR = "autoscaler"  # KubeRay's AutoscalerContainerName
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD_LABEL = re.compile(r"^metadata\.labels\['([^']+)'\]$")
_TOKEN_SECONDS = 3600


class AutoscalerError(RuntimeError):
    """The head pod's autoscaler container cannot be run here; the message says why."""


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion of a command or arg: `$$` is a `$`, an unknown `$(X)` stays."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR.sub(sub, text)


def _field(pod: dict[str, Any], path: str) -> str | None:
    meta = pod.get("metadata") or {}
    label = _FIELD_LABEL.match(path)
    if label:
        return (meta.get("labels") or {}).get(label.group(1))
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
        "status.podIP": (pod.get("status") or {}).get("podIP"),
    }
    return simple.get(path)


def container_env(pod: dict[str, Any], container: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The container's env as the kubelet resolves it (values, downward-API fields, `$(VAR)` in order).

    Returns the env and what could not be resolved here (secret/config-map references).
    """
    env: dict[str, str] = {}
    skipped: list[str] = []
    for item in container.get("env") or []:
        name = str(item.get("name"))
        if "value" in item and item["value"] is not None:
            env[name] = expand(str(item["value"]), env)
            continue
        source = item.get("valueFrom") or {}
        field = (source.get("fieldRef") or {}).get("fieldPath")
        value = _field(pod, str(field)) if field else None
        if value is None:
            skipped.append(f"{name} ({', '.join(source) or 'no value'})")
            continue
        env[name] = value
    return env, skipped


def autoscaler_argv(container: dict[str, Any], env: dict[str, str], gcs_address: str) -> list[str]:
    """The sidecar's `ray kuberay-autoscaler` command, with the venv's `ray` and the local head's GCS.

    KubeRay runs it as `/bin/bash -lc -- "<args>"`; bash's words are taken (as the launcher does
    for `ray start`) and exec'd directly: a login shell here would reset PATH to the host's.
    """
    full = [expand(str(w), env) for w in [*(container.get("command") or []), *(container.get("args") or [])]]
    words = full
    if full and Path(full[0]).name in ("bash", "sh"):
        rest = full[1:]
        while rest and rest[0].startswith("-") and "c" not in rest[0].lstrip("-"):
            rest = rest[1:]
        if not rest or "c" not in rest[0].lstrip("-"):
            raise AutoscalerError(f"autoscaler container runs {full!r}: a shell without -c")
        rest = rest[1:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        if not rest:
            raise AutoscalerError(f"autoscaler container runs {full!r}: no script after -c")
        try:
            words = bash_words(rest[0])
        except ValueError as exc:
            raise AutoscalerError(f"autoscaler script {rest[0]!r}: bash cannot split it ({exc})") from None
    if words[:2] != ["ray", "kuberay-autoscaler"]:
        raise AutoscalerError(
            f"autoscaler container runs {words!r}, not `ray kuberay-autoscaler ...`: only Ray's own "
            "KubeRay autoscaler can be run from the venv's Ray"
        )
    out = [str(Path(sys.executable).with_name("ray")), *words[1:]]
    if not any(w == "--gcs-address" or w.startswith("--gcs-address=") for w in out):
        out.append(f"--gcs-address={gcs_address}")
    return out


def _sidecar(pod: dict[str, Any]) -> dict[str, Any]:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == SIDECAR:
            return dict(container)
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    raise AutoscalerError(f"head pod {pod['metadata']['name']} has no {SIDECAR!r} container (it has {names})")


def request_token(kube: KubeClient, namespace: str, account: str) -> str:
    """A token of the ServiceAccount, from the TokenRequest API (what the kubelet projects into a pod)."""
    from kubernetes import client

    wait_until(
        lambda: kube.core.read_namespaced_service_account(account, namespace, _request_timeout=kube.timeout),
        f"ServiceAccount {namespace}/{account} (KubeRay creates it for the autoscaler)",
        tier="kube",
        interval=0.5,
    )
    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=_TOKEN_SECONDS)
    )
    made = kube.core.create_namespaced_service_account_token(account, namespace, body, _request_timeout=kube.timeout)
    if made.status is None or not made.status.token:
        raise AutoscalerError(f"TokenRequest for {namespace}/{account} returned no token")
    return str(made.status.token)


@dataclass
class Autoscaler:
    """The running `ray kuberay-autoscaler` of one RayCluster."""

    proc: subprocess.Popen[bytes]
    argv: list[str]
    env: dict[str, str]
    log: Path
    service_account: str
    secrets_dir: Path
    unresolved_env: list[str]

    def exit_code(self) -> int | None:
        """None while it runs."""
        return self.proc.poll()

    def log_tail(self, lines: int = 20) -> str:
        """The end of its output."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def evidence(self) -> dict[str, Any]:
        """What was run, as whom, and how it is doing."""
        return {
            "argv": self.argv,
            "service_account": self.service_account,
            "env": {k: v for k, v in self.env.items() if not k.startswith("RAY_AUTH")},
            "unresolved_env": self.unresolved_env,
            "pid": self.proc.pid,
            "exit_code": self.exit_code(),
            "log": str(self.log),
        }

    def copy_log(self, dest: Path) -> Path:
        """Copy its output into a diagnostics folder; returns the copy."""
        dest.mkdir(parents=True, exist_ok=True)
        out = dest / "autoscaler.log"
        if self.log.exists():
            shutil.copyfile(self.log, out)
        return out

    def stop(self, grace_s: float = 5.0) -> int:
        """Stop every process of its session (it runs `ray health-check` children); returns how many."""
        import psutil

        found = []
        for pid in procs.session_pids(self.proc.pid):
            try:
                found.append(psutil.Process(pid))
            except psutil.Error:
                continue
        stopped = procs.terminate(found, grace_s)
        self.proc.poll()
        shutil.rmtree(self.secrets_dir, ignore_errors=True)
        return stopped


def start_autoscaler(kube: KubeClient, namespace: str, head_pod: str, cluster: LocalRayCluster) -> Autoscaler:
    """Run the head pod's autoscaler container locally against the API server and the local head."""
    raw = kube.to_dict(kube.core.read_namespaced_pod(head_pod, namespace, _request_timeout=kube.timeout))
    container = _sidecar(raw)
    pod_env, unresolved = container_env(raw, container)
    account = str((raw.get("spec") or {}).get("serviceAccountName") or "default")
    token = request_token(kube, namespace, account)
    configuration = kube.api.configuration
    server = urlsplit(str(configuration.host))
    ca = configuration.ssl_ca_cert
    if not ca or server.hostname is None:
        raise AutoscalerError(f"the kubeconfig gives no CA file or no host ({configuration.host!r})")
    # What the kubelet projects into the pod; a private folder of the run (removed with it).
    secrets_dir = Path(tempfile.mkdtemp(prefix="sa-", dir=cluster.temp_dir))
    secrets_dir.chmod(0o700)
    (secrets_dir / "token").write_text(token)
    shutil.copyfile(ca, secrets_dir / "ca.crt")
    (secrets_dir / "namespace").write_text(namespace)
    argv = autoscaler_argv(container, pod_env, cluster.gcs_address)
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "RAY_ADDRESS")}
    overrides = {
        **pod_env,
        "KUBERNETES_SERVICE_HOST": server.hostname,
        # What the kubelet sets for the `kubernetes` Service (Ray reads the _HTTPS one), here the API server itself.
        "KUBERNETES_SERVICE_PORT": str(server.port or 443),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(server.port or 443),
        "AUTOSCALER_METRIC_PORT": str(free_port()),
        procs.RUN_ENV: cluster.run_id,
        "PATH": os.pathsep.join(filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH", "")])),
        "RAY_USAGE_STATS_ENABLED": "0",
        **cluster.auth_env,
    }
    env.update(overrides)
    log = cluster.temp_dir / "autoscaler.log"
    wrapped = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        sys.executable,
        "-m",
        "gpuconf.backends.kwok.podmount",
        str(secrets_dir),
        "--",
        *argv,
    ]
    proc = spawn_owned(cluster, wrapped, env, log)  # the reaper stops it with the run's Ray nodes
    return Autoscaler(proc, argv, overrides, log, account, secrets_dir, unresolved)
