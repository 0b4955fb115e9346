"""The live tier's contract and the stages every backend shares (no pytest, no backend named here).

- :mod:`.contract`  LiveCluster (what a started backend hands the suites), Observed, Stopwatch
- :mod:`.settings`  what a run is pointed at (Settings)
- :mod:`.serve`     the Serve deploy step: one Serve config onto a running cluster, and its removal
- :mod:`.observe`   the probe path: every replica's probe and a zero-GPU probe per Ray node
- :mod:`.devices`   the GPU-device check run in a pod, and its parsed output
- :mod:`.verdicts`  pure verdicts over what the probes and device checks saw
- :mod:`.auth`      the driver side of Ray's token auth
"""
