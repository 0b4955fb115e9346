"""The live tier's contract and the stages every backend shares (no pytest, no backend named here).

- :mod:`.contract`    Backend and LiveCluster (what a started backend hands the suites), Observed, Stopwatch
- :mod:`.settings`    what a run is pointed at (Settings)
- :mod:`.artifacts`   the one folder naming of diagnostics: reports/<test id>/, reports/<backend>-<namespace>/
- :mod:`.serve`       the Serve deploy step: one Serve config onto a running cluster, and its removal
- :mod:`.apps`        which Serve config runs on a session's cluster (apps come and go per test)
- :mod:`.replicas`    the Serve apps as deployed: every deployment, its options and its replicas
- :mod:`.observe`     the probe path: every replica's probe and a zero-GPU probe per Ray node
- :mod:`.devices`     the GPU-device check run in a pod, and its parsed output
- :mod:`.allocation`  is the GPU a replica uses the one the device plugin allocated to its pod?
- :mod:`.verdicts`    pure verdicts over what the probes and device checks saw
- :mod:`.cuda`        the one decision about physical GPUs: run a CUDA check, skip it, or fail it
- :mod:`.timeline`    the scaling timeline: replicas, pods and Ray nodes sampled over time
- :mod:`.auth`        the driver side of Ray's token auth
"""
