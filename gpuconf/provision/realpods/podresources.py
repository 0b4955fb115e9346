"""A client of the kubelet's pod-resources API (``k8s.io/kubelet/pkg/apis/podresources/v1``).

The kubelet serves ``PodResourcesLister`` on ``/var/lib/kubelet/pod-resources/kubelet.sock``:
``List`` says which device IDs of each extended resource the device manager allocated to each
container (monitoring agents such as NVIDIA's dcgm-exporter read GPUs this way). No generated
stubs are shipped: the messages this client reads are declared from the ``api.proto`` of
kubelet v0.34 below (field numbers as there; fields not declared are skipped by protobuf), and
the call goes through grpcio, which Ray already depends on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "/v1.PodResourcesLister/List"

_F = descriptor_pb2.FieldDescriptorProto
#: message -> [(field, number, type, repeated, message type)], a subset of api.proto's.
_MESSAGES: dict[str, list[tuple[str, int, int, bool, str]]] = {
    "ListPodResourcesRequest": [],
    "ListPodResourcesResponse": [("pod_resources", 1, _F.TYPE_MESSAGE, True, "PodResources")],
    "PodResources": [
        ("name", 1, _F.TYPE_STRING, False, ""),
        ("namespace", 2, _F.TYPE_STRING, False, ""),
        ("containers", 3, _F.TYPE_MESSAGE, True, "ContainerResources"),
    ],
    "ContainerResources": [
        ("name", 1, _F.TYPE_STRING, False, ""),
        ("devices", 2, _F.TYPE_MESSAGE, True, "ContainerDevices"),
    ],
    "ContainerDevices": [
        ("resource_name", 1, _F.TYPE_STRING, False, ""),
        ("device_ids", 2, _F.TYPE_STRING, True, ""),
    ],
}


@cache
def _classes() -> tuple[Any, Any]:
    """(request class, response class), built once from the declarations above."""
    proto = descriptor_pb2.FileDescriptorProto(name="gpuconf/podresources/v1/api.proto", package="v1", syntax="proto3")
    for name, fields in _MESSAGES.items():
        msg = proto.message_type.add(name=name)
        for field, number, kind, repeated, type_name in fields:
            f = msg.field.add(name=field, number=number, type=kind)
            f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if type_name:
                f.type_name = f".v1.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    req = message_factory.GetMessageClass(pool.FindMessageTypeByName("v1.ListPodResourcesRequest"))
    resp = message_factory.GetMessageClass(pool.FindMessageTypeByName("v1.ListPodResourcesResponse"))
    return req, resp


@dataclass(frozen=True)
class ContainerDevices:
    """The devices of one resource the kubelet allocated to one container."""

    namespace: str
    pod: str
    container: str
    resource: str
    device_ids: tuple[str, ...]


def decode_list_response(data: bytes) -> list[ContainerDevices]:
    """The allocations in a serialized ``ListPodResourcesResponse``."""
    _, resp_cls = _classes()
    resp = resp_cls.FromString(data)
    return [
        ContainerDevices(pod.namespace, pod.name, c.name, d.resource_name, tuple(d.device_ids))
        for pod in resp.pod_resources
        for c in pod.containers
        for d in c.devices
    ]


def list_allocations(socket: Path, timeout: float = 10.0) -> list[ContainerDevices]:
    """Call ``List`` on the kubelet's pod-resources socket; raise OSError when it cannot be reached."""
    import grpc

    if not socket.exists():
        raise FileNotFoundError(f"no kubelet pod-resources socket at {socket}")
    req_cls, _ = _classes()
    channel = grpc.insecure_channel(f"unix://{socket}")
    try:
        call = channel.unary_unary(SERVICE, request_serializer=lambda m: m.SerializeToString())
        data = call(req_cls(), timeout=timeout)
    except grpc.RpcError as err:
        raise ConnectionError(f"pod-resources List on {socket}: {err}") from err
    finally:
        channel.close()
    return decode_list_response(data)
