"""Build the control-plane binaries from Go modules into a version-keyed cache.

Each component is built once per version into
``${GPUCONF_CACHE:-~/.cache/gpuconf}/bin/<component>-<version>/`` and reused after that:

==============  =====================================================  ==========================
component       how                                                    what lands in the cache
==============  =====================================================  ==========================
``kubernetes``  ``go build`` in ``build/kube`` (staging modules         kube-apiserver,
                replaced by their published ``v0.Y.Z``)                 kube-controller-manager,
                                                                        kube-scheduler
``etcd``        ``go build`` in ``build/etcd`` (``etcdmain.Main``)      etcd
``kwok``        ``go install sigs.k8s.io/kwok/cmd/kwok@V``              kwok, ``stages/*.yaml``
``kuberay``     ``go install …/kuberay/ray-operator@V``                 ray-operator, ``crd/*.json``
==============  =====================================================  ==========================

Builds are static (``CGO_ENABLED=0``), ``-trimpath`` and stripped (``-ldflags=-s -w``). A build
goes to a temporary folder that is renamed into place when complete, so an interrupted build
never leaves a half-filled cache entry. While ``go`` works, a heartbeat line is printed every
:data:`HEARTBEAT_S` seconds.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gpuconf.provision.kwok.paths import bin_dir, cache_root
from gpuconf.provision.kwok.versions import REPO_ROOT, VERSIONS_FILE, Versions, load_versions, parse_env_file

HEARTBEAT_S = 20.0
BUILD_DIR = REPO_ROOT / "build"

KWOK_MODULE = "sigs.k8s.io/kwok"
KUBERAY_MODULE = "github.com/ray-project/kuberay/ray-operator"
KUBERNETES_MODULE = "k8s.io/kubernetes"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"

#: kwok's default Stages, as kwokctl installs them (node init + heartbeat with lease, pod fast).
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
KUBERAY_CRD_DIR = "config/crd/bases"
# kwok's own CRDs for what a kubelet serves: port-forward, exec and logs of (fake) pods.
KWOK_CRD_DIR = "kustomize/crd/bases"
KWOK_CRDS = ("portforwards", "execs", "logs")

Log = Callable[[str], None]


class BuildError(RuntimeError):
    """A build step failed; the message names the command, the log file and its tail."""


def _print(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Component:
    """One cached build product: a name, a version and the files it must contain."""

    name: str
    version: str
    binaries: tuple[str, ...]
    assets: tuple[str, ...] = field(default=())

    @property
    def dir(self) -> Path:
        """The cache folder, e.g. ``~/.cache/gpuconf/bin/kwok-v0.8.0``."""
        return bin_dir(self.name, self.version)

    def path(self, binary: str) -> Path:
        """The cached path of one of :attr:`binaries`."""
        return self.dir / binary

    def is_cached(self) -> bool:
        """True when every binary and asset folder is present in the cache."""
        return all(os.access(self.path(b), os.X_OK) for b in self.binaries) and all(
            (self.dir / a).is_dir() for a in self.assets
        )


def components(versions: Versions) -> dict[str, Component]:
    """The four components of the control plane at the pinned versions."""
    return {
        "kubernetes": Component(
            "kubernetes",
            versions.kubernetes,
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
        ),
        "etcd": Component("etcd", versions.etcd, ("etcd",)),
        "kwok": Component("kwok", versions.kwok, ("kwok",), ("stages",)),
        "kuberay": Component("kuberay", versions.kuberay, ("ray-operator",), ("crd",)),
    }


# --------------------------------------------------------------------------- go plumbing


def go_env() -> dict[str, str]:
    """The environment for every ``go`` call: static, trimmed builds."""
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    flags = env.get("GOFLAGS", "").split()
    if "-trimpath" not in flags:
        flags.append("-trimpath")
    env["GOFLAGS"] = " ".join(flags)
    return env


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "the kwok backend builds its control plane from Go modules, but `go` is not on PATH; "
            "install Go (see GO_MIN_VERSION in build/versions.env) or use another backend"
        )
    return go


def check_go(versions: Versions) -> str:
    """Return ``go version``'s version (``1.26.8``); fail clearly when older than required."""
    out = subprocess.run([_go(), "env", "GOVERSION"], capture_output=True, text=True, check=True)
    have = out.stdout.strip().removeprefix("go")
    if _version_tuple(have) < _version_tuple(versions.go_min):
        raise BuildError(
            f"Go {have} is older than GO_MIN_VERSION={versions.go_min} (build/versions.env); "
            "install a newer Go or set GOTOOLCHAIN=auto so that go fetches one"
        )
    return have


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def module_dir(module: str, version: str) -> Path:
    """The module cache folder of ``module@version`` (downloading it if needed)."""
    out = subprocess.run(
        [_go(), "mod", "download", "-json", f"{module}@{version}"],
        check=False,
        capture_output=True,
        text=True,
        env=go_env(),
        cwd="/",
    )
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise BuildError(f"go mod download {module}@{version} failed: {info.get('Error') or out.stderr}")
    return Path(info["Dir"])


