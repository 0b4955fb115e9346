"""Clusters to run the live backends on, apart from the backends that use them.

- :mod:`.kwok`      a real Kubernetes control plane on loopback with kwok nodes and the KubeRay operator
- :mod:`.kind`      a local kind cluster with a fake GPU node (for the cluster backend)
- :mod:`.realpods`  the kwok tier's control plane with real kubelets, containerd and fake GPUs

Ports, network namespaces and stopping processes come from :mod:`gpuconf.host`, shared with the backends.
"""
