"""What a run needs of this host, shared by the provisioners, the backends and the tools that drive processes.

- :mod:`.ports`       free TCP ports on loopback
- :mod:`.namespaces`  what every private network namespace shares: the flag, the off switch, who is inside
- :mod:`.procs`       stop a process group: SIGTERM, a grace period, SIGKILL

Nothing here imports another gpuconf package but :mod:`gpuconf.errors` and :mod:`gpuconf.waits`
(tests/test_layers.py holds it to that).
"""
