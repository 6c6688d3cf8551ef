"""The tenant-isolation matrix: public RPCs from the descriptor set, callers, expected outcomes.

Public RPCs are the methods with a google.api.http rule in build/descriptors.binpb. Calls are
made generically (message classes from the descriptor set), as Envoy would forward them: the
internal token plus identity headers, or no identity at all for a stranger.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, field_mask_pb2, message_factory
from google.protobuf.message import Message
from shipyard.auth.v1 import domain_service_pb2 as dpb
from shipyard.auth.v1 import domain_service_pb2_grpc as dpb_grpc
from shipyard.auth.v1 import keypair_service_pb2 as kpb
from shipyard.auth.v1 import keypair_service_pb2_grpc as kpb_grpc
from shipyard.auth.v1 import project_service_pb2 as ppb
from shipyard.auth.v1 import project_service_pb2_grpc as ppb_grpc
from shipyard.auth.v1 import resource_group_access_service_pb2 as rga
from shipyard.auth.v1 import resource_group_access_service_pb2_grpc as rga_grpc
from shipyard.auth.v1 import user_service_pb2 as upb
from shipyard.auth.v1 import user_service_pb2_grpc as upb_grpc
from shipyard.type.v1 import identity_pb2

from libs.core.identity import (
    HEADER_INTERNAL_TOKEN,
    HEADER_SYSTEM,
    Caller,
    Role,
    caller_to_headers,
)

ROOT = Path(__file__).resolve().parents[3]
DESCRIPTORS = ROOT / "build" / "descriptors.binpb"

OK = "OK"
HIDDEN = "HIDDEN"  # a listing answered, without the other tenant's object
NOT_FOUND = "NOT_FOUND"
DENIED = "PERMISSION_DENIED"
UNAUTH = "UNAUTHENTICATED"


def _fds() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())


def public_rpcs() -> list[str]:
    """Full method names ("/pkg.Service/Method") of every RPC with an HTTP rule."""
    found = []
    for f in _fds().file:
        if not f.package.startswith("shipyard."):
            continue
        for service in f.service:
            for method in service.method:
                if method.options.HasExtension(annotations_pb2.http):
                    found.append(f"/{f.package}.{service.name}/{method.name}")
    return sorted(found)


class Rpcs:
    """Request and response classes of every method, built from the descriptor set."""

    def __init__(self) -> None:
        pool = descriptor_pool.DescriptorPool()
        for f in _fds().file:
            pool.Add(f)
        self._pool = pool

    def request(self, method: str, **fields: Any) -> Message:
        desc = self._method(method)
        cls = message_factory.GetMessageClass(desc.input_type)
        message: Message = cls(**fields)
        return message

    def call(self, channel: grpc.aio.Channel, method: str) -> Any:
        """A stub; a client stream takes a list of requests (a bidi stream also one request), a
        server stream answers a list."""
        desc = self._method(method)
        response = message_factory.GetMessageClass(desc.output_type)
        codec: dict[str, Any] = {
            "request_serializer": lambda m: m.SerializeToString(),
            "response_deserializer": response.FromString,
        }
        if desc.client_streaming and desc.server_streaming:
            both = channel.stream_stream(method, **codec)

            async def converse(requests: Any, **kw: Any) -> list[Any]:
                items = requests if isinstance(requests, list) else [requests]
                return [m async for m in both(iter(items), **kw)]

            return converse
        if desc.client_streaming:
            upstream = channel.stream_unary(method, **codec)
            return lambda requests, **kw: upstream(iter(requests), **kw)
        if desc.server_streaming:
            downstream = channel.unary_stream(method, **codec)

            async def collect(request: Any, **kw: Any) -> list[Any]:
                return [m async for m in downstream(request, **kw)]

            return collect
        return channel.unary_unary(method, **codec)

    def _method(self, method: str) -> Any:
        service, name = method.strip("/").split("/")
        return self._pool.FindServiceByName(service).methods_by_name[name]


@dataclass(frozen=True)
class Tenancy:
    """Two domains; domain A has projects A1 and A2. The objects under test belong to user-A1."""

    domain_a: str
    project_a1: str
    project_a2: str
    project_b1: str
    callers: Mapping[str, Caller | None]

    @property
    def owner(self) -> Caller:
        owner = self.callers["user-A1"]
        assert owner is not None
        return owner


# Who calls: name → (role, domain, project); the superadmin is the bootstrap one.
ROLES: dict[str, Role | None] = {
    "superadmin": Role.SUPERADMIN,
    "admin-A": Role.ADMIN,
    "admin-B": Role.ADMIN,
    "user-A1": Role.USER,
    "user-A2": Role.USER,
    "monitor": Role.MONITOR,
    "stranger": None,
}
_ROLE_PB = {
    Role.USER: identity_pb2.ROLE_USER,
    Role.ADMIN: identity_pb2.ROLE_ADMIN,
    Role.MONITOR: identity_pb2.ROLE_MONITOR,
}


async def build_tenancy(channel: grpc.aio.Channel, token: str, resource_group: str) -> Tenancy:
    """The tenants, made through auth's admin APIs as the bootstrap superadmin would."""
    system = ((HEADER_INTERNAL_TOKEN, token), (HEADER_SYSTEM, "1"))
    found = await upb_grpc.UserServiceStub(channel).ListUsers(
        upb.ListUsersRequest(role=identity_pb2.ROLE_SUPERADMIN), metadata=system
    )
    root_user = found.users[0]
    root = await _with_keypair(channel, system, root_user, Role.SUPERADMIN)
    as_root = metadata(token, root)
    tag = secrets.token_hex(3)
    domain_a, domain_b = f"dom-a-{tag}", f"dom-b-{tag}"
    domains = dpb_grpc.DomainServiceStub(channel)
    projects = ppb_grpc.ProjectServiceStub(channel)
    for name in (domain_a, domain_b):
        await domains.CreateDomain(
            dpb.CreateDomainRequest(domain=dpb.Domain(name=name, is_active=True)), metadata=as_root
        )
    made = {}
    for key, domain in (("a1", domain_a), ("a2", domain_a), ("b1", domain_b)):
        reply = await projects.CreateProject(
            ppb.CreateProjectRequest(
                project=ppb.Project(domain_name=domain, name=f"p-{key}", is_active=True)
            ),
            metadata=as_root,
        )
        made[key] = reply.project.project_id
    await rga_grpc.ResourceGroupAccessServiceStub(channel).UpdateResourceGroupAccess(
        rga.UpdateResourceGroupAccessRequest(
            access=rga.ResourceGroupAccess(
                resource_group=resource_group, domain_names=[domain_a, domain_b, root.domain_name]
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["domain_names"]),
        ),
        metadata=as_root,
    )
    plan = {
        "admin-A": (domain_a, made["a2"]),
        "admin-B": (domain_b, made["b1"]),
        "user-A1": (domain_a, made["a1"]),
        "user-A2": (domain_a, made["a2"]),
        "monitor": (domain_b, made["b1"]),
    }
    callers: dict[str, Caller | None] = {"superadmin": root, "stranger": None}
    for name, (domain, project) in plan.items():
        role = ROLES[name]
        assert role is not None
        callers[name] = await new_member(
            channel, token, root, domain=domain, project_id=project, role=role
        )
    return Tenancy(domain_a, made["a1"], made["a2"], made["b1"], callers)


