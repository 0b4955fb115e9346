"""The cluster backend: the suites against a real cluster (or kind), from outside or as an in-cluster Job.

- :mod:`.podenv`      the downward-API env the suite adds to every Ray container (pod and node name)
- :mod:`.portforward` local ports forwarded to a pod through the API server (no kubectl)
- :mod:`.podexec`     a short command run in a pod, and the GPU-device check of head and CPU pods
- :mod:`.upload`      `entrypoints/` shipped as a Ray working_dir through the dashboard (no image build)
- :mod:`.nodeprobe`   a Ray job that probes every Ray node with a zero-GPU task, tied to its pod
- :mod:`.endpoints`   the head's dashboard and Serve: port-forwards from outside, service DNS inside
- :mod:`.backend`     preflight → namespace → RayCluster → Serve target → LiveCluster
"""
