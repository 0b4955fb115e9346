# gpuconf: GPU conformance for Ray Serve on KubeRay.
#   make conformance   set up and run the main job (embedded backend unless BACKEND=...)
#   make test          set up and run the project's tests and every suite that can run here
#   make conformance BACKEND=cluster KUBECONFIG=...   the same suites against a real cluster (or kind)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQ_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
BACKEND ?= embedded
MANIFESTS ?= manifests
REPORTS ?= reports
PYTEST_ARGS ?=
KUBECONFIG_ARG := $(if $(KUBECONFIG),--kubeconfig=$(KUBECONFIG),)
# Benchmark baselines are kept per GPU model (pytest-benchmark does not record which GPU).
GPU_MODEL := $(shell nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1 | tr -cs 'A-Za-z0-9.-' '_' | sed 's/_$$//')
BENCH_STORAGE ?= .benchmarks/$(or $(GPU_MODEL),cpu)

# Control-plane versions for the kwok backend (one place: build/versions.env).
include build/versions.env

.PHONY: setup test test-kwok conformance check preflight bench cluster-build cluster-up cluster-down cluster-status \
	kind-up kind-down kind-status realpods-debs realpods-up realpods-status realpods-down test-realpods cleanup clean

setup: $(STAMP)

# Re-installs only when requirements.txt changes (the stamp carries its hash).
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip==25.3
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

test: setup
	$(BIN)/python -m pytest tests suites benchmarks --report-dir=$(REPORTS)/test $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-kwok

# The kwok backend: the real control plane (built from Go modules once, then cached), the model
# fidelity tests and the same suites against it; the control plane goes down even on failure.
# The live regression cases already ran on the embedded backend above.
test-kwok: setup
	$(BIN)/python -m gpuconf cluster up --nodes $(MANIFESTS)/nodes
	rc=0; $(BIN)/python -m pytest tests/kwok suites --backend=kwok --report-dir=$(REPORTS)/kwok \
		--deselect suites/regressions/test_live_regressions.py $(PYTEST_ARGS) || rc=$$?; \
	$(BIN)/python -m gpuconf cluster down; exit $$rc

# The main job. The live regression cases (marked slow) prove the suite itself; `make test` runs them.
conformance: setup
	$(BIN)/python -m pytest suites benchmarks -m "not slow" --backend=$(BACKEND) --manifests=$(MANIFESTS) \
		--report-dir=$(REPORTS) $(KUBECONFIG_ARG) --benchmark-json=$(REPORTS)/benchmark.json \
		--benchmark-storage=file://$(BENCH_STORAGE) $(PYTEST_ARGS)

check: setup
	$(BIN)/python -m gpuconf check $(MANIFESTS)

# Can the cluster of $(KUBECONFIG) run the suite? Exit 10-14 name what is missing.
preflight: setup
	$(BIN)/python -m gpuconf preflight $(KUBECONFIG_ARG) --manifests $(MANIFESTS)

bench: setup
	$(BIN)/python -m pytest benchmarks --backend=embedded --manifests=$(MANIFESTS) --report-dir=$(REPORTS) \
		--benchmark-json=$(REPORTS)/benchmark.json --benchmark-storage=file://$(BENCH_STORAGE) $(PYTEST_ARGS)

# Builds Kubernetes $(KUBERNETES_VERSION), etcd $(ETCD_VERSION), kwok $(KWOK_VERSION) and KubeRay $(KUBERAY_VERSION)
# from their Go modules into ~/.cache/gpuconf once; later runs reuse them.
cluster-build: setup
	$(BIN)/python -m gpuconf cluster build

cluster-up: setup
	$(BIN)/python -m gpuconf cluster up --nodes $(MANIFESTS)/nodes

cluster-status: setup
	$(BIN)/python -m gpuconf cluster status

cluster-down: setup
	$(BIN)/python -m gpuconf cluster down

# A local kind cluster with a fake GPU node for the cluster backend. Needs docker (running), kind
# and helm: when one is missing it exits 3 naming each with how to install it (nothing is downloaded).
kind-up: setup
	$(BIN)/python -m gpuconf.provision.kind up

kind-status: setup
	$(BIN)/python -m gpuconf.provision.kind status

kind-down: setup
	$(BIN)/python -m gpuconf.provision.kind down

# The realpods tier: real kubelets, containerd and fake GPUs in a network namespace (root; Debian
# packages installed here with apt-get). The API server is reachable inside that namespace only:
# run clients through `python -m gpuconf.provision.realpods exec -- CMD`. See docs/realpods.md.
REALPODS := $(BIN)/python -m gpuconf.provision.realpods
REALPODS_KUBECONFIG = $(HOME)/.cache/gpuconf/realpods-state/controlplane/kubeconfig
REALPODS_DEBS := runc containerd containernetworking-plugins debootstrap dnsmasq-base iproute2 util-linux
realpods-debs:
	@dpkg -s $(REALPODS_DEBS) >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(REALPODS_DEBS) >/dev/null; }

realpods-up: setup realpods-debs
	@$(REALPODS) up

realpods-status: setup
	@$(REALPODS) status

realpods-down: setup
	@$(REALPODS) down

# Up, the cluster backend's suites on real pods, the realpods checks, then down on any exit
# (exit 3 from up = this machine cannot run a sandbox: the tier is skipped).
test-realpods: setup realpods-debs
	@trap '$(REALPODS) down' EXIT; \
	$(REALPODS) up || { rc=$$?; [ $$rc -eq 3 ] && exit 0; exit $$rc; }; \
	$(REALPODS) exec -- $(BIN)/python -m pytest tests/realpods suites/cluster suites/kube --backend=cluster \
		--kubeconfig=$(REALPODS_KUBECONFIG) --manifests=$(MANIFESTS)/overlays/realpods \
		--report-dir=$(REPORTS)/realpods --timeout-scale=3 $(PYTEST_ARGS)

cleanup: setup
	$(BIN)/python -m gpuconf cleanup $(KUBECONFIG_ARG)

clean:
	rm -rf $(REPORTS) .pytest_cache
