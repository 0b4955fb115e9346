"""gpuconf: GPU conformance for Ray Serve on Kubernetes (KubeRay)."""

__version__ = "0.1.0"
