"""gpuconf: GPU conformance for Ray Serve on Kubernetes (KubeRay).

The packages, bottom layer first (each may import only packages listed before it; docs/architecture.md
and tests/test_layers.py):

- :mod:`.errors`, :mod:`.waits`  errors and exit codes; the one wait helper and its timeout tiers
- :mod:`.host`       ports, network namespaces, stopping a process group
- :mod:`.inputs`     reading the manifests, node pools and expectations, with file:line
- :mod:`.model`      KubeRay's pod builder, the scheduler and Ray's scheduling, and the plan they make
- :mod:`.static`     the rules over the plan and `gpuconf check`
- :mod:`.kube`       the Kubernetes client layer: preflight, RBAC, one RayCluster in its namespace
- :mod:`.live`       the live tier's contract (Backend, LiveCluster) and what every backend shares
- :mod:`.provision`  clusters to run on (kwok, kind, realpods)
- :mod:`.backends`   the backends, one package each, and the registry that names them
- :mod:`.bench`      the GPU-vs-CPU benchmark's logic
- :mod:`.testing`    the pytest edge: options, fixtures, the central skip, reports
- :mod:`.soak`       interrupted runs under load, counted for leftovers
- :mod:`.cli`        the command line (also ``python -m gpuconf``)
"""

__version__ = "0.1.0"
