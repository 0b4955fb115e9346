"""The Kubernetes client layer shared by the kwok and cluster backends.

- :mod:`.reach`       is a cluster there? (fast, never hangs)
- :mod:`.names`       namespace names and the labels that find a run's leftovers
- :mod:`.objects`     plain views of pods and nodes (PodInfo, NodeInfo)
- :mod:`.client`      KubeClient: namespaces, RayCluster apply, pods/nodes/events, NamespaceGuard
- :mod:`.wait`        wait for a RayCluster (or for its pods to settle Pending)
- :mod:`.diagnostics` events, RayCluster status, pods and nodes, written before cleanup
- :mod:`.deploy`      one RayCluster in its own namespace, read back, cleaned up
"""
