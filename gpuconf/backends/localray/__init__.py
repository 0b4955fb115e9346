"""Local Ray processes standing for pods, shared by the embedded and kwok backends.

- :mod:`.specs`      one NodeSpec per pod (from the plan, or from a real pod's `ray start`)
- :mod:`.gpus`       the host's GPUs and how they are shared out between nodes
- :mod:`.hostenv`    which of a pod's env vars a local Ray node on this host may take
- :mod:`.bind`       where the Ray services listen: loopback, or a network namespace with only `lo`
- :mod:`.launcher`   starts the nodes (head first), waits for them to join, stops them
- :mod:`.procs`      process bookkeeping: the run marker, teardown, `gpuconf cleanup`'s sweep
- :mod:`.ownership`  who owns a run, and every process that belongs to it
- :mod:`.reaper`     outlives the run's owner and stops the run when the owner dies without doing so
- :mod:`.logs`       a failing run's Ray logs, archived before teardown deletes them
- :mod:`.live`       a started cluster as a LiveCluster, each Ray node tied to its pod
"""
