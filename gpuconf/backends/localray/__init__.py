"""Local Ray processes standing for pods, shared by the embedded and kwok backends.

- :mod:`.specs`     one NodeSpec per pod (from the plan, or from a real pod's `ray start`)
- :mod:`.gpus`      the host's GPUs and how they are shared out between nodes
- :mod:`.procs`     process bookkeeping: the run marker, teardown, `gpuconf cleanup`'s sweep
- :mod:`.launcher`  starts the nodes (head first), waits for them to join, stops them
- :mod:`.live`      a started cluster as a LiveCluster, each Ray node tied to its pod
"""
