"""Build the kernel backend the settings name, take over what a previous run left, and find
what the rest of the agent reaches through it (runners, usage, live kernels)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence

from libs.core.errors import FailedPrecondition
from services.agent.adapters.cluster_network import ClusterNetworks
from services.agent.adapters.container_backend import ContainerBackend, KernelPullListener
from services.agent.adapters.container_config import Isolation, publish_runner
from services.agent.adapters.container_engine import Engine
from services.agent.adapters.egress_policy import EgressPolicy, control_plane_networks
from services.agent.adapters.networked_backend import NetworkedBackend, NetworkedLoggingBackend
from services.agent.adapters.pooled_backend import PooledProcessBackend
from services.agent.adapters.runner_client import RunnerClient
from services.agent.config import Settings
from services.agent.domain.apps import AppNotOffered
from services.agent.domain.model import KernelUsage
from services.agent.kernel_runner import RUNNER_SCRIPT
from services.agent.service.ports import KernelBackend, KernelStatsSource

log = logging.getLogger(__name__)

# What stopping the agent does to the backend's kernels when they are kept for the next run.
Detach = Callable[[], Awaitable[None]]


async def make_backend(
    settings: Settings, agent_id: str, on_pull: KernelPullListener
) -> tuple[KernelBackend, Detach | None]:
    """The backend, its leftovers handled before the agent registers; plus how to detach from it
    at stop when `keep_kernels_on_stop` asks (None: kernels end with the agent)."""
    kernel_root = settings.resolved_kernel_root(agent_id)
    if settings.backend == "container":
        engine = Engine(settings.docker_host or None)
        egress = await _guard_engine_network(settings, agent_id, engine)
        container = ContainerBackend(
            engine,
            agent_id=agent_id,
            base_dir=kernel_root,
            isolation=Isolation(
                uid=settings.kernel_uid,
                gid=settings.kernel_gid,
                network=settings.container_network,
                pids_limit=settings.kernel_pids_max,
                shm_bytes=settings.shm_bytes,
                jupyter=settings.jupyter,
                runner_dir=(
                    publish_runner(settings.runner_host_dir)
                    if settings.runner_host_dir
                    else RUNNER_SCRIPT.parent
                ),
            ),
            on_pull=on_pull,
            egress=egress,
        )
        # Adopted kernels are reported at registration; the registry ends the sessions of the
        # kernels that did not survive ("agent-restarted").
        await container.adopt()
        if settings.keep_kernels_on_stop:
            # Kept kernels outlive the agent; their networks would not (docs/cluster-sessions.md).
            return container, container.detach
        networks = ClusterNetworks(agent_id, settings.cluster_cidr)
        await networks.reset()
        return NetworkedLoggingBackend(container, networks), None
    process = PooledProcessBackend(
        kernel_root,
        pool_size=settings.kernel_pool_size,
        python=settings.kernel_python,
        sandbox=settings.sandbox(),
        pids_max=settings.kernel_pids_max,
        log_bytes=settings.kernel_log_bytes,
        cgroup_owner=agent_id,
        jupyter=settings.jupyter,
    )
    # Before registering: the registry then ends those kernels' sessions ("agent-restarted").
    await process.reap_leftovers()
    process.start_pool()  # after the reaping, which would take its kernels for leftovers
    networks = ClusterNetworks(agent_id, settings.cluster_cidr)
    await networks.reset()
    return NetworkedBackend(process, networks), None


async def _guard_engine_network(
    settings: Settings, agent_id: str, engine: Engine
) -> EgressPolicy | None:
    """Before any kernel (adopted ones included) runs on an engine network: its subnets reach
    neither this host nor the control plane (adapters/egress_policy.py)."""
    if settings.container_network == "none":
        return None
    subnets = await engine.network_subnets(settings.container_network)
    if not subnets:
        msg = f"engine network {settings.container_network!r} has no subnet to guard"
        raise FailedPrecondition(msg, reason="KERNEL_NETWORK_UNGUARDED")
    peers = [settings.registry_addr, settings.redis_url, settings.otlp_endpoint or ""]
    denied = control_plane_networks(peers, settings.control_plane_cidrs)
    policy = EgressPolicy(agent_id)
    await policy.install([ipaddress.ip_network(s, strict=False) for s in subnets], denied)
    return policy


def stats_of(backend: KernelBackend) -> Callable[[], Awaitable[Sequence[KernelUsage]]]:
    """What the heartbeat reports of the kernels' usage (nothing for a backend that cannot)."""
    if isinstance(backend, KernelStatsSource):
        return backend.kernel_stats

    async def nothing() -> Sequence[KernelUsage]:
        return ()

    return nothing


def kernels_alive(backend: KernelBackend) -> list[str]:
    return [h.kernel_id for h in backend.list()]


def runner_of(backend: KernelBackend) -> Callable[[str], RunnerClient]:
    """The runner of a kernel, through any wrapper (cluster networks) around the backend."""
    inner: object = backend
    while not hasattr(inner, "runner") and hasattr(inner, "inner"):
        inner = inner.inner
    runner = getattr(inner, "runner", None)
    if runner is None:  # a simulated backend has no runners, hence no apps

        def none(_kernel_id: str) -> RunnerClient:
            raise AppNotOffered(f"the {backend.name} backend serves no apps")

        return none
    return runner  # type: ignore[no-any-return]  # both real backends define runner()
