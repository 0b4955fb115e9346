"""The realpods tier: a local Kubernetes with real kubelets, containerd and fake GPUs.

The kwok tier's control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
KubeRay) runs inside a network namespace this tier creates, next to two real nodes (a CPU node
and a tainted GPU node with a fake GPU device plugin), each with its own containerd, mount
namespace, ports, cgroup root and pod subnet. See docs/realpods.md.
"""
