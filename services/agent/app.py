"""Composition root: settings → backend, Redis, registry channel → use cases → gRPC server."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field

from redis.asyncio import Redis
from shipyard.agent.v1 import (
    execution_service_pb2_grpc,
    kernel_app_service_pb2_grpc,
    kernel_file_service_pb2_grpc,
    kernel_service_pb2_grpc,
    terminal_service_pb2_grpc,
)

from libs.core.tasks import cancel_all, spawn
from libs.events.stream_publisher import StreamPublisher
from libs.grpcutil.client import internal_channel
from libs.grpcutil.runner import run_service
from libs.grpcutil.server import GrpcServer, Registration, create_server
from libs.grpcutil.tls import not_an_agent
from services.agent.adapters.accelerator_plugins import detect_accelerators, select_plugins
from services.agent.adapters.app_proxy import RunnerAppProxy
from services.agent.adapters.event_publisher import RedisKernelEventPublisher, kernel_stream
from services.agent.adapters.networked_backend import NetworkedBackend
from services.agent.adapters.registry_client import AgentCredential, GrpcAgentRegistry
from services.agent.adapters.runner_files import RunnerFiles
from services.agent.api.execution_servicer import SERVICE_NAME as EXECUTION_SERVICE_NAME
from services.agent.api.execution_servicer import KernelExecutionServicer
from services.agent.api.file_servicer import FILE_SERVICE_NAME, KernelFileServicer
from services.agent.api.servicer import (
    APP_SERVICE_NAME,
    SERVICE_NAME,
    KernelAppServicer,
    KernelServicer,
)
from services.agent.api.terminal_servicer import TERMINAL_SERVICE_NAME, KernelTerminalServicer
from services.agent.backends import Detach, kernels_alive, make_backend, runner_of, stats_of
from services.agent.config import Settings
from services.agent.domain.apps import app_catalog
from services.agent.domain.images import detect_architecture
from services.agent.domain.model import KernelSpec
from services.agent.domain.resources import detect_resources
from services.agent.kernel_runner import ECHO_APP_SCRIPT
from services.agent.service.apps import StartKernelApp
from services.agent.service.cluster_network import PrepareClusterNetwork
from services.agent.service.create_kernels import CreateKernels
from services.agent.service.destroy_kernel import DestroyKernel
from services.agent.service.drain import Drain
from services.agent.service.execute import ExecuteCode
from services.agent.service.exit_watch import ExitWatcher, shut_down_kernels
from services.agent.service.health import HealthMonitor, disk_space_check
from services.agent.service.kernel_files import KernelFileAccess
from services.agent.service.kernel_logs import GetKernelLogs
from services.agent.service.kernels import AgentKernels
from services.agent.service.live_execute import LiveExecute
from services.agent.service.outbound import REASON_UNKNOWN_TO_REGISTRY, AgentInfo, Phase
from services.agent.service.polled_runs import PolledRuns
from services.agent.service.ports import KernelBackend
from services.agent.service.registration import RegistrationLoop
from services.agent.service.terminal import OpenTerminal

log = logging.getLogger(__name__)

ERROR_DOMAIN = "agent.shipyard"


@dataclass(slots=True, kw_only=True)
class RunningAgent:
    agent_id: str
    port: int
    address: str
    kernels: AgentKernels
    registration: RegistrationLoop
    _server: GrpcServer
    _redis: Redis
    _registry: GrpcAgentRegistry
    _registration_task: asyncio.Task[None]
    _watch_task: asyncio.Task[None]
    _health_task: asyncio.Task[None]
    _drain: Drain
    _apps: RunnerAppProxy
    _shutdown_timeout: float
    # Set when kernels outlive the agent (container backend, keep_kernels_on_stop).
    _detach: Detach | None = None
    _stopped: bool = field(default=False)

    async def stop(self) -> None:
        """Drain (leave scheduling, finish in-flight starts), stop heartbeats, destroy every
        kernel (publishing their ends), then the server."""
        if self._stopped:
            return
        self._stopped = True
        self.kernels.draining = True
        # Heartbeats end first: a registration racing DrainAgent must not put us back.
        await cancel_all([self._registration_task, self._health_task])
        try:
            await self._drain()
        except Exception:
            log.exception("draining %s failed; stopping anyway", self.agent_id)
        try:
            if self._detach is not None:
                self.kernels.closing = True
                await self._detach()  # the next run adopts them
            else:
                await shut_down_kernels(self.kernels, wait_s=self._shutdown_timeout)
        finally:
            await cancel_all([self._watch_task])
            await self._apps.close()
            await self._server.stop(grace=2.0)
            await self._registry.close()
            await self._redis.aclose()
        log.info("agent %s stopped", self.agent_id)


async def serve(settings: Settings, *, backend: KernelBackend | None = None) -> RunningAgent:
    """Start the agent: gRPC server, exit watcher, registration and heartbeats."""
    agent_id = settings.resolved_agent_id()
    token = settings.internal_token.get_secret_value()
    resources = await asyncio.to_thread(
        detect_resources, cpu=settings.cpu, mem_bytes=settings.mem_bytes
    )
    device_dir = settings.resolved_device_dir(agent_id)
    plugins = select_plugins(
        settings.accelerator_names(),
        cuda_mode=settings.cuda_mode,
        mock_config=settings.mock_accelerator_config,
        device_dir=device_dir,
    )
    accelerators = await detect_accelerators(plugins, device_dir)
    redis = Redis.from_url(settings.redis_url)
    stream = StreamPublisher(redis, kernel_stream(settings.redis_prefix))
    credential = AgentCredential()  # issued by the registry at registration
    publisher = RedisKernelEventPublisher(stream, credential=credential)
    pulls: list[AgentKernels] = []  # the kernels' bookkeeping, once it exists

    async def on_pull(spec: KernelSpec) -> None:
        # Backend.AI's kernel_pulling: the session shows PULLING while its image comes in.
        k = pulls[0]
        await k.emit(k.event(Phase.PULLING, spec.kernel_id, spec.session_id, reason="pulling"))

    detach: Detach | None = None
    if backend is None:
        backend, detach = await make_backend(settings, agent_id, on_pull)
    # Only kernels still alive (adopted containers) keep their devices.
    accelerators.restore(kernels_alive(backend))
    kernels = AgentKernels(backend, publisher, agent_id, accelerators)
    pulls.append(kernels)
    destroy = DestroyKernel(kernels)
    live = LiveExecute(kernels)
    servicer = KernelServicer(
        kernels,
        create=CreateKernels(kernels, max_starts=settings.max_concurrent_starts),
        destroy=destroy,
        execute=ExecuteCode(kernels, default_timeout=settings.exec_timeout),
        logs=GetKernelLogs(kernels),
        networks=PrepareClusterNetwork(
            backend.networks if isinstance(backend, NetworkedBackend) else None, backend.name
        ),
        runs=PolledRuns(live),
    )
    apps = RunnerAppProxy(
        runner_of(backend), host=settings.app_host, redis=redis, internal_token=token
    )
    catalog = app_catalog(ECHO_APP_SCRIPT.read_text(), settings.app_commands)
    server = create_server(
        domain=ERROR_DOMAIN,
        internal_token=token,
        bind=settings.bind,
        mtls=settings.mtls(),
        peer_rule=not_an_agent,
        services=[
            Registration(
                kernel_service_pb2_grpc.add_KernelServiceServicer_to_server, servicer, SERVICE_NAME
            ),
            Registration(
                execution_service_pb2_grpc.add_KernelExecutionServiceServicer_to_server,
                KernelExecutionServicer(live),
                EXECUTION_SERVICE_NAME,
            ),
            Registration(
                kernel_app_service_pb2_grpc.add_KernelAppServiceServicer_to_server,
                KernelAppServicer(StartKernelApp(kernels, apps, catalog)),
                APP_SERVICE_NAME,
            ),
            Registration(
                terminal_service_pb2_grpc.add_KernelTerminalServiceServicer_to_server,
                KernelTerminalServicer(OpenTerminal(backend)),
                TERMINAL_SERVICE_NAME,
            ),
            Registration(
                kernel_file_service_pb2_grpc.add_KernelFileServiceServicer_to_server,
                KernelFileServicer(KernelFileAccess(kernels, RunnerFiles(runner_of(backend)))),
                FILE_SERVICE_NAME,
            ),
        ],
    )
    await server.start()
    watch_task = spawn(ExitWatcher(kernels, on_exit=apps.close_kernel).run(), "kernel-exit-watch")
    address = settings.advertised_addr or _advertised(settings.bind, server.port)
    registry = GrpcAgentRegistry(
        lambda: internal_channel(settings.registry_addr, token, settings.mtls()),
        timeout=settings.heartbeat_timeout,
        credential=credential,
    )
    health = HealthMonitor(
        [
            backend.probe,
            disk_space_check(settings.resolved_kernel_root(agent_id), settings.min_free_disk_bytes),
        ],
        interval=settings.health_interval,
    )
    await health.check_now()  # the first heartbeat already tells the truth
    registration = RegistrationLoop(
        registry,
        AgentInfo(
            agent_id=agent_id,
            address=address,
            resource_group=settings.resource_group,
            cpu=resources.cpu,
            mem_bytes=resources.mem_bytes,
            backend=backend.name,
            architecture=settings.architecture or detect_architecture(),
            accelerator_slots=accelerators.slots(),
        ),
        live_ids=kernels.live_ids,
        images=backend.images,
        health=lambda: health.current,
        stats=stats_of(backend),
        destroy=destroy,
        cleanup_reason=REASON_UNKNOWN_TO_REGISTRY,
        default_interval=settings.heartbeat_interval,
        backoff_max=settings.register_backoff_max,
    )
    log.info(
        "agent %s serving on %s (%s backend, accelerator slots %s)",
        agent_id,
        address,
        backend.name,
        accelerators.slots().to_strings() or "none",
    )
    return RunningAgent(
        agent_id=agent_id,
        port=server.port,
        address=address,
        kernels=kernels,
        registration=registration,
        _server=server,
        _redis=redis,
        _registry=registry,
        _registration_task=spawn(registration.run(), "agent-registration"),
        _watch_task=watch_task,
        _health_task=spawn(health.run(), "agent-health"),
        _apps=apps,
        _drain=Drain(kernels, registry, agent_id, deadline=settings.drain_timeout),
        _shutdown_timeout=settings.shutdown_timeout,
        _detach=detach,
    )


async def main() -> None:
    settings = Settings()  # type: ignore[call-arg]  # required keys come from the environment
    await run_service("agent", settings, serve)


def _advertised(bind: str, port: int) -> str:
    host = bind.rpartition(":")[0]
    if host in ("", "0.0.0.0", "[::]"):
        host = socket.gethostname()  # a wildcard bind is not an address peers can dial
    return f"{host}:{port}"
