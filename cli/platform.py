"""Start the whole platform on one machine: services, one agent and the Envoy edge.

Used by `shipyard up` and by the end-to-end tests, so that tests run exactly what users run.
Each service is its own process (`python -m services.<name>`), configured through its env.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from shipyard.registry.v1 import cluster_service_pb2, cluster_service_pb2_grpc

from cli.dev_ca import process_certificate
from cli.infra import Infra, prepare
from cli.platform_config import ROOT as ROOT
from cli.platform_config import SERVICES as SERVICES
from cli.platform_config import PlatformConfig as PlatformConfig
from cli.platform_secrets import Keypair, encryption_key, superadmin_keypair
from cli.tls import ensure_self_signed
from libs.core.config import MtlsFiles
from libs.grpcutil.client import internal_channel
from libs.grpcutil.tls import channel_credentials

log = logging.getLogger(__name__)


@dataclass
class Platform:
    config: PlatformConfig
    infra: Infra | None = None
    keypair: Keypair | None = None
    internal_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://127.0.0.1:{self.config.edge_port}"

    @property
    def ca_file(self) -> Path | None:
        """The certificate clients must trust, when the edge serves TLS."""
        return self.config.data_dir / "tls" / "edge-cert.pem" if self.config.tls else None

    @property
    def token_key_file(self) -> Path:
        return self.config.data_dir / "auth" / "token-key.pem"

    @property
    def mtls_dir(self) -> Path:
        return self.config.data_dir / "mtls"

    def mtls_files(self, name: str) -> MtlsFiles | None:
        """The certificate of process `name` ("registry-1", "agent", "edge"; "client" for our
        own calls); None without mutual TLS."""
        if not self.config.mtls:
            return None
        return process_certificate(self.mtls_dir, name, self.agent_id, self.config.host)

    @property
    def agent_id(self) -> str:
        return f"agent-{self.config.ports['agent']}"

    def channel(self, name: str) -> grpc.aio.Channel:
        """A plain channel to process `name` (health checks), over mutual TLS when it is on."""
        files = self.mtls_files("client")
        if files is None:
            return grpc.aio.insecure_channel(self.address(name))
        return grpc.aio.secure_channel(self.address(name), channel_credentials(files))

    def address(self, name: str) -> str:
        return f"{self.config.host}:{self.config.port(name)}"

    def addresses(self, service: str) -> str:
        """Every replica of `service`, for the edge (host:port,host:port...)."""
        return ",".join(self.address(n) for n in self.config.instances(service))

    async def start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        (cfg.data_dir / "logs").mkdir(exist_ok=True)
        self.infra = await prepare(cfg.data_dir, cfg.database_url, cfg.redis_url, cfg.database)
        self.keypair = superadmin_keypair(cfg.data_dir)
        if cfg.tls:
            ensure_self_signed(cfg.data_dir / "tls")
        try:
            # Storage and auth first (the registry calls storage; the edge calls auth).
            # One replica after the other: the first creates shared state (keys, bootstrap).
            services = ["storage", "auth", "registry"]
            if cfg.start_scheduler_and_agent:
                services += ["scheduler", "agent"]
            for service in services:
                for name in cfg.instances(service):
                    await self._spawn(name, "services." + service)
                    await self._wait_healthy(name)
            await self._spawn("edge", "gateway")
            await self._wait_edge()
            if cfg.start_scheduler_and_agent:
                await self._wait_agent()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop in reverse order; the agent destroys its kernels on SIGTERM."""
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        self.processes.clear()
        if self.infra is not None:
            self.infra.stop()

    def env_for(self, name: str) -> dict[str, str]:
        assert self.infra is not None and self.keypair is not None
        cfg = self.config
        common = {
            "INTERNAL_TOKEN": self.internal_token,
            "BIND": self.address(name) if name != "edge" else "",
            "DATABASE_URL": self.infra.database_url,
            "REDIS_URL": self.infra.redis_url,
            "REDIS_PREFIX": cfg.redis_prefix,
            "REGISTRY_ADDR": self.address("registry"),
            "STORAGE_ADDR": self.address("storage"),
            "AUTH_ADDR": self.address("auth"),
            **({"OTLP_ENDPOINT": cfg.otlp_endpoint} if cfg.otlp_endpoint else {}),
        }
        own_port = cfg.port(name) if name != "edge" else 0
        extra: dict[str, str] = {
            "auth": {
                "BOOTSTRAP_ACCESS_KEY": self.keypair.access_key,
                "BOOTSTRAP_SECRET_KEY": self.keypair.secret_key,
                "TOKEN_KEY_FILE": str(self.token_key_file),
                "SECRET_KEY_ENCRYPTION_KEY": encryption_key(cfg.data_dir),
            },
            "storage": {
                "VOLUME_ROOT": str(cfg.data_dir / "volumes" / "local"),
                "HTTP_BIND": f"{cfg.host}:{cfg.storage_http_port}",
            },
            "registry": {
                "NODE_ID": f"registry-{own_port}",
                "START_SESSIONS": str(cfg.starts_sessions(name)).lower(),
                # A starting registry binds nothing: other replicas' binds are its work.
                "STARTER_FOLLOWS_BINDS": str(cfg.starting_registries > 0).lower(),
                "EDGE_API_ADDR": f"127.0.0.1:{cfg.edge_api_port}",
                **cfg.registry_env,
            },
            "agent": {
                "KERNEL_ROOT": str(cfg.data_dir / "kernels"),
                "AGENT_ID": self.agent_id,
                **cfg.agent_env,
            },
            "edge": {
                "PORT": str(cfg.edge_port),
                "ADMIN_PORT": str(cfg.edge_admin_port),
                # Every replica: the edge balances across the healthy ones (docs/decisions.md).
                "AUTH_ADDR": self.addresses("auth"),
                "AUTH_AUTHZ_ADDR": ",".join(
                    f"{cfg.host}:{cfg.authz_port(n)}" for n in cfg.instances("auth")
                ),
                "REGISTRY_ADDR": self.addresses("registry"),
                "SCHEDULER_ADDR": self.addresses("scheduler"),
                "STORAGE_HTTP_ADDR": f"{cfg.host}:{cfg.storage_http_port}",
                "DESCRIPTOR_SET": str(ROOT / "build" / "descriptors.binpb"),
                "CORS_ORIGINS": cfg.cors_origins,
                "RUN_DIR": str(cfg.data_dir / "edge"),
                "STATE_FILE": str(cfg.data_dir / "edge-state.json"),
                "ROUTE_API_ADDR": f"127.0.0.1:{cfg.edge_api_port}",
                # Written by auth at start (it starts first): bearer tokens verified by Envoy.
                "JWKS_FILE": str(self.token_key_file) + ".jwks.json",
                **cfg.edge_env,
                **(
                    {
                        "TLS_CERT_FILE": str(cfg.data_dir / "tls" / "edge-cert.pem"),
                        "TLS_KEY_FILE": str(cfg.data_dir / "tls" / "edge-key.pem"),
                    }
                    if cfg.tls
                    else {}
                ),
            },
            "scheduler": {"SCHEDULER_ID": f"scheduler-{own_port}"},
        }.get(name.partition("-")[0], {})
        if name.partition("-")[0] == "auth":
            extra["AUTHZ_BIND"] = f"{cfg.host}:{cfg.authz_port(name)}"  # the HTTP Check
        if (files := self.mtls_files(name)) is not None:
            extra |= {
                "MTLS_CERT_FILE": str(files.cert),
                "MTLS_KEY_FILE": str(files.key),
                "MTLS_CA_FILE": str(files.ca),
            }
        prefix = name.partition("-")[0].upper() + "_"
        env = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
        env.update({prefix + k: v for k, v in {**common, **extra}.items() if v})
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def launch(
        self, name: str, module: str, *args: str, env: dict[str, str]
    ) -> asyncio.subprocess.Process:
        """Run one more process with the platform (logs/<name>.log; stopped with the rest)."""
        await self._spawn(name, module, *args, env=env)
        return self.processes[name]

    async def _spawn(
        self, name: str, module: str, *args: str, env: dict[str, str] | None = None
    ) -> None:
        log_path = self.config.data_dir / "logs" / f"{name}.log"
        with log_path.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *_DIE_WITH_US,
                sys.executable,
                "-m",
                module,
                *args,
                cwd=ROOT,
                env=env if env is not None else self.env_for(name),
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.processes[name] = proc

    def _check_alive(self, name: str) -> None:
        proc = self.processes[name]
        if proc.returncode is not None:
            tail = (self.config.data_dir / "logs" / f"{name}.log").read_text()[-3000:]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    async def _wait_healthy(self, name: str, timeout: float = 60.0) -> None:
        async with self.channel(name) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            async with asyncio.timeout(timeout):
                while True:
                    self._check_alive(name)
                    with contextlib.suppress(grpc.aio.AioRpcError):
                        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                        if reply.status == health_pb2.HealthCheckResponse.SERVING:
                            return
                    await asyncio.sleep(0.1)

    async def _wait_edge(self, timeout: float = 30.0) -> None:
        verify: str | bool = str(self.ca_file) if self.ca_file else True
        async with httpx.AsyncClient(verify=verify) as client, asyncio.timeout(timeout):
            while True:
                self._check_alive("edge")
                with contextlib.suppress(httpx.HTTPError):
                    reply = await client.get(f"{self.endpoint}/v1/identity", timeout=1.0)
                    if reply.status_code == 401:  # Envoy and ext_authz both answer
                        return
                await asyncio.sleep(0.1)

    async def _wait_agent(self, timeout: float = 30.0) -> None:
        registry, client = self.address("registry"), self.mtls_files("client")
        async with internal_channel(registry, self.internal_token, client) as channel:
            stub = cluster_service_pb2_grpc.ClusterServiceStub(channel)
            async with asyncio.timeout(timeout):
                while True:
                    self._check_alive("agent")
                    reply = await stub.ListAgents(cluster_service_pb2.ListAgentsRequest())
                    if any(a.status == a.STATUS_ALIVE for a in reply.agents):
                        return
                    await asyncio.sleep(0.1)


# Each service gets SIGTERM when this process dies, however it dies (even SIGKILL): nothing of
# a platform outlives the `shipyard up` that started it. setpriv (util-linux) sets PDEATHSIG.
_SETPRIV = shutil.which("setpriv", path="/usr/bin:/bin")
_DIE_WITH_US = (_SETPRIV, "--pdeathsig", "TERM", "--") if _SETPRIV else ()

_PREFIXES = tuple(f"{n.upper()}_" for n in (*SERVICES, "edge"))
