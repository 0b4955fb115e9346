# gpuconf in an image, for teams that bake the suite into what they deploy. Two uses:
#
#  (a) The image the in-cluster Job runs (manifests/rbac/job.yaml): the suite with its pinned
#      dependencies, run as the least-privileged ServiceAccount gpuconf.
#        docker build -t <registry>/gpuconf:<tag> .
#        docker push <registry>/gpuconf:<tag>      # then set it as the image in job.yaml
#  (b) The Ray image of the RayCluster under test (the `image:` of manifests/raycluster.yaml):
#      `entrypoints/` is then importable in every Ray node from /app, so the Serve application
#      needs no runtime_env upload of the working directory. GPU worker groups need the CUDA
#      variant of the base image:
#        docker build --build-arg RAY_IMAGE=rayproject/ray:2.60.0-py311-gpu -t <registry>/gpuconf:<tag>-gpu .
#
# The Ray version of the base image must be the one pinned in requirements.txt (ray[serve]==X);
# tests/test_rbac.py checks that the default below matches the pin.
ARG RAY_IMAGE=rayproject/ray:2.60.0-py311
FROM ${RAY_IMAGE}

# The base image runs as `ray` (uid 1000, gid 100 `users`), who owns its Python environment.
# Numeric, so Kubernetes can verify runAsNonRoot.
USER 1000:100
WORKDIR /app

# Dependencies first, so a code change does not reinstall them. Ray itself is already in the
# image at the pinned version; pip only adds what is missing (torch, kubernetes, pytest, ...).
COPY --chown=1000:100 requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY --chown=1000:100 gpuconf/ gpuconf/
COPY --chown=1000:100 entrypoints/ entrypoints/
COPY --chown=1000:100 suites/ suites/
COPY --chown=1000:100 benchmarks/ benchmarks/
COPY --chown=1000:100 manifests/ manifests/
COPY --chown=1000:100 conftest.py pytest.ini Makefile ./

# /reports: where the Job's emptyDir is mounted; created here too so `docker run` works without one.
USER root
RUN mkdir -p /reports && chown 1000:100 /reports
USER 1000:100

# `entrypoints` (and gpuconf) importable from any working directory, e.g. a Ray worker's.
ENV PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Default: the in-cluster suite, exactly as job.yaml runs it (pytest's exit code, summary.md in the log).
# As a Ray image, (b), KubeRay replaces this command with `ray start ...`.
CMD ["bash", "-c", "python -m pytest suites -m \"not slow\" --backend=cluster --report-dir=/reports\nrc=$?\ncat /reports/summary.md\nexit $rc\n"]
