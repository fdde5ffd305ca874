"""A small client of the Kubernetes CRI (runtime.v1), to drive containerd's CRI plugin as the
kubelet does.

The lab has no kubelet and no crictl (neither is packaged in Debian 12, and no registry is
reachable to fetch them), and the CRI's .proto files are not on the machine either. The CRI is
gRPC with protobuf messages, so this speaks it with grpcio and encodes the few messages it needs
from their field numbers (the CRI's wire contract, kubernetes/cri-api api.proto), with the
codec the shim uses (edera_oci.shim.wire).
"""

from __future__ import annotations

from edera_oci.shim.wire import Message, decode, encode, nested, number, text

CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock"
SERVICE = "/runtime.v1.RuntimeService/"

# NamespaceMode
POD, CONTAINER = 0, 1
# ContainerState
CONTAINER_RUNNING, CONTAINER_EXITED = 1, 2

__all__ = ["Message", "RuntimeService", "container_config", "pod_config"]


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

    def container_stats(self, container_id: str) -> tuple[int, int]:
        """(CPU time in ns, memory working set in bytes) as the kubelet's ContainerStats sees
        them (0 where containerd reports none)."""
        stats = nested(self.call("ContainerStats", {1: container_id}, timeout=120), 1)
        cpu, memory = nested(stats, 2), nested(stats, 3)
        return number(nested(cpu, 2), 1), number(nested(memory, 2), 1)

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
