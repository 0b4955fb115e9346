"""The realpods tier: a local Kubernetes with real kubelets, containerd and fake GPUs.

The kwok tier's control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
KubeRay) runs inside a network namespace this tier creates, next to two real nodes (a CPU node
and a tainted GPU node with a fake GPU device plugin), each with its own containerd, mount
namespace, ports, cgroup root and pod subnet. See docs/realpods.md.

- :mod:`.layout`          names, addresses and folders of the tier (one place)
- :mod:`.host`            the network namespace, cgroups, processes by namespace, mounts
- :mod:`.identity`        each kubelet's client certificate
- :mod:`.images`          images made locally, imported into each containerd
- :mod:`.nvidia_runtime`  a fake NVIDIA container runtime (runc after exposing the named GPUs)
- :mod:`.node`            one real node: mount namespace, containerd, kubelet, the fake GPU plugin
- :mod:`.dns`             cluster DNS answered from EndpointSlices
- :mod:`.podresources`    a client of the kubelet's pod-resources API
- :mod:`.allocations`     what the device plugin allocated, read where the kubelet keeps it
- :mod:`.cluster`         ``up``, ``status`` and ``down``
- :mod:`.cli`             the command line (``python -m gpuconf.provision.realpods``)
"""
