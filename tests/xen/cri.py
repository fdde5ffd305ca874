"""A small client of the Kubernetes CRI (runtime.v1), to drive containerd's CRI plugin as the
kubelet does.

The lab has no kubelet and no crictl (neither is packaged in Debian 12, and no registry is
reachable to fetch them), and the CRI's .proto files are not on the machine either. The CRI is
gRPC with protobuf messages, so this speaks it with grpcio and encodes the few messages it needs
from their field numbers (the CRI's wire contract, kubernetes/cri-api api.proto). A message is a
dict of field number to value: int, str, bytes, a nested dict, or a list for a repeated field.
"""

from __future__ import annotations

from typing import Any

CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock"
SERVICE = "/runtime.v1.RuntimeService/"

# NamespaceMode
POD, CONTAINER = 0, 1
# ContainerState
CONTAINER_RUNNING, CONTAINER_EXITED = 1, 2

Message = dict[int, Any]


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32/int64 go on the wire as ten-byte two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode(message: Message) -> bytes:
    out = bytearray()
    for number, value in message.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool | int):
                out += _varint(number << 3) + _varint(int(item))
            else:
                data = encode(item) if isinstance(item, dict) else (
                    item.encode() if isinstance(item, str) else item)
                out += _varint(number << 3 | 2) + _varint(len(data)) + data
    return bytes(out)


def decode(data: bytes) -> dict[int, list[int | bytes]]:
    """Field number to the values seen (varints as int, length-delimited as bytes)."""
    fields: dict[int, list[int | bytes]] = {}
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value: int | bytes = varint()
        elif wire == 2:
            size = varint()
            value, pos = data[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = int.from_bytes(data[pos:pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(data[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"protobuf wire type {wire} in a CRI answer")
        fields.setdefault(number, []).append(value)
    return fields


def text(fields: dict, number: int) -> str:
    return fields.get(number, [b""])[-1].decode()


def number(fields: dict, field: int) -> int:
    value = fields.get(field, [0])[-1]
    return value - (1 << 64) if value >= 1 << 63 else value


def nested(fields: dict, field: int) -> dict:
    return decode(fields.get(field, [b""])[-1])


class RuntimeService:
    """The kubelet's side of runtime.v1.RuntimeService, the calls a pod's life needs."""

    def __init__(self, target: str = CONTAINERD_SOCKET) -> None:
        import grpc

        self.channel = grpc.insecure_channel(target)

    def close(self) -> None:
        self.channel.close()

    def call(self, method: str, request: Message, timeout: float = 600) -> dict:
        rpc = self.channel.unary_unary(SERVICE + method)  # bytes in, bytes out
        return decode(rpc(encode(request), timeout=timeout))

    def version(self) -> str:
        """The runtime's name and version, as `crictl version` shows them."""
        answer = self.call("Version", {1: "v1"}, timeout=30)
        return f"{text(answer, 2)} {text(answer, 3)} (CRI {text(answer, 4)})"

    def run_pod_sandbox(self, config: Message, runtime_handler: str) -> str:
        return text(self.call("RunPodSandbox", {1: config, 2: runtime_handler}), 1)

    def pod_ip(self, sandbox_id: str) -> str:
        status = nested(self.call("PodSandboxStatus", {1: sandbox_id}), 1)
        return text(nested(status, 5), 1)

    def create_container(self, sandbox_id: str, config: Message, sandbox_config: Message) -> str:
        return text(self.call("CreateContainer", {1: sandbox_id, 2: config, 3: sandbox_config}),
                    1)

    def start_container(self, container_id: str) -> None:
        self.call("StartContainer", {1: container_id})

    def container_status(self, container_id: str) -> tuple[int, int]:
        """(state, exit code) of the container."""
        status = nested(self.call("ContainerStatus", {1: container_id}), 1)
        return number(status, 3), number(status, 7)

    def exec_sync(self, container_id: str, cmd: list[str], timeout: int = 300) -> tuple[int, str,
                                                                                        str]:
        answer = self.call("ExecSync", {1: container_id, 2: cmd, 3: timeout},
                           timeout=timeout + 30)
        return number(answer, 3), text(answer, 1), text(answer, 2)

    def stop_container(self, container_id: str, timeout: int = 0) -> None:
        """StopContainer: SIGTERM, then SIGKILL after timeout seconds (0: SIGKILL at once)."""
        self.call("StopContainer", {1: container_id, 2: timeout})

    def remove_container(self, container_id: str) -> None:
        self.call("RemoveContainer", {1: container_id})

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("StopPodSandbox", {1: sandbox_id})

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("RemovePodSandbox", {1: sandbox_id})


def pod_config(name: str, uid: str, log_directory: str) -> Message:
    """A PodSandboxConfig as the kubelet sends it for a pod on the pod network."""
    return {
        1: {1: name, 2: uid, 3: "default", 4: 0},  # metadata
        2: name,  # hostname
        3: log_directory,
        8: {2: {1: {1: POD, 2: CONTAINER, 3: POD}}},  # linux.security_context.namespace_options
    }


def container_config(name: str, image: str, command: list[str], log_path: str,
                     mounts: dict[str, str] | None = None, attempt: int = 0) -> Message:
    """A ContainerConfig; mounts: container path -> host path (a pod's volumes, as the
    kubelet gives an emptyDir: a directory of its own on the host)."""
    config: Message = {1: {1: name, 2: attempt}, 2: {1: image}, 3: command, 11: log_path}
    if mounts:
        config[7] = [{1: ctr, 2: host} for ctr, host in mounts.items()]
    return config