def run_go(args: list[str], *, cwd: Path, env: dict[str, str], what: str, log_file: Path, log: Log) -> None:
    """Run ``go args…``, teeing output to ``log_file``, with a heartbeat every HEARTBEAT_S s."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with log_file.open("a") as sink:
        sink.write(f"$ (cd {cwd} && go {' '.join(args)})\n")
        sink.flush()
        proc = subprocess.Popen([_go(), *args], cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT)
        next_beat = start + HEARTBEAT_S
        while proc.poll() is None:
            time.sleep(1.0)
            now = time.monotonic()
            if now >= next_beat:
                log(f"[build] {what}: still building, {_elapsed(now - start)} elapsed")
                next_beat = now + HEARTBEAT_S
    if proc.returncode != 0:
        tail = "\n".join(log_file.read_text().splitlines()[-25:])
        raise BuildError(f"{what}: `go {' '.join(args)}` failed (exit {proc.returncode}); log {log_file}:\n{tail}")


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _build_flags() -> list[str]:
    jobs = os.environ.get("GPUCONF_BUILD_JOBS")
    return ["-p", jobs] if jobs else []


# --------------------------------------------------------------------------- recipes


def _kubernetes_ldflags(version: str) -> str:
    """Stamp the version the way Kubernetes' own build does (hack/lib/version.sh)."""
    major, minor = version.removeprefix("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _check_gomod_pin(folder: Path, module: str, version: str) -> None:
    text = (folder / "go.mod").read_text()
    if f"{module} {version}" not in text:
        raise BuildError(
            f"{folder / 'go.mod'} does not require {module} {version} (build/versions.env); "
            "run `gpuconf kwok pin` to regenerate it"
        )


def _build_kubernetes(comp: Component, out: Path, log_file: Path, log: Log) -> None:
    folder = BUILD_DIR / "kube"
    _check_gomod_pin(folder, KUBERNETES_MODULE, comp.version)
    pkgs = [f"{KUBERNETES_MODULE}/cmd/{b}" for b in comp.binaries]
    args = ["build", *_build_flags(), "-ldflags", _kubernetes_ldflags(comp.version), "-o", f"{out}/", *pkgs]
    run_go(args, cwd=folder, env=go_env(), what=f"kubernetes {comp.version}", log_file=log_file, log=log)


def _build_kubelet(comp: Component, out: Path, log_file: Path, log: Log) -> None:
    """kubelet from the same ``build/kube`` module as the control plane (one more ``tool`` line)."""
    folder = BUILD_DIR / "kube"
    _check_gomod_pin(folder, KUBERNETES_MODULE, comp.version)
    args = [
        "build",
        *_build_flags(),
        "-ldflags",
        _kubernetes_ldflags(comp.version),
        "-o",
        f"{out}/",
        f"{KUBERNETES_MODULE}/cmd/kubelet",
    ]
    run_go(args, cwd=folder, env=go_env(), what=f"kubelet {comp.version}", log_file=log_file, log=log)


def _build_fakegpu(comp: Component, out: Path, log_file: Path, log: Log) -> None:
    """The fake GPU device plugin and the pause program (``build/fakegpu``)."""
    folder = BUILD_DIR / "fakegpu"
    for pkg, name in ((".", "fakegpu"), ("./pause", "pause")):
        args = ["build", *_build_flags(), "-ldflags", "-s -w", "-o", str(out / name), pkg]
        run_go(args, cwd=folder, env=go_env(), what=f"{name} {comp.version}", log_file=log_file, log=log)


def fakegpu_version() -> str:
    """The fake GPU plugin's cache key: a hash of its sources (it has no upstream version)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((BUILD_DIR / "fakegpu").rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(BUILD_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return "src-" + digest.hexdigest()[:12]


def node_components(versions: Versions) -> dict[str, Component]:
    """What a real node adds to the control plane: kubelet, the fake GPU plugin and pause."""
    return {
        "kubelet": Component("kubelet", versions.kubernetes, ("kubelet",)),
        "fakegpu": Component("fakegpu", fakegpu_version(), ("fakegpu", "pause")),
    }


HELM_MODULE = "helm.sh/helm/v3"


def tool_components() -> dict[str, Component]:
    """Build-time test tools pinned in build/versions.env: Helm (the static tier's chart renderer)."""
    helm = parse_env_file(VERSIONS_FILE).get("HELM_VERSION")
    return {"helm": Component("helm", helm, ("helm",))} if helm else {}


def _build_helm(comp: Component, out: Path, log_file: Path, log: Log) -> None:
    # helm's go.mod carries replace lines: `go install` of it needs module mode.
    env = go_env() | {"GOBIN": str(out), "GOFLAGS": (go_env().get("GOFLAGS", "") + " -mod=mod -buildvcs=false").strip()}
    args = ["install", *_build_flags(), "-ldflags", "-s -w", f"{HELM_MODULE}/cmd/helm@{comp.version}"]
    run_go(args, cwd=Path("/"), env=env, what=f"helm {comp.version}", log_file=log_file, log=log)


def _build_etcd(comp: Component, out: Path, log_file: Path, log: Log) -> None:
    folder = BUILD_DIR / "etcd"
    _check_gomod_pin(folder, ETCD_MODULE, comp.version)
    args = ["build", *_build_flags(), "-ldflags", "-s -w", "-o", str(out / "etcd"), "."]
    run_go(args, cwd=folder, env=go_env(), what=f"etcd {comp.version}", log_file=log_file, log=log)


def _go_install(module_path: str, comp: Component, out: Path, log_file: Path, log: Log, ldflags: str) -> None:
    env = go_env() | {"GOBIN": str(out)}
    args = ["install", *_build_flags(), "-ldflags", ldflags, f"{module_path}@{comp.version}"]
    run_go(args, cwd=Path("/"), env=env, what=f"{comp.name} {comp.version}", log_file=log_file, log=log)


def _copy_assets(module: str, version: str, files: list[str], dest: Path) -> None:
    src = module_dir(module, version)
    dest.mkdir(parents=True, exist_ok=True)
    for rel in files:
        shutil.copyfile(src / rel, dest / Path(rel).name)


def _build_kwok(comp: Component, out: Path, log_file: Path, log: Log) -> None:
    ldflags = f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={comp.version.removeprefix('v')}"
    _go_install(f"{KWOK_MODULE}/cmd/kwok", comp, out, log_file, log, ldflags)
    _copy_assets(KWOK_MODULE, comp.version, list(KWOK_STAGE_FILES), out / "stages")
    kwok_crds(comp, out)


def kwok_crds(comp: Component, out: Path | None = None) -> Path:
    """kwok's PortForward, Exec and Logs CRDs as JSON in ``<kwok dir>/crd`` (copied once from its module)."""
    dest = (out or comp.dir) / "crd"
    if not dest.is_dir():
        src = module_dir(KWOK_MODULE, comp.version) / KWOK_CRD_DIR
        tmp = dest.parent / f".tmp-crd-{os.getpid()}"
        crds_to_json(src, tmp, [f"kwok.x-k8s.io_{name}.yaml" for name in KWOK_CRDS])
        tmp.rename(dest)
    return dest


def crds_to_json(src: Path, dest: Path, only: list[str] | None = None) -> list[Path]:
    """Write each CustomResourceDefinition of ``src/*.yaml`` (or of the files `only` names) to ``dest/<name>.json``.

    The KubeRay CRDs are ~3 MB of YAML, which PyYAML parses in seconds (tens without
    libyaml); JSON loads in a fraction of a second at every ``up``.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("*.yaml")):
        if only is not None and path.name not in only:
            continue
        for doc in yaml.load_all(path.read_text(), Loader=loader):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                out = dest / f"{doc['metadata']['name']}.json"
                out.write_text(json.dumps(doc))
                written.append(out)
    if not written:
        raise BuildError(f"no CustomResourceDefinition in {src}")
    return written


def _build_kuberay(comp: Component, out: Path, log_file: Path, log: Log) -> None:
    _go_install(KUBERAY_MODULE, comp, out, log_file, log, "-s -w")
    crds_to_json(module_dir(KUBERAY_MODULE, comp.version) / KUBERAY_CRD_DIR, out / "crd")


_RECIPES: dict[str, Callable[[Component, Path, Path, Log], None]] = {
    "kubernetes": _build_kubernetes,
    "etcd": _build_etcd,
    "kwok": _build_kwok,
    "kuberay": _build_kuberay,
    "kubelet": _build_kubelet,
    "fakegpu": _build_fakegpu,
    "helm": _build_helm,
}


# --------------------------------------------------------------------------- public API


def on_host_network() -> bool:
    """Whether the calling thread's network namespace has an interface besides loopback.

    The tiers' private namespaces hold only `lo`, where Go's module proxy cannot be reached. Unknown
    (no ``/proc``) reads as yes: a build then fails on its own terms.
    """
    try:
        lines = Path("/proc/thread-self/net/dev").read_text().splitlines()[2:]
    except OSError:
        return True
    return any(line.split(":", 1)[0].strip() != "lo" for line in lines if ":" in line)


def ensure_component(comp: Component, log: Log = _print) -> float:
    """Build ``comp`` unless cached; return the seconds spent (0.0 when it was cached).

    Refuses (BuildError) to build from inside a private network namespace: Go's module proxy is
    reachable from the host's network only, so every caller builds before it enters one.
    """
    if comp.is_cached():
        return 0.0
    if not on_host_network():
        raise BuildError(
            f"{comp.name} {comp.version} is not in the cache ({comp.dir}) and this process is inside a private "
            "network namespace, where Go cannot download its modules; build on the host's network first: "
            "`make kwok-build` (or `gpuconf kwok build`)"
        )
    start = time.monotonic()
    comp.dir.parent.mkdir(parents=True, exist_ok=True)
    # One build of a component at a time (make test's background build and a test may both ask):
    # whoever waited here finds it cached.
    with (comp.dir.parent / f".lock-{comp.dir.name}").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if comp.is_cached():
            return time.monotonic() - start
        return _build_locked(comp, log, start)


def _build_locked(comp: Component, log: Log, start: float) -> float:
    log(f"[build] {comp.name} {comp.version}: building {', '.join(comp.binaries)} -> {comp.dir}")
    tmp = comp.dir.parent / f".tmp-{comp.dir.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log_file = cache_root() / "logs" / f"build-{comp.dir.name}.log"
    try:
        _RECIPES[comp.name](comp, tmp, log_file, log)
        shutil.rmtree(comp.dir, ignore_errors=True)
        tmp.rename(comp.dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not comp.is_cached():
        raise BuildError(f"{comp.name} {comp.version}: build finished but {comp.dir} is incomplete")
    seconds = time.monotonic() - start
    log(f"[build] {comp.name} {comp.version}: done in {_elapsed(seconds)}")
    return seconds


def ensure_built(versions: Versions | None = None, log: Log = _print) -> dict[str, Component]:
    """Build every missing component (cached ones are skipped without calling ``go``)."""
    versions = versions or load_versions()
    comps = components(versions)
    missing = [c for c in comps.values() if not c.is_cached()]
    if missing:
        log(f"[build] go {check_go(versions)}; building {', '.join(c.name for c in missing)} (cached after this)")
        for comp in missing:
            ensure_component(comp, log)
    return comps


def ensure_everything(log: Log = _print) -> dict[str, float]:
    """Every build of every tier (control plane, real-node parts, test tools), on the host's network.

    Returns the seconds each component took (0.0 when cached): what `make build-cache` runs ahead.
    """
    versions = load_versions()
    comps = {**components(versions), **node_components(versions), **tool_components()}
    missing = [c for c in comps.values() if not c.is_cached()]
    if missing:
        log(f"[build] go {check_go(versions)}; building {', '.join(c.name for c in missing)} (cached after this)")
    return {name: ensure_component(comp, log) for name, comp in comps.items()}


def all_cached(versions: Versions | None = None) -> bool:
    """True when every component is already in the cache (no Go needed)."""
    return all(c.is_cached() for c in components(versions or load_versions()).values())


# --------------------------------------------------------------------------- pinning


def kube_gomod(versions: Versions) -> str:
    """``build/kube/go.mod`` before ``go mod tidy``: require k8s.io/kubernetes, replace staging."""
    upstream = module_dir(KUBERNETES_MODULE, versions.kubernetes) / "go.mod"
    staging = [line.split("=>")[0].strip() for line in upstream.read_text().splitlines() if "=> ./staging/" in line]
    replaces = "\n".join(f"\t{m} => {m} {versions.kubernetes_staging}" for m in staging)
    binaries = (*components(versions)["kubernetes"].binaries, "kubelet")
    tools = "\n".join(f"\t{KUBERNETES_MODULE}/cmd/{b}" for b in binaries)
    return (
        "// Generated by `gpuconf kwok pin` from build/versions.env; see build/README.md.\n"
        "module gpuconf.local/build/kube\n\n"
        "go 1.24.0\n\n"
        "// Same GODEBUG defaults as k8s.io/kubernetes's own go.mod.\n"
        "godebug default=go1.24\n\n"
        f"tool (\n{tools}\n)\n\n"
        f"require {KUBERNETES_MODULE} {versions.kubernetes}\n\n"
        "// k8s.io/kubernetes replaces these staging modules with folders of its own repository,\n"
        "// which a dependent module cannot see; use the same code as published modules instead.\n"
        f"replace (\n{replaces}\n)\n"
    )


def etcd_gomod(versions: Versions) -> str:
    """``build/etcd/go.mod`` before ``go mod tidy``."""
    return (
        "// Generated by `gpuconf kwok pin` from build/versions.env; see build/README.md.\n"
        "module gpuconf.local/build/etcd\n\n"
        "go 1.24\n\n"
        f"require {ETCD_MODULE} {versions.etcd}\n"
    )


def pin_go_modules(versions: Versions | None = None, log: Log = _print) -> None:
    """Rewrite ``build/kube/go.mod`` and ``build/etcd/go.mod`` from versions.env, then tidy."""
    versions = versions or load_versions()
    check_go(versions)
    for folder, text in ((BUILD_DIR / "kube", kube_gomod(versions)), (BUILD_DIR / "etcd", etcd_gomod(versions))):
        (folder / "go.mod").write_text(text)
        (folder / "go.sum").unlink(missing_ok=True)
        log(f"[pin] {folder / 'go.mod'}: go mod tidy")
        run_go(
            ["mod", "tidy"],
            cwd=folder,
            env=go_env() | {"GOFLAGS": "-mod=mod"},
            what=f"go mod tidy in {folder.name}",
            log_file=cache_root() / "logs" / f"pin-{folder.name}.log",
            log=log,
        )
