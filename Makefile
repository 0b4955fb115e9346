# gpuconf: GPU conformance for Ray Serve on KubeRay.
#   make conformance   set up and run the main job (cluster backend when KUBECONFIG is given, else embedded)
#   make test          set up and run the project's tests and every suite that can run here
#   make lint          ruff check, ruff format --check, mypy
#   make conformance BACKEND=cluster KUBECONFIG=...   the same suites against a real cluster (or kind)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQ_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
# A given KUBECONFIG means the cluster backend (unreachable: exit 10), never a silent embedded run.
BACKEND ?= $(if $(KUBECONFIG),cluster,embedded)
MANIFESTS ?= manifests
REPORTS ?= reports
PYTEST_ARGS ?=
KUBECONFIG_ARG := $(if $(KUBECONFIG),--kubeconfig=$(KUBECONFIG),)
# Benchmark baselines are kept per GPU model (pytest-benchmark does not record which GPU).
GPU_MODEL := $(shell nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1 | tr -cs 'A-Za-z0-9.-' '_' | sed 's/_$$//')
BENCH_STORAGE ?= .benchmarks/$(or $(GPU_MODEL),cpu)

# Control-plane versions for the kwok backend (one place: build/versions.env).
include build/versions.env


.PHONY: setup test unit lint test-kwok conformance check preflight bench bench-suite kwok-build kwok-up kwok-down kwok-status \
	kind-up kind-down kind-status realpods-debs realpods-up realpods-status\
	realpods-down test-realpods cleanup clean soak soak-short test-scaling test-scaling-suite test-pytest test-regressions test-live-regressions test-scaling-regressions test-kwok-scaling test-cold build-cache

setup: $(STAMP)

# Re-installs only when requirements.txt changes (the stamp carries its hash). uv (pinned) installs
# the requirements: it keeps the wheels it fetched in its cache (~/.cache/uv) and links them into a
# new .venv in seconds, where pip fetched torch and Ray again for every new checkout (minutes).
UV_VERSION := 0.13.10
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python pip==25.3 -r requirements.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

# make test: the stages below in lanes that run side by side, ending with a table of each
# stage's lane, start, wall time, exit status, load and host CPU use (also in $(REPORTS)/test/stages.json;
# the background lane's output in $(REPORTS)/test/lanes/). Standard library only, so it runs before
# .venv exists. The lanes share no state (each Ray cluster, network namespace and report folder is
# a stage's own). Each lane runs one Ray cluster at a time: a live regression case alone keeps
# about 1.3 of this machine's 2 cores busy (69 CPU-s in 53 s), and four at once starved Ray's own
# start windows (heads not up in 90 s at load 14).
# - main:  lint; the project's tests, the suites and the benchmarks; the live regression cases;
#          the scaling suite.
# - build: every Go build and image of the kwok and realpods tiers (seconds when all is cached). On a
#          new machine it is the longest road (the builds, then kwok, then realpods): it runs at
#          normal priority but one Go compile at a time (BUILD_GOFLAGS=-p=1), so it takes about one
#          core and the main lane keeps the other. At nice 19 it got only what the main lane left
#          idle: Kubernetes took 28 min, every build 42, and the cold run 66.
# - tiers: the scaling regression cases (no build needed), then, once the builds are done, the kwok
#          tier and the realpods tier.
# `make soak` (interrupts at random moments, under load) is not part of it: tests/test_teardown.py
# and tests/test_autoscaled_teardown.py prove each way a run is stopped.
TEST_STAGES ?= setup &build:build-cache &tiers:test-scaling-regressions,=build,test-kwok,test-realpods \
	lint test-pytest test-live-regressions test-scaling-suite =tiers =build
test:
	@MAKE="$(MAKE)" REGRESSION_JOBS=0 BUILD_GOFLAGS=-p=1 $(PYTHON) -m gpuconf.testing.stages --report $(REPORTS)/test/stages.json $(foreach s,$(TEST_STAGES),'$(s)')

# The project's tests, the suites and the benchmarks, one after another (the regression cases are
# test-regressions).
PYTEST_DURATIONS ?= --durations=25
test-pytest: setup
	$(BIN)/python -m pytest tests suites benchmarks --ignore=tests/kwok --ignore=tests/realpods \
		$(foreach f,$(REGRESSION_FILES),--ignore=$(f)) --report-dir=$(REPORTS)/test $(PYTEST_DURATIONS) $(PYTEST_ARGS)

