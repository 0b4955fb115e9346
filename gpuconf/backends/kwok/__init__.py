"""The kwok backend: a RayCluster on the kwok control plane (gpuconf.provision.kwok), its bound pods as local Ray nodes.

- :mod:`.backend`     connect → RayCluster → local Ray node per bound pod → LiveCluster
- :mod:`.kubelet`     kwok's port-forward, exec and logs objects that reach each local node
- :mod:`.autoscaler`  Ray's own KubeRay autoscaler, run as KubeRay's head sidecar runs it
- :mod:`.podmount`    a pod's service-account files for one process, in a mount namespace of its own
- :mod:`.fidelity`    what the model predicted against what the real control plane did
"""
