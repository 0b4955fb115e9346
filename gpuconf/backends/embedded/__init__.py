"""The embedded backend: a real local Ray cluster, one Ray node per planned pod.

- :mod:`.backend`      plan → local Ray nodes → LiveCluster
- :mod:`.autoscaling`  Ray's real autoscaler on the head, its node types read from the RayCluster
- :mod:`.provider`     Ray's fake multinode provider, each node it launches a pod of the plan
"""
