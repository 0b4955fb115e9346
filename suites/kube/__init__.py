"""Conformance checks read from the Kubernetes API: where the pods of the cluster under test were bound."""
