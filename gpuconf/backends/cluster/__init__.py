"""The cluster backend: the suites against a real cluster (or kind), from outside or as an in-cluster Job.

- :mod:`.backend`     preflight → namespace → RayCluster → Serve target → LiveCluster
- :mod:`.podenv`      the downward-API env the suite adds to every Ray container (pod and node name)
- :mod:`.portforward` local ports forwarded to a pod through the API server (no kubectl)
- :mod:`.endpoints`   the head's dashboard and Serve: port-forwards from outside, service DNS inside
- :mod:`.podexec`     a short command run in a pod, and the GPU-device check of head and CPU pods
- :mod:`.upload`      `entrypoints/` shipped as a Ray working_dir through the dashboard (no image build)
- :mod:`.jobs`        Ray jobs that carry their own code: the node probe and the replica probe
- :mod:`.nodeprobe`   a Ray job that probes every Ray node with a zero-GPU task, tied to its pod
- :mod:`.target`      the real cluster as a Serve target: the config as deployed, the Ray nodes alive
- :mod:`.view`        what the backend knows of the cluster: pods, nodes, what ran in the pods
- :mod:`.refresh`     refresh(): pods and nodes read again, new Ray nodes probed and tied to pods
- :mod:`.scaling`     --allow-scaling: a time budget, and the worker groups put back as found
"""
