"""The live backends, one package each: each turns a plan into a running cluster (LiveCluster).

- :mod:`.registry`  the one place a backend is named (``--backend``), and ``auto``'s choice
- :mod:`.static`    no Ray: only the static checks run
- :mod:`.localray`  local Ray processes standing for pods (shared by embedded and kwok)
- :mod:`.embedded`  the plan's pods as local Ray nodes, no Kubernetes
- :mod:`.kwok`      a RayCluster on the kwok control plane, its bound pods as local Ray nodes
- :mod:`.cluster`   a real cluster (or kind), from outside or as an in-cluster Job

A backend imports :mod:`gpuconf.live`, :mod:`gpuconf.kube`, :mod:`gpuconf.host`, the static
modules, the provisioner it runs on and :mod:`.localray`; never another backend, never
:mod:`gpuconf.testing` (tests/test_layers.py holds every package to this).
"""
