"""A real auth service (PostgreSQL, Redis) behind a real Envoy edge, and signed-call helpers."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select, update

from cli.client import ShipyardClient
from gateway.config import EdgeSettings
from gateway.launcher import EnvoyEdge
from libs.core.identity import Role
from libs.db.engine import create_engine, session_factory
from services.auth.adapters.passwords import Argon2Hasher
from services.auth.adapters.tables import KeypairRow, ProjectMemberRow, ProjectRow, UserRow
from services.auth.app import AuthServer, serve
from services.auth.config import Settings
from services.auth.domain.model import UserStatus, new_keypair
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
    key_file = run_dir / "token-key.pem"
    settings = settings.model_copy(update={"token_key_file": key_file})
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
        public_services={
            "shipyard.auth.v1.IdentityService": "auth",
            "shipyard.auth.v1.AuthenticationService": "auth",
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
    database_url: str,
    *,
    password: str | None,
    role: Role = Role.USER,
    need_password_change: bool = False,
) -> LoginUser:
    """A user in the default domain and project, with one keypair and (maybe) a password."""
    email = f"user-{secrets.token_hex(4)}@example.com"
    keypair = new_keypair()
    engine = create_engine(database_url, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            project = (
                await session.execute(select(ProjectRow).where(ProjectRow.name == "default"))
            ).scalar_one()
            user = UserRow(
                email=email,
                username=email.split("@")[0],
                role=role,
                domain_name="default",
                password_hash=Argon2Hasher().hash(password) if password else None,
                need_password_change=need_password_change,
            )
            session.add(user)
            await session.flush()
            session.add(ProjectMemberRow(project_id=project.id, user_id=user.id))
            session.add(
                KeypairRow(
                    access_key=keypair.access_key,
                    secret_key=keypair.secret_key,
                    user_id=user.id,
                    is_admin=role in (Role.ADMIN, Role.SUPERADMIN),
                )
            )
    finally:
        await engine.dispose()
    return LoginUser(
        user_id=str(user.id),
        email=email,
        password=password or "",
        access_key=keypair.access_key,
        project_id=str(project.id),
    )


async def set_user_status(database_url: str, user_id: str, status: UserStatus) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await session.execute(
                update(UserRow).where(UserRow.id == uuid.UUID(user_id)).values(status=status)
            )
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class LoginUser:
    user_id: str
    email: str
    password: str
    access_key: str
    project_id: str