async def new_member(
    channel: grpc.aio.Channel,
    token: str,
    root: Caller,
    *,
    domain: str,
    project_id: str,
    role: Role = Role.USER,
    resource_policy: str = "",
) -> Caller:
    """A new user of `project_id` with a keypair (of `resource_policy`, if given)."""
    as_root = metadata(token, root)
    created = await upb_grpc.UserServiceStub(channel).CreateUser(
        upb.CreateUserRequest(
            user=upb.User(
                email=f"{role.value}-{secrets.token_hex(4)}@example.com",
                domain_name=domain,
                role=_ROLE_PB[role],
            ),
            password="correct horse battery",
            project_ids=[project_id],
        ),
        metadata=as_root,
    )
    return await _with_keypair(channel, as_root, created.user, role, resource_policy)


async def _with_keypair(
    channel: grpc.aio.Channel,
    as_admin: Sequence[tuple[str, str]],
    user: upb.User,
    role: Role,
    resource_policy: str = "",
) -> Caller:
    """The caller as the edge describes a request signed with a fresh keypair of `user`."""
    issued = await kpb_grpc.KeypairServiceStub(channel).CreateKeypair(
        kpb.CreateKeypairRequest(
            user_id=user.user_id, keypair=kpb.Keypair(resource_policy=resource_policy)
        ),
        metadata=as_admin,
    )
    return Caller(
        user_id=user.user_id,
        access_key=issued.keypair.access_key,
        role=role,
        domain_name=user.domain_name,
        project_ids=tuple(user.project_ids),
        email=user.email,
    )


def metadata(token: str, caller: Caller | None) -> tuple[tuple[str, str], ...]:
    """What Envoy forwards: the internal token and, for an authenticated caller, identity."""
    if caller is None:
        return ((HEADER_INTERNAL_TOKEN, token),)
    return ((HEADER_INTERNAL_TOKEN, token), *caller_to_headers(caller).items())


# Expected outcomes by access class, for an object owned by user-A1 (domain A, project A1).
READ_OBJECT = {
    "superadmin": OK,
    "admin-A": OK,
    "admin-B": NOT_FOUND,
    "user-A1": OK,
    "user-A2": NOT_FOUND,
    "monitor": OK,
    "stranger": UNAUTH,
}
CHANGE_OBJECT = {**READ_OBJECT, "monitor": DENIED}
LIST = {k: HIDDEN if v == NOT_FOUND else v for k, v in READ_OBJECT.items()}
CREATE_OWN = {k: UNAUTH if k == "stranger" else OK for k in READ_OBJECT} | {"monitor": DENIED}
ADMIN_READ = {
    "superadmin": OK,
    "admin-A": OK,
    "admin-B": OK,
    "user-A1": DENIED,
    "user-A2": DENIED,
    "monitor": OK,
    "stranger": UNAUTH,
}
SIGNED_IN = {k: UNAUTH if k == "stranger" else OK for k in READ_OBJECT}
SELF = SIGNED_IN  # the caller's own identity and password
# Global objects only superadmins change (domains, policies, images, registries).
SUPER_ONLY = dict.fromkeys(READ_OBJECT, DENIED) | {"superadmin": OK, "stranger": UNAUTH}
# Managing another account or a project of domain A: admins of A and superadmins only.
MANAGE_IN_A = {
    "superadmin": OK,
    "admin-A": OK,
    "admin-B": NOT_FOUND,
    "user-A1": DENIED,
    "user-A2": DENIED,
    "monitor": DENIED,
    "stranger": UNAUTH,
}
