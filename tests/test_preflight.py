"""Preflight against a cluster that is not there, or not answering: a fast, clear environment failure.

Also: a malformed kubeconfig is bad input (exit 2 with file:line), not an unreachable cluster.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuconf.errors import EXIT_UNREACHABLE, InputError
from gpuconf.host.ports import free_port
from gpuconf.inputs.expectations import Expectations
from gpuconf.kube.kubeconfig import read_kubeconfig
from gpuconf.kube.preflight import exit_code, run_preflight
from gpuconf.kube.reach import cluster_answers
from gpuconf.static.check import run_check
from tests.kubeconfigs import write_kubeconfig

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SilentServer:
    """A server that accepts and never answers: its URL, and the connections it accepted."""

    url: str
    held: list[socket.socket]


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A TCP server on loopback that accepts every connection and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield SilentServer(f"https://127.0.0.1:{sock.getsockname()[1]}", held)
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        sock.close()


def _expectations() -> Expectations:
    return run_check([ROOT / "manifests"]).plans[0].expectations


def test_unreachable_cluster_fails_fast(tmp_path: Path) -> None:
    """A kubeconfig whose server refuses connections: exit 10 in well under 10 s, nothing else asked."""
    server = f"https://127.0.0.1:{free_port()}"
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server)
    results = run_preflight(str(kubeconfig), _expectations(), timeout_s=5.0)
    # Fast because nothing else is asked once the server refuses (timings are in docs/figures.md).
    assert [r.check for r in results] == ["reachable"]
    assert exit_code(results) == EXIT_UNREACHABLE
    assert "no API server answers" in results[0].message and server in results[0].message


def test_silent_server_costs_the_timeout_once(tmp_path: Path, silent_server: SilentServer) -> None:
    """A server that accepts and never answers: one connection, one timeout (no hidden retries)."""
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", silent_server.url)
    results = run_preflight(str(kubeconfig), _expectations(), timeout_s=2.0)
    assert len(silent_server.held) == 1, f"{len(silent_server.held)} connections: the client retried"
    assert exit_code(results) == EXIT_UNREACHABLE
    assert silent_server.url in results[0].message and "within 2 s" in results[0].message


def test_reach_probe_is_bounded_too(tmp_path: Path, silent_server: SilentServer) -> None:
    """cluster_answers (the backends' "is it up?") pays its timeout once against a silent server."""
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", silent_server.url)
    assert not cluster_answers(str(kubeconfig), timeout_s=1.0)
    assert len(silent_server.held) == 1, f"{len(silent_server.held)} connections: the probe retried"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("apiVersion: v1\nclusters:\n  - name: c\n    cluster: {server: https://x:1\n", 4, "YAML syntax"),
        ("apiVersion: v1\nkind: Config\ncontexts: []\n", 1, "no current-context"),
        ("current-context: a\ncontexts:\n  - name: b\n    context: {cluster: c}\n", 1, "no entry named 'a'"),
        (
            "current-context: a\ncontexts:\n  - name: a\n    context: {cluster: c}\nclusters:\n  - name: c\n"
            "    cluster:\n      server: 127.0.0.1:6443\n",
            8,
            "no server URL",
        ),
    ],
)
def test_malformed_kubeconfig_names_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    """Each malformed kubeconfig is an InputError at the line of the fault."""
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_kubeconfig(str(path))
    assert info.value.loc is not None and info.value.loc.line == line, info.value.render()
    assert words in info.value.message


def test_preflight_cli_malformed_kubeconfig_is_exit_2(tmp_path: Path) -> None:
    """`gpuconf preflight` with a broken kubeconfig: exit 2, file:line on stderr, no traceback."""
    path = tmp_path / "kubeconfig"
    path.write_text("current-context: a\ncontexts: {a: 1}\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpuconf",
            "preflight",
            "--kubeconfig",
            str(path),
            "--manifests",
            str(ROOT / "manifests"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{path}:2: error:" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture
def version_server() -> Iterator[tuple[str, list[str]]]:
    """An API server on loopback that answers /version only; its URL and the paths it was asked."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[str] = []
    info = {
        "major": "1",
        "minor": "34",
        "gitVersion": "v1.34.0",
        "gitCommit": "0",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.rstrip("/")  # the client asks for /version/
            asked.append(path)
            body = json.dumps(info).encode() if path == "/version" else b"{}"
            self.send_response(200 if path == "/version" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_the_cluster_backend_builds_one_client_and_asks_version_once(
    tmp_path: Path, version_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """connect_cluster hands the run the client preflight's reachable check used: one client, one /version."""
    import gpuconf.kube.client as kube_client
    from gpuconf.backends.cluster.backend import connect_cluster

    url, asked = version_server
    built: list[str | None] = []
    real = kube_client.api_client_for

    def counting(kubeconfig: str | None, retries: bool = True) -> object:
        built.append(kubeconfig)
        return real(kubeconfig, retries=retries)

    monkeypatch.setattr(kube_client, "api_client_for", counting)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url)
    kube, reachable = connect_cluster(str(kubeconfig))
    assert reachable.ok and "v1.34.0" in reachable.message, reachable
    assert built == [str(kubeconfig)], f"{len(built)} API clients built for one run"
    assert asked == ["/version"], f"the API server was asked {asked}"
    assert kube.api.configuration.host == url
