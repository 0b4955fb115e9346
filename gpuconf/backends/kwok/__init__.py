"""The kwok backend: a RayCluster on the kwok control plane (gpuconf.provision.kwok), its bound pods as local Ray nodes.

- :mod:`.backend`   connect → RayCluster → local Ray node per bound pod → LiveCluster
- :mod:`.kubelet`   kwok's port-forward, exec and logs objects that reach each local node
- :mod:`.fidelity`  what the model predicted against what the real control plane did
"""
