"""PrepareClusterNetwork: give a cluster session's kernels on this agent their addresses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from libs.core.errors import FailedPrecondition, FieldViolation, InvalidArgument

CLUSTER_NETWORK_UNSUPPORTED = "CLUSTER_NETWORK_UNSUPPORTED"


class ClusterNetworkPort(Protocol):
    async def prepare(
        self, session_id: str, kernels: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """(host name, address) per (kernel id, host name), closed until the kernel starts."""
        ...


class PrepareClusterNetwork:
    def __init__(self, networks: ClusterNetworkPort | None, backend_name: str) -> None:
        self._networks = networks
        self._backend = backend_name

    async def __call__(
        self, session_id: str, kernels: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        names = [hostname for _, hostname in kernels]
        if len(set(names)) != len(names):
            raise InvalidArgument(
                "kernels: host names must be unique",
                violations=[FieldViolation("kernels", "host names must be unique")],
            )
        if self._networks is None:
            raise FailedPrecondition(
                f"the {self._backend} backend of this agent has no cluster networking",
                reason=CLUSTER_NETWORK_UNSUPPORTED,
                metadata={"session_id": session_id},
            )
        return await self._networks.prepare(session_id, kernels)
