"""Calling auth's admin APIs over real gRPC as a given user (as the edge forwards them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from shipyard.auth.v1 import (
    audit_service_pb2_grpc,
    domain_service_pb2_grpc,
    keypair_service_pb2_grpc,
    policy_service_pb2_grpc,
    project_service_pb2_grpc,
    resource_group_access_service_pb2_grpc,
    resource_policy_service_pb2_grpc,
    user_service_pb2_grpc,
)
from shipyard.auth.v1 import user_service_pb2 as upb

from libs.core.identity import HEADER_INTERNAL_TOKEN, HEADER_SYSTEM, Caller, Role, caller_to_headers
from services.auth.api.tenancy_convert import role_of

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@dataclass
class Admin:
    """Stubs for every admin service, all sending one caller's identity."""

    channel: grpc.aio.Channel
    metadata: list[tuple[str, str]]

    @property
    def domains(self) -> domain_service_pb2_grpc.DomainServiceStub:
        return domain_service_pb2_grpc.DomainServiceStub(self.channel)

    @property
    def projects(self) -> project_service_pb2_grpc.ProjectServiceStub:
        return project_service_pb2_grpc.ProjectServiceStub(self.channel)

    @property
    def users(self) -> user_service_pb2_grpc.UserServiceStub:
        return user_service_pb2_grpc.UserServiceStub(self.channel)

    @property
    def keypairs(self) -> keypair_service_pb2_grpc.KeypairServiceStub:
        return keypair_service_pb2_grpc.KeypairServiceStub(self.channel)

    @property
    def policies(self) -> resource_policy_service_pb2_grpc.ResourcePolicyServiceStub:
        return resource_policy_service_pb2_grpc.ResourcePolicyServiceStub(self.channel)

    @property
    def access(self) -> resource_group_access_service_pb2_grpc.ResourceGroupAccessServiceStub:
        return resource_group_access_service_pb2_grpc.ResourceGroupAccessServiceStub(self.channel)

    @property
    def audit(self) -> audit_service_pb2_grpc.AuditServiceStub:
        return audit_service_pb2_grpc.AuditServiceStub(self.channel)

    @property
    def policy(self) -> policy_service_pb2_grpc.PolicyServiceStub:
        return policy_service_pb2_grpc.PolicyServiceStub(self.channel)


def user_metadata(user: upb.User, token: str, access_key: str = "") -> list[tuple[str, str]]:
    caller = Caller(
        user_id=user.user_id,
        access_key=access_key,
        role=role_of(user.role),
        domain_name=user.domain_name,
        project_ids=tuple(user.project_ids),
        email=user.email,
    )
    headers = {k: v for k, v in caller_to_headers(caller).items() if v}
    return [
        *headers.items(),
        (HEADER_INTERNAL_TOKEN, token),
        ("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01"),
    ]


def superadmin_metadata(user_id: str, token: str) -> list[tuple[str, str]]:
    caller = Caller(user_id=user_id, role=Role.SUPERADMIN, domain_name="default", email="root@x")
    return [*caller_to_headers(caller).items(), (HEADER_INTERNAL_TOKEN, token)]


def system_metadata(token: str) -> list[tuple[str, str]]:
    return [(HEADER_INTERNAL_TOKEN, token), (HEADER_SYSTEM, "1")]


@asynccontextmanager
async def connect(port: int, metadata: list[tuple[str, str]]) -> AsyncIterator[Admin]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield Admin(channel, metadata)
