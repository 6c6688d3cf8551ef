"""The tenant-isolation matrix: public RPCs from the descriptor set, callers, expected outcomes.

Public RPCs are the methods with a google.api.http rule in build/descriptors.binpb. Calls are
made generically (message classes from the descriptor set), as Envoy would forward them: the
internal token plus identity headers, or no identity at all for a stranger.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from libs.core.identity import HEADER_INTERNAL_TOKEN, Caller, Role, caller_to_headers

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
        desc = self._method(method)
        response = message_factory.GetMessageClass(desc.output_type)
        return channel.unary_unary(
            method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response.FromString,
        )

    def _method(self, method: str) -> Any:
        service, name = method.strip("/").split("/")
        return self._pool.FindServiceByName(service).methods_by_name[name]


@dataclass(frozen=True)
class Tenancy:
    """Two domains; domain A has projects A1 and A2. The objects under test belong to user-A1."""

    project_a1: str
    project_a2: str
    project_b1: str
    callers: Mapping[str, Caller | None]

    @property
    def owner(self) -> Caller:
        owner = self.callers["user-A1"]
        assert owner is not None
        return owner


def tenancy(access_key_of: Mapping[str, str] | None = None) -> Tenancy:
    keys = access_key_of or {}
    a1, a2, b1 = (str(uuid.uuid4()) for _ in range(3))

    def caller(name: str, role: Role, domain: str, projects: tuple[str, ...]) -> Caller:
        return Caller(
            user_id=str(uuid.uuid4()),
            access_key=keys.get(name, f"AK{uuid.uuid4().hex[:18].upper()}"),
            role=role,
            domain_name=domain,
            project_ids=projects,
            email=f"{name}@example.com",
        )

    return Tenancy(
        project_a1=a1,
        project_a2=a2,
        project_b1=b1,
        callers={
            "superadmin": caller("superadmin", Role.SUPERADMIN, "domain-b", (b1,)),
            "admin-A": caller("admin-A", Role.ADMIN, "domain-a", (a2,)),
            "admin-B": caller("admin-B", Role.ADMIN, "domain-b", (b1,)),
            "user-A1": caller("user-A1", Role.USER, "domain-a", (a1,)),
            "user-A2": caller("user-A2", Role.USER, "domain-a", (a2,)),
            "monitor": caller("monitor", Role.MONITOR, "domain-b", (b1,)),
            "stranger": None,
        },
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
SELF = {k: UNAUTH if k == "stranger" else OK for k in READ_OBJECT}
