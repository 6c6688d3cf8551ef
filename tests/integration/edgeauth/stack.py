"""A real auth service (PostgreSQL, Redis) behind a real Envoy edge, and signed-call helpers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from cli.client import ShipyardClient
from gateway.config import EdgeSettings
from gateway.launcher import EnvoyEdge
from services.auth.app import AuthServer, serve
from services.auth.config import Settings
from tests.integration.gateway.edge_harness import DESCRIPTORS, free_port

TOKEN = "edgeauth-test-token"


@dataclass
class Stack:
    auth: AuthServer
    edge: EnvoyEdge
    scheme: str = "http"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.edge.listen_port}"

    @property
    def grpc_addr(self) -> str:
        return f"127.0.0.1:{self.edge.listen_port}"

    def client(self) -> ShipyardClient:
        kp = self.auth.keypair
        return ShipyardClient(self.endpoint, kp.access_key, kp.secret_key)


@asynccontextmanager
async def edge_stack(
    database_url: str,
    redis_url: str,
    run_dir: Path,
    *,
    auth: dict[str, Any] | None = None,
    edge: dict[str, Any] | None = None,
) -> AsyncIterator[Stack]:
    settings = Settings(
        internal_token=TOKEN,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"test:{secrets.token_hex(4)}:",
        bind="127.0.0.1:0",
        bootstrap_admin_email=f"admin-{secrets.token_hex(4)}@example.com",
        migrate=False,
        **(auth or {}),
    )
    server = await serve(settings)
    dead = f"127.0.0.1:{free_port()}"  # only auth is behind this edge
    edge_settings = EdgeSettings(
        port=0,
        admin_port=0,
        auth_addr=f"127.0.0.1:{server.port}",
        registry_addr=dead,
        scheduler_addr=dead,
        storage_addr=dead,
        internal_token=SecretStr(TOKEN),
        descriptor_set=DESCRIPTORS,
        public_services={"shipyard.auth.v1.IdentityService": "auth"},
        concurrency=1,
        log_level="info",
        run_dir=run_dir,
        **(edge or {}),
    )
    try:
        async with EnvoyEdge(edge_settings) as envoy:
            yield Stack(auth=server, edge=envoy)
    finally:
        await server.stop(grace=0.5)
