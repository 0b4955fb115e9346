"""Local TCP ports forwarded to a pod's port through the API server (the client's portforward, no kubectl).

Each accepted local connection opens its own port-forward stream (one stream carries one TCP
connection), and two threads copy bytes each way until either side closes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from gpuconf.kube.client import KubeClient

_CHUNK = 65536


class PortForward:
    """127.0.0.1:<local_port> → <namespace>/<pod>:<remote_port>, until `close()`."""

    def __init__(self, kube: KubeClient, namespace: str, pod: str, remote_port: int) -> None:
        self.kube, self.namespace, self.pod, self.remote_port = kube, namespace, pod, remote_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.local_port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        self.errors: list[str] = []
        threading.Thread(target=self._accept, name=f"port-forward {pod}:{remote_port}", daemon=True).start()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<local_port>`."""
        return f"http://127.0.0.1:{self.local_port}"

    def close(self) -> None:
        """Stop accepting; open streams end when their peers close."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _open_stream(self) -> Any:
        from kubernetes.stream import portforward

        return portforward(
            self.kube.core.connect_get_namespaced_pod_portforward,
            self.pod,
            self.namespace,
            ports=str(self.remote_port),
            _request_timeout=self.kube.timeout,
        )

    def _serve(self, conn: socket.socket) -> None:
        try:
            forward = self._open_stream()
            remote = forward.socket(self.remote_port)
            remote.setblocking(True)
        except Exception as exc:  # the API server refused (RBAC, pod gone): the client sees a reset
            self.errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            return
        done = threading.Event()
        threading.Thread(target=_pump, args=(conn, remote, done), daemon=True).start()
        _pump(remote, conn, done)
        done.wait(5)
        error = forward.error(self.remote_port)
        if error:
            self.errors.append(error)
        for s in (conn, remote):
            with contextlib.suppress(OSError):
                s.close()


def _pump(src: Any, dst: Any, done: threading.Event) -> None:
    """Copy until `src` closes, then half-close `dst` so its reader sees the end."""
    try:
        while True:
            data = src.recv(_CHUNK)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        done.set()
