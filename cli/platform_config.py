"""What `shipyard up` starts where: ports, replicas, data directory and backing services."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cli.infra import free_port

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("storage", "auth", "registry", "scheduler", "agent")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformConfig:
    data_dir: Path
    edge_port: int = 8090
    edge_admin_port: int = 9901
    storage_http_port: int = 50064  # storage's HTTP transfer endpoints (tus, Range)
    # The edge's internal route/app API (the registry opens session apps through it).
    edge_api_port: int = 8091
    ports: dict[str, int] = field(
        default_factory=lambda: {
            "auth": 50051,
            "registry": 50052,
            "scheduler": 50053,
            "storage": 50054,
            "agent": 50060,
            "authz": 50061,  # auth's HTTP Check (AUTH_AUTHZ_BIND), beside each auth replica
        }
    )
    database_url: str | None = None
    redis_url: str | None = None
    database: str = "shipyard"
    redis_prefix: str = "shipyard:"
    otlp_endpoint: str | None = None
    agent_env: dict[str, str] = field(default_factory=dict)
    cors_origins: str = "http://localhost:3000"
    tls: bool = False  # serve https with a self-signed certificate made in data_dir
    # Service-to-service mutual TLS with a development CA in data_dir/mtls (cli/dev_ca.py).
    mtls: bool = False
    # The address every service binds and is dialled at (the edge still listens on loopback):
    # one agents on other hosts can reach.
    host: str = "127.0.0.1"
    # Extra environment of the registry processes (keys without the REGISTRY_ prefix).
    registry_env: dict[str, str] = field(default_factory=dict)
    edge_env: dict[str, str] = field(default_factory=dict)  # EDGE_ settings, without the prefix
    # Processes of auth and registry behind the edge (and, above 1, two schedulers: one leads
    # through the scheduler lease). Replica i > 0 listens on its service's port + 100 * i.
    replicas: int = 1
    # Registry processes beside those that start the sessions every replica binds (the
    # others then leave starting to them: REGISTRY_START_SESSIONS, docs/scheduler-scale.md).
    # Named after the replicas ("registry-<replicas>", ...); they serve the whole API too.
    starting_registries: int = 0
    # Which of the scheduler and the agent `start` runs (bench/scheduler.py runs its own).
    start_scheduler_and_agent: bool = True

    def instances(self, service: str) -> list[str]:
        """The process names of a service: "registry", "registry-1", ..."""
        registries = self.replicas + self.starting_registries
        count = {"auth": self.replicas, "registry": registries}.get(service, 1)
        if service == "scheduler" and self.replicas > 1:
            count = 2
        return [service, *(f"{service}-{i}" for i in range(1, count))]

    def starts_sessions(self, registry_name: str) -> bool:
        """Does registry process `registry_name` run the starter and the kernel events?"""
        index = int(registry_name.partition("-")[2] or 0)
        return self.starting_registries == 0 or index >= self.replicas

    def authz_port(self, auth_name: str) -> int:
        """The HTTP Check's port of auth process `auth_name` ("auth", "auth-1", ...)."""
        return self.port(auth_name.replace("auth", "authz", 1))

    def port(self, name: str) -> int:
        if name in self.ports:
            return self.ports[name]
        service, _, index = name.partition("-")
        return self.ports[service] + 100 * int(index)

    @staticmethod
    def ephemeral(data_dir: Path, **kw: object) -> PlatformConfig:
        """Free ports everywhere: several platforms (tests, benchmarks) can run side by side."""
        ports = {name: free_port() for name in SERVICES}
        replicas = kw.get("replicas", 1)
        if isinstance(replicas, int):
            ports |= {f"{s}-{i}": free_port() for s in SERVICES for i in range(1, replicas)}
            ports |= {f"authz-{i}": free_port() for i in range(1, replicas)}
            starting = kw.get("starting_registries", 0)
            if isinstance(starting, int):
                extra = range(max(replicas, 1), replicas + starting)
                ports |= {f"registry-{i}": free_port() for i in extra}
        ports["authz"] = free_port()
        return PlatformConfig(
            data_dir=data_dir,
            edge_port=free_port(),
            edge_admin_port=free_port(),
            storage_http_port=free_port(),
            edge_api_port=free_port(),
            ports=ports,
            **kw,  # type: ignore[arg-type]  # the remaining fields, checked by the dataclass
        )
