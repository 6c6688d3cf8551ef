"""A small multi-tenant world built through the admin APIs: two domains, their admins,
users and a monitor."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from google.protobuf import field_mask_pb2
from shipyard.auth.v1 import domain_service_pb2 as dpb
from shipyard.auth.v1 import keypair_service_pb2 as kpb
from shipyard.auth.v1 import project_service_pb2 as ppb
from shipyard.auth.v1 import user_service_pb2 as upb
from shipyard.type.v1 import identity_pb2
from sqlalchemy import text

from libs.db.engine import create_engine
from services.auth.config import Settings
from tests.integration.auth.admin_client import (
    Admin,
    superadmin_metadata,
    system_metadata,
    user_metadata,
)

PASSWORD = "correct horse battery"


@dataclass
class World:
    root: Admin
    domain_a: str
    domain_b: str
    project_a: ppb.Project
    project_b: ppb.Project
    admin_a: upb.User
    user_a: upb.User
    user_a2: upb.User
    user_b: upb.User
    monitor: upb.User
    token: str

    def as_user(self, user: upb.User) -> Admin:
        return Admin(self.root.channel, user_metadata(user, self.token))


async def superadmin(channel_admin: Admin, token: str, email: str) -> Admin:
    system = Admin(channel_admin.channel, system_metadata(token))
    found = await system.users.ListUsers(
        upb.ListUsersRequest(email_contains=email), metadata=system.metadata
    )
    me = found.users[0]
    return Admin(channel_admin.channel, user_metadata(me, token))


async def make_user(root: Admin, domain: str, role: int, projects: list[str], tag: str) -> upb.User:
    response = await root.users.CreateUser(
        upb.CreateUserRequest(
            user=upb.User(
                email=f"{tag}-{secrets.token_hex(3)}@example.com",
                domain_name=domain,
                role=role,
                full_name=tag.title(),
            ),
            password=PASSWORD,
            project_ids=projects,
        ),
        metadata=root.metadata,
    )
    return response.user


async def build_world(root: Admin, token: str) -> World:
    suffix = secrets.token_hex(3)
    names = (f"alpha-{suffix}", f"beta-{suffix}")
    for name in names:
        await root.domains.CreateDomain(
            dpb.CreateDomainRequest(domain=dpb.Domain(name=name, is_active=True)),
            metadata=root.metadata,
        )
    projects = []
    for name in names:
        created = await root.projects.CreateProject(
            ppb.CreateProjectRequest(project=ppb.Project(domain_name=name, name="research")),
            metadata=root.metadata,
        )
        projects.append(created.project)
    pa, pb = projects
    return World(
        root=root,
        domain_a=names[0],
        domain_b=names[1],
        project_a=pa,
        project_b=pb,
        admin_a=await make_user(root, names[0], identity_pb2.ROLE_ADMIN, [], "admin-a"),
        user_a=await make_user(root, names[0], identity_pb2.ROLE_USER, [pa.project_id], "ua"),
        user_a2=await make_user(root, names[0], identity_pb2.ROLE_USER, [pa.project_id], "ua2"),
        user_b=await make_user(root, names[1], identity_pb2.ROLE_USER, [pb.project_id], "ub"),
        monitor=await make_user(root, names[1], identity_pb2.ROLE_MONITOR, [], "mon"),
        token=token,
    )


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


__all__ = ["PASSWORD", "World", "build_world", "mask", "superadmin", "superadmin_metadata"]


async def issue_keypair(
    world: World, user: upb.User, **fields: object
) -> kpb.CreateKeypairResponse:
    """A new keypair of `user`, issued by the world's superadmin."""
    return await world.root.keypairs.CreateKeypair(
        kpb.CreateKeypairRequest(user_id=user.user_id, keypair=kpb.Keypair(**fields)),
        metadata=world.root.metadata,
    )


async def deactivate_keypair(world: World, user: upb.User, access_key: str) -> None:
    """Revoke `user`'s keypair (is_active false), as the world's superadmin."""
    await world.root.keypairs.UpdateKeypair(
        kpb.UpdateKeypairRequest(
            keypair=kpb.Keypair(user_id=user.user_id, access_key=access_key),
            update_mask=mask("is_active"),
        ),
        metadata=world.root.metadata,
    )


async def set_rate_limit(database_url: str, access_key: str, limit: int) -> None:
    """A keypair's requests per window, written straight into auth's table."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE auth.keypairs SET rate_limit = :n WHERE access_key = :k"),
                {"n": limit, "k": access_key},
            )
    finally:
        await engine.dispose()


def replica_settings(database_url: str, token: str, email: str, prefix: str) -> Settings:
    """An auth replica on free ports over a migrated database; replicas given one `prefix`
    share their Redis keys."""
    return Settings(
        internal_token=token,
        database_url=database_url,
        bind="127.0.0.1:0",
        authz_bind="127.0.0.1:0",
        bootstrap_admin_email=email,
        migrate=False,
        redis_prefix=f"test:{prefix}:",
        registry_addr="127.0.0.1:1",  # no registry: these tests never end sessions
    )