# The live and scaling regression cases: each a nested pytest run on a Ray cluster of its own.
# Much of a case is spent waiting on Ray's and the autoscaler's timers, so REGRESSION_JOBS overlap
# (pytest-xdist; 0: one at a time, as make test runs them beside its other lane).
REGRESSION_JOBS ?= 2
LIVE_REGRESSIONS := suites/regressions/test_live_regressions.py
SCALING_REGRESSIONS := suites/regressions/test_scaling_regressions.py
REGRESSION_FILES := $(LIVE_REGRESSIONS) $(SCALING_REGRESSIONS)
test-regressions: setup
	$(BIN)/python -m pytest $(REGRESSION_FILES) -n $(REGRESSION_JOBS) \
		--report-dir=$(REPORTS)/test-regressions $(PYTEST_DURATIONS) $(PYTEST_ARGS)

test-live-regressions: setup
	$(BIN)/python -m pytest $(LIVE_REGRESSIONS) -n $(REGRESSION_JOBS) \
		--report-dir=$(REPORTS)/test-live-regressions $(PYTEST_DURATIONS) $(PYTEST_ARGS)

test-scaling-regressions: setup
	$(BIN)/python -m pytest $(SCALING_REGRESSIONS) -n $(REGRESSION_JOBS) \
		--report-dir=$(REPORTS)/test-scaling-regressions $(PYTEST_DURATIONS) $(PYTEST_ARGS)

# The cold path of a new machine: `bash .ci/run` from a fresh clone of HEAD under /tmp, with HOME,
# pip's, uv's, Go's and gpuconf's caches pointed at empty folders (Debian's packages are the host's).
# About an hour here; run it before any change to setup, builds or tiers. Ends with the stage table.
COLD_DIR ?= /tmp/gpuconf-cold
test-cold:
	@$(PYTHON) -m gpuconf.testing.cold --dir $(COLD_DIR)

# The inner loop: every test of tests/ that starts no Ray, no cluster and no nested process
# (marked `processes` or `slow`), two at a time. `make test` stays the whole suite.
unit: setup
	$(BIN)/python -m pytest tests -m "not processes and not slow" --ignore=tests/kwok --ignore=tests/realpods \
		-n 2 -q --report-dir=$(REPORTS)/unit $(PYTEST_ARGS)

# ruff (lint, format check) and mypy, as configured in pyproject.toml.
lint: setup
	$(BIN)/ruff check gpuconf tests suites benchmarks entrypoints examples
	$(BIN)/ruff format --check gpuconf tests suites benchmarks entrypoints examples
	$(BIN)/mypy

# The kwok backend: the real control plane (built from Go modules once, then cached) and the real
# operator. First the model fidelity tests and the kwok tests on the shipped pool (among them Ray's
# KubeRay autoscaler, v1 and v2, scaling the real operator's GPU group from zero and back); then
# the suites on the DRA road (overlays/dra: the real scheduler allocates the GPU group's claims
# against the pool's ResourceSlices; each Ray node gets the GPUs allocated to it), which no other
# tier runs. The reference manifests' suites run on the embedded backend, suites/kube on real pods
# (test-realpods), and the scaling suite on the embedded backend (test-scaling-suite); on kwok it is
# test-kwok-scaling. The control plane goes down even on failure.
KWOK := $(BIN)/python -m gpuconf kwok
test-kwok: setup
	$(KWOK) up --nodes $(MANIFESTS)/nodes
	rc=0; $(BIN)/python -m pytest tests/kwok --backend=kwok --report-dir=$(REPORTS)/kwok $(PYTEST_DURATIONS) \
		$(PYTEST_ARGS) || rc=$$?; $(KWOK) down; [ $$rc -eq 0 ] || exit $$rc
	$(KWOK) up --nodes overlays/dra/nodes
	rc=0; $(BIN)/python -m pytest suites --backend=kwok --manifests=overlays/dra --report-dir=$(REPORTS)/kwok-dra \
		--ignore=suites/regressions --ignore=suites/scaling $(PYTEST_ARGS) || rc=$$?; \
	$(KWOK) down; exit $$rc

# The scaling suite on the kwok tier: its overlay's node pool, Ray's KubeRay autoscaler beside the
# head, the real operator's pods (a few minutes; not part of make test, see test-kwok).
test-kwok-scaling: setup
	$(KWOK) up --nodes overlays/scaling/nodes
	rc=0; $(BIN)/python -m pytest suites/scaling --backend=kwok --manifests=overlays/scaling \
		--report-dir=$(REPORTS)/kwok-scaling $(PYTEST_ARGS) || rc=$$?; \
	$(KWOK) down; exit $$rc

# The scaling suite and its benchmark on the scaled overlay (Ray's autoscaler; a few minutes).
# make test runs the suite alone (test-scaling-suite): the benchmark's timing rounds prove no more.
SCALING_BENCH ?= benchmarks/test_scaling.py
test-scaling: setup
	$(BIN)/python -m pytest suites/scaling $(SCALING_BENCH) --backend=$(BACKEND) \
		--manifests=overlays/scaling --report-dir=$(REPORTS)/scaling $(PYTEST_ARGS)

