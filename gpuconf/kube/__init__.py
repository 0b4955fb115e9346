"""The Kubernetes client layer shared by the kwok and cluster backends."""
