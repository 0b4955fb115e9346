"""The Kubernetes client layer shared by the kwok and cluster backends.

- :mod:`.kubeconfig`  a kubeconfig read as an input (malformed: exit 2 with file:line)
- :mod:`.client`      KubeClient: namespaces, RayCluster apply, pods/nodes/events, NamespaceGuard
- :mod:`.reach`       is a cluster there? (fast, never hangs)
- :mod:`.preflight`   can this cluster run the suite? each failure its own exit code (10-14)
- :mod:`.rbac`        what the suite may do, and the per-run grant that reaches workloads
- :mod:`.names`       namespace names and the labels that find a run's leftovers
- :mod:`.objects`     plain views of pods and nodes (PodInfo, NodeInfo)
- :mod:`.nodes`       labels gpuconf puts on nodes and takes back, and fake GPUs for kind
- :mod:`.dashboard`   the head pod's dashboard port, as its `ray start` sets it
- :mod:`.wait`        wait for a RayCluster (or for its pods to settle Pending)
- :mod:`.deploy`      one RayCluster in its own namespace, read back, cleaned up
- :mod:`.diagnostics` events, RayCluster status, pods and nodes, written before cleanup
- :mod:`.view`        what the API server says of a session's cluster (LiveCluster.kube)
"""
