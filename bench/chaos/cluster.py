"""The platform as separate, killable processes: replicas, several agents, the Envoy edge.

Every process gets the environment `shipyard up` gives it (`cli.platform.Platform.env_for`),
pointed at the benchmark's own PostgreSQL and Redis, plus what makes a replica distinct (its
port, node/scheduler/agent id, kernel root). Internal clients reach the registry replicas
through one gRPC target naming both (`ipv4:host:a,host:b`, pick-first: a client whose replica
died moves to the other one). The edge's configuration names one address per upstream, so it
talks to the first registry replica only: while that replica is down, clients retry until it
is back.
"""

from __future__ import annotations

import asyncio
import contextlib
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

from cli.infra import Infra, free_port
from cli.platform import ROOT, Platform, PlatformConfig
from cli.platform_secrets import Keypair

# Each process is killed when the benchmark dies, however it dies (util-linux setpriv).
_SETPRIV_BIN = shutil.which("setpriv", path="/usr/bin:/bin")
_SETPRIV = (_SETPRIV_BIN, "--pdeathsig", "KILL", "--") if _SETPRIV_BIN else ()


@dataclass
class Instance:
    """One process of the platform: which service, its env, its process when running."""

    name: str
    service: str  # storage, auth, registry, scheduler, agent, edge
    port: int
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None


@dataclass
class Cluster:
    data_dir: Path
    database_url: str
    redis_url: str
    agents: int = 4
    replicas: int = 2
    redis_prefix: str = "chaos:"
    agent_env: dict[str, str] = field(default_factory=dict)
    registry_env: dict[str, str] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    platform: Platform | None = None

    @property
    def endpoint(self) -> str:
        assert self.platform is not None
        return self.platform.endpoint

    @property
    def superadmin(self) -> Keypair:
        assert self.platform is not None and self.platform.keypair is not None
        return self.platform.keypair

    @property
    def internal_token(self) -> str:
        assert self.platform is not None
        return self.platform.internal_token

    def registry_target(self) -> str:
        ports = [i.port for i in self.instances.values() if i.service == "registry"]
        return "ipv4:" + ",".join(f"127.0.0.1:{p}" for p in ports)

    def plan(self) -> None:
        """Decide every instance's port and environment (nothing starts yet)."""
        config = PlatformConfig.ephemeral(
            self.data_dir,
            database_url=self.database_url,
            redis_url=self.redis_url,
            redis_prefix=self.redis_prefix,
        )
        platform = Platform(config)
        platform.infra = Infra(database_url=self.database_url, redis_url=self.redis_url)
        platform.keypair = Keypair(
            "AK" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30)[:40]
        )
        self.platform = platform
        ports = config.ports
        self._add("storage", "storage", ports["storage"], {})
        self._add("auth", "auth", ports["auth"], {})
        for n in range(1, self.replicas + 1):
            port = ports["registry"] if n == 1 else free_port()
            extra = {"NODE_ID": f"registry-{n}", **self.registry_env}
            self._add(f"registry-{n}", "registry", port, extra)
        for n in range(1, self.replicas + 1):
            port = ports["scheduler"] if n == 1 else free_port()
            self._add(f"scheduler-{n}", "scheduler", port, {"SCHEDULER_ID": f"scheduler-{n}"})
        for n in range(1, self.agents + 1):
            extra = {
                "AGENT_ID": f"agent-{n}",
                "KERNEL_ROOT": str(self.data_dir / "kernels" / f"agent-{n}"),
                **self.agent_env,
            }
            self._add(f"agent-{n}", "agent", ports["agent"] if n == 1 else free_port(), extra)
        self._add("edge", "edge", config.edge_port, {})
        target = self.registry_target()
        for inst in self.instances.values():
            if inst.service in ("scheduler", "agent", "auth"):
                inst.env[inst.service.upper() + "_REGISTRY_ADDR"] = target

    def _add(self, name: str, service: str, port: int, extra: dict[str, str]) -> None:
        assert self.platform is not None
        env = self.platform.env_for(service)
        prefix = service.upper() + "_"
        if service != "edge":
            env[prefix + "BIND"] = f"127.0.0.1:{port}"
        env.update({prefix + k: v for k, v in extra.items()})
        self.instances[name] = Instance(name, service, port, env)

    async def start_all(self) -> None:
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        for inst in self.instances.values():  # planned in dependency order
            await self.start(inst.name)

    async def start(self, name: str, timeout: float = 90.0) -> None:
        inst = self.instances[name]
        module = "gateway" if inst.service == "edge" else f"services.{inst.service}"
        with (self.data_dir / "logs" / f"{name}.log").open("ab") as out:
            inst.process = await asyncio.create_subprocess_exec(
                *_SETPRIV,
                sys.executable,
                *("-m", module),
                cwd=ROOT,
                env=inst.env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        await asyncio.wait_for(self._ready(inst), timeout)

    async def _ready(self, inst: Instance) -> None:
        while True:
            if not inst.alive:
                tail = (self.data_dir / "logs" / f"{inst.name}.log").read_text()[-2000:]
                raise RuntimeError(f"{inst.name} exited:\n{tail}")
            if await (self._edge_ready() if inst.service == "edge" else _serving(inst.port)):
                return
            await asyncio.sleep(0.2)

    async def _edge_ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(timeout=1.0) as client:
                reply = await client.get(f"{self.endpoint}/v1/identity")
                return reply.status_code == 401  # Envoy and ext_authz both answer
        return False

    def kill(self, name: str) -> None:
        """kill -9: the edge's whole process group (the Envoy it runs), else the service."""
        inst = self.instances[name]
        if inst.process is None or inst.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if inst.service == "edge":
                os.killpg(inst.process.pid, signal.SIGKILL)
            else:
                inst.process.kill()

    async def terminate(self, name: str, grace: float = 20.0) -> None:
        """SIGTERM (a graceful stop), SIGKILL after `grace` seconds."""
        inst = self.instances[name]
        if inst.process is None or inst.process.returncode is not None:
            return
        inst.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(inst.process.wait(), grace)
        except TimeoutError:
            self.kill(name)
            await inst.process.wait()

    async def stop_all(self) -> None:
        for name in reversed(list(self.instances)):
            with contextlib.suppress(ProcessLookupError):
                await self.terminate(name, grace=10.0)


async def _serving(port: int) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with contextlib.suppress(grpc.aio.AioRpcError):
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    return False
