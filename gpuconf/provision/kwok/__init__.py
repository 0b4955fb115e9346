"""The ``kwok`` backend's control plane, built from Go modules and run on loopback.

A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler), kwok playing kubelet for fake nodes, and the real KubeRay operator —
no Docker, no kind. Versions are pinned in ``build/versions.env``; binaries are built
once with the Go toolchain and cached by version outside the repository.

Modules, one concern each:

- :mod:`.versions`     reads ``build/versions.env``
- :mod:`.paths`        where the cache and the state directory live
- :mod:`.build`        ``go build`` / ``go install`` into the version-keyed cache
- :mod:`.certs`        local CA, serving/client certificates, service-account key
- :mod:`.kubeconfig`   writes kubeconfig files
- :mod:`.procs`        starts, records and stops background processes
- :mod:`.stages`       the kwok configuration with kwok's default Stages
- :mod:`.controlplane` brings the whole thing up and down
- :mod:`.nodes`        creates kwok Node objects from node-pool YAML files
- :mod:`.crds`         server-side applies the KubeRay CRDs
- :mod:`.cli`          ``up`` / ``down`` / ``status`` / ``kubeconfig``

Waits use the project's one helper, :func:`gpuconf.waits.wait_until` (tier ``kube``).
"""
