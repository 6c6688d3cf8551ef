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
from gateway.config import PUBLIC_SERVICES, EdgeSettings
from gateway.launcher import EnvoyEdge
from libs.core.identity import Role
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
    more_authz_replicas: tuple[str, ...] = (),
) -> AsyncIterator[Stack]:
    """`more_authz_replicas`: host:port of further HTTP Check replicas the edge lists after
    this auth's own."""
    settings = Settings(
        internal_token=TOKEN,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=f"test:{secrets.token_hex(4)}:",
        bind="127.0.0.1:0",
        authz_bind="127.0.0.1:0",
        bootstrap_admin_email=f"admin-{secrets.token_hex(4)}@example.com",
        migrate=False,
        **(auth or {}),
    )
    key_file = run_dir / "token-key.pem"
    settings = settings.model_copy(update={"token_key_file": key_file})
    server = await serve(settings)
    dead = f"127.0.0.1:{free_port()}"  # only auth is behind this edge
    edge_settings = EdgeSettings(
        port=0,
        admin_port=0,
        auth_addr=f"127.0.0.1:{server.port}",
        auth_authz_addr=",".join((f"127.0.0.1:{server.authz_port}", *more_authz_replicas)),
        registry_addr=dead,
        scheduler_addr=dead,
        storage_addr=dead,
        internal_token=SecretStr(TOKEN),
        descriptor_set=DESCRIPTORS,
        public_services={
            name: upstream for name, upstream in PUBLIC_SERVICES.items() if upstream == "auth"
        },
        jwks_file=settings.jwks_path(),
        concurrency=1,
        log_level="info",
        run_dir=run_dir,
        **(edge or {}),
    )
    try:
        async with EnvoyEdge(edge_settings) as envoy:
            scheme = "https" if edge_settings.tls_cert_file else "http"
            yield Stack(auth=server, edge=envoy, scheme=scheme)
    finally:
        await server.stop(grace=0.5)


async def add_user(
    stack: Stack,
    *,
    password: str,
    role: Role = Role.USER,
    need_password_change: bool = False,
    rate_limit: int | None = None,
) -> LoginUser:
    """A user in the default domain and project with one keypair, created by the superadmin
    through the admin API (/v1/users, /v1/users/{id}/keypairs) as an operator would."""
    email = f"user-{secrets.token_hex(4)}@example.com"
    async with stack.client() as admin:
        project_id = (await admin.whoami())["project_ids"][0]
        user = await admin.request(
            "POST",
            "/v1/users",
            body={
                "user": {
                    "email": email,
                    "username": email.split("@")[0],
                    "domain_name": "default",
                    "role": f"ROLE_{role.value.upper()}",
                    "need_password_change": need_password_change,
                },
                "password": password,
                "project_ids": [project_id],
            },
        )
        user_id = user["user"]["user_id"]
        keypair: dict[str, Any] = {} if rate_limit is None else {"rate_limit": rate_limit}
        issued = await admin.request("POST", f"/v1/users/{user_id}/keypairs", body=keypair)
    return LoginUser(
        user_id=user_id,
        email=email,
        password=password,
        access_key=issued["keypair"]["access_key"],
        secret_key=issued["secret_key"],
        project_id=project_id,
    )


async def deactivate(stack: Stack, user_id: str) -> None:
    async with stack.client() as admin:
        await admin.request(
            "PATCH",
            f"/v1/users/{user_id}",
            body={
                "user": {"user_id": user_id, "status": "USER_STATUS_INACTIVE"},
                "update_mask": "status",
            },
        )


@dataclass(frozen=True)
class LoginUser:
    user_id: str
    email: str
    password: str
    access_key: str
    secret_key: str
    project_id: str

    def client(self, stack: Stack) -> ShipyardClient:
        return ShipyardClient(stack.endpoint, self.access_key, self.secret_key)
