"""A local kind cluster with a fake GPU node, for the `cluster` backend: ``gpuconf kind up|down|status``.

- :mod:`.paths`   where its state lives (``~/.cache/gpuconf/kind``) and the shipped kind config
- :mod:`.tools`   are docker (answering), kind and helm installed? what to do when not (exit 3)
- :mod:`.cluster` create/delete the kind cluster, wait for its nodes, install KubeRay, fake the GPUs
- :mod:`.cli`     the command line

Only the user's tools (docker, kind, helm) run as subprocesses; everything against the API
server goes through the official client (gpuconf.kube).
"""
