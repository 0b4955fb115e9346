"""Cluster DNS: dnsmasq answering ``<service>.<ns>.svc.cluster.local`` from EndpointSlices.

KubeRay 1.5's head Service is headless, so workers need DNS and nothing else (there is no
kube-proxy here). This process runs dnsmasq in the foreground and, once a second, rewrites
its hosts file from every EndpointSlice (each Service name maps to its endpoints' addresses)
and sends it SIGHUP when the file changed. Run as ``python -m gpuconf.provision.realpods.dns
<kubeconfig> <folder>`` inside the tier's network namespace.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpuconf.provision.realpods.layout import CLUSTER_DOMAIN, DNS_IP


def hosts_lines(slices: Sequence[Any]) -> list[str]:
    """``<ip> <svc>.<ns>.svc.<domain>`` for every address of every EndpointSlice (sorted)."""
    lines = set()
    for s in slices:
        meta = s.metadata
        service = (meta.labels or {}).get("kubernetes.io/service-name")
        if not service:
            continue
        for ep in s.endpoints or []:
            for ip in ep.addresses or []:
                lines.add(f"{ip} {service}.{meta.namespace}.svc.{CLUSTER_DOMAIN}")
                if ep.hostname:  # pods of a headless service with a hostname (StatefulSet style)
                    lines.add(f"{ip} {ep.hostname}.{service}.{meta.namespace}.svc.{CLUSTER_DOMAIN}")
    return sorted(lines)


def main(argv: list[str]) -> int:
    """Run dnsmasq and keep its hosts file in step with the cluster's EndpointSlices."""
    from kubernetes import client, config

    kubeconfig, folder = argv[0], Path(argv[1])
    hosts = folder / "cluster.hosts"
    hosts.write_text("")
    dnsmasq = subprocess.Popen(
        [
            "dnsmasq",
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--user=root",
            "--pid-file=",
            f"--addn-hosts={hosts}",
            f"--listen-address={DNS_IP}",
            "--bind-interfaces",
            # Names in cluster.local that are not known get NXDOMAIN (not REFUSED) for search paths.
            f"--local=/{CLUSTER_DOMAIN}/",
            "--log-facility=-",
        ]
    )

    def stop(*_: object) -> None:
        dnsmasq.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    api = client.DiscoveryV1Api(config.new_client_from_config(config_file=kubeconfig))
    current = ""
    while dnsmasq.poll() is None:
        try:
            text = "\n".join(hosts_lines(api.list_endpoint_slice_for_all_namespaces(_request_timeout=5).items))
        except Exception as err:  # the API server restarting or busy: keep the last answer
            print(f"[dns] list EndpointSlices: {err}", file=sys.stderr, flush=True)
            time.sleep(2)
            continue
        if text != current:
            hosts.write_text(text + "\n")
            dnsmasq.send_signal(signal.SIGHUP)
            current = text
        time.sleep(1)
    return dnsmasq.returncode or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