test-scaling-suite: setup
	$(MAKE) --no-print-directory test-scaling SCALING_BENCH= BACKEND=embedded

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

# Time to verdict of the suite itself, per tier (static check, embedded, kwok warm, real pods warm;
# kwok and realpods only when SUITE_TIERS names them and they are up), compared with the
# baseline stored in benchmarks/baselines/.
# Store a new baseline: make bench-suite PYTEST_ARGS=--benchmark-save=baseline
SUITE_ROUNDS ?= 1
SUITE_TIERS ?= embedded
SUITE_BASELINES := benchmarks/baselines
bench-suite: setup
	@mkdir -p $(REPORTS)/bench-suite
	$(BIN)/python -m pytest benchmarks/suite --report-dir=$(REPORTS)/bench-suite --suite-rounds=$(SUITE_ROUNDS) --suite-tiers=$(SUITE_TIERS) \
		--benchmark-storage=file://$(SUITE_BASELINES) --benchmark-compare \
		--benchmark-json=$(REPORTS)/bench-suite/benchmark.json $(PYTEST_ARGS)

# Builds Kubernetes $(KUBERNETES_VERSION), etcd $(ETCD_VERSION), kwok $(KWOK_VERSION) and KubeRay $(KUBERAY_VERSION)
# from their Go modules into ~/.cache/gpuconf once; later runs reuse them.
kwok-build: setup
	$(BIN)/python -m gpuconf kwok build

# Every build of the kwok and realpods tiers and the test tools, and the realpods images, on the
# host's network (make test starts it in the background; a no-op when all is cached).
# BUILD_GOFLAGS: extra GOFLAGS for these builds (make test: -p=1, one compile at a time).
BUILD_GOFLAGS ?=
build-cache: setup realpods-debs
	GOFLAGS="$$GOFLAGS $(BUILD_GOFLAGS)" $(BIN)/python -m gpuconf kwok build --all
	@if [ "$$(id -u)" = 0 ]; then $(BIN)/python -m gpuconf.provision.realpods prepare; \
	else echo "build-cache: not root: the realpods images are left to make test-realpods"; fi

kwok-up: setup
	$(BIN)/python -m gpuconf kwok up --nodes $(MANIFESTS)/nodes

kwok-status: setup
	$(BIN)/python -m gpuconf kwok status

kwok-down: setup
	$(BIN)/python -m gpuconf kwok down

# A local kind cluster with a fake GPU node for the cluster backend. Needs docker (running), kind
# and helm: when one is missing it exits 3 naming each with how to install it (nothing is downloaded).
kind-up: setup
	$(BIN)/python -m gpuconf kind up

kind-status: setup
	$(BIN)/python -m gpuconf kind status

kind-down: setup
	$(BIN)/python -m gpuconf kind down

# Soak: embedded conformance runs under CPU load, each in its own PID namespace, interrupted by
# SIGINT/SIGTERM/SIGKILL at seeded random moments (each with a private /tmp and /dev/shm, so the
# counts are its own); a table of what each left; exit 1 on any leak,
# hang or flake. SOAK_ARGS e.g. "--runs 20 --clean 20". soak-short is a fixed, small version.
SOAK_ARGS ?=
soak: setup
	$(BIN)/python -m gpuconf.soak $(SOAK_ARGS)

soak-short: setup
	$(BIN)/python -m gpuconf.soak --runs 2 --clean 0 --seed 5 --window 20 40 --hang 200 $(SOAK_ARGS)

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

# Up, the cluster backend's suites on real pods, the realpods checks, then a user's own service
# (overlays/realpods-user: examples/user-service's summarizer, code uploaded, options in code), then down on any exit
# (exit 3 from up = this machine cannot run a sandbox: the tier is skipped).
test-realpods: setup realpods-debs
	@trap '$(REALPODS) down' EXIT; \
	$(REALPODS) up || { rc=$$?; [ $$rc -eq 3 ] && exit 0; exit $$rc; }; \
	$(REALPODS) exec -- $(BIN)/python -m pytest tests/realpods suites/cluster suites/kube --backend=cluster \
		--kubeconfig=$(REALPODS_KUBECONFIG) --manifests=overlays/realpods \
		--report-dir=$(REPORTS)/realpods --timeout-scale=3 $(PYTEST_DURATIONS) $(PYTEST_ARGS) && \
	$(REALPODS) exec -- $(BIN)/python -m pytest suites/placement suites/cuda suites/cluster --backend=cluster \
		--kubeconfig=$(REALPODS_KUBECONFIG) --manifests=overlays/realpods-user \
		--report-dir=$(REPORTS)/realpods-user --timeout-scale=3 $(PYTEST_ARGS)

cleanup: setup
	$(BIN)/python -m gpuconf cleanup $(KUBECONFIG_ARG)

clean:
	rm -rf $(REPORTS) .pytest_cache
