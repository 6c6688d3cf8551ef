"""Starting a cluster session: publish kernel addresses, then launch with the cluster env.

For a session of several kernels the starter first asks each agent to prepare its kernels'
network (PrepareClusterNetwork); the agents answer with the addresses they published, which
are recorded on the kernels and handed to every kernel as its host list. Every kernel gets
the `BACKENDAI_CLUSTER_*` environment (docs/cluster-sessions.md).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.registry.domain.cluster import ClusterMember, cluster_environ, needs_network
from services.registry.service.ports import KernelLaunch, KernelTarget, PreparingSession


class ClusterNetworkClient(Protocol):
    async def prepare_cluster_network(
        self, address: str, session_id: str, kernels: Sequence[tuple[str, str]]
    ) -> Mapping[str, str]:
        """Host name → address the agent published, for (kernel id, host name) pairs."""
        ...


class ClusterAddressStore(Protocol):
    async def record_cluster_addresses(self, session_id: str, addresses: Mapping[str, str]) -> None:
        """Kernel id → published address, stored on the session's kernels."""
        ...


@dataclass(frozen=True, slots=True)
class ClusterLaunches:
    # Without them (tests of the starter alone) kernels get the environment but no network.
    agents: ClusterNetworkClient | None = None
    store: ClusterAddressStore | None = None

    async def plan(self, prep: PreparingSession) -> dict[str, list[KernelLaunch]]:
        """The launches per agent address, after the session's network is prepared."""
        session = prep.session
        members = [
            ClusterMember(
                k.kernel_id, k.cluster_role, k.cluster_idx, k.local_rank, k.cluster_hostname
            )
            for k in session.kernels
        ]
        by_id = {m.kernel_id: m for m in members}
        hosts: dict[str, str] = {}
        if needs_network(len(members)) and self.agents is not None and self.store is not None:
            hosts = await self._publish(prep, by_id, self.agents, self.store)
        by_agent: dict[str, list[KernelLaunch]] = defaultdict(list)
        for t in prep.targets:
            me = by_id[t.kernel_id]
            environ = {
                **session.environ,
                **cluster_environ(
                    session_id=session.session_id,
                    session_name=session.name,
                    access_key=session.access_key,
                    image=session.image,
                    members=members,
                    me=me,
                ),
            }
            by_agent[t.agent_address].append(
                KernelLaunch(
                    kernel_id=t.kernel_id,
                    session_id=session.session_id,
                    image=session.image,
                    slots=t.requested_slots,
                    mounts=prep.mounts,
                    environ=environ,
                    startup_command=session.startup_command,
                    cluster_hostname=me.hostname if hosts else "",
                    cluster_hosts=tuple(sorted(hosts.items())),
                )
            )
        return by_agent

    @staticmethod
    async def _publish(
        prep: PreparingSession,
        by_id: Mapping[str, ClusterMember],
        agents: ClusterNetworkClient,
        store: ClusterAddressStore,
    ) -> dict[str, str]:
        per_agent: dict[str, list[KernelTarget]] = defaultdict(list)
        for t in prep.targets:
            per_agent[t.agent_address].append(t)
        sid = prep.session.session_id
        answers = await asyncio.gather(
            *(
                agents.prepare_cluster_network(
                    address, sid, [(t.kernel_id, by_id[t.kernel_id].hostname) for t in targets]
                )
                for address, targets in per_agent.items()
            )
        )
        hosts = {name: addr for answer in answers for name, addr in answer.items()}
        by_host = {m.hostname: kid for kid, m in by_id.items()}
        await store.record_cluster_addresses(
            sid, {by_host[name]: addr for name, addr in hosts.items() if name in by_host}
        )
        return hosts
