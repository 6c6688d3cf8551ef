"""Tenant isolation: every public RPC x every kind of caller, against the real services.

Auth, registry, storage and scheduler run in-process on a private PostgreSQL database and
Redis prefix, called as the edge calls them (internal token + identity headers). The tenants
(two domains, three projects, users with keypairs) are made through auth's admin APIs. Each
case acts on a fresh object owned by user-A1 (domain A, project A1) and asserts the outcome the
access rules give: OK, NOT_FOUND (another tenant's object; listings hide it), PERMISSION_DENIED
(the role has no grant) or UNAUTHENTICATED. A public RPC without an access rule fails
`test_every_public_rpc_has_an_access_rule`, one without an object case (matrix_cases.py for
sessions and folders, matrix_tenancy_cases.py, matrix_catalog_cases.py) fails
`test_every_public_rpc_has_an_object_case`: no cell is skipped. Deactivated users and revoked
keypairs are refused by the edge (ext_authz); they are covered through the real edge in the
e2e suite.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from shipyard.auth.v1 import resource_policy_service_pb2 as rp
from shipyard.auth.v1 import resource_policy_service_pb2_grpc as rp_grpc

from libs.core import access, rpc_access
from libs.core.identity import Caller
from services.auth.app import AuthServer
from services.auth.app import serve as serve_auth
from services.auth.config import Settings as AuthSettings
from services.registry.app import RunningRegistry
from services.registry.app import serve as serve_registry
from services.registry.config import Settings as RegistrySettings
from services.scheduler.app import RunningScheduler
from services.scheduler.app import serve as serve_scheduler
from services.scheduler.config import Settings as SchedulerSettings
from services.storage.app import StorageServer
from services.storage.app import serve as serve_storage
from services.storage.config import Settings as StorageSettings
from tests.conftest import create_database, drop_database
from tests.integration.enforce import matrix as m
from tests.integration.enforce.matrix_cases import (
    CASES as WORK_CASES,
)
from tests.integration.enforce.matrix_cases import REG, new_session_request
from tests.integration.enforce.matrix_catalog_cases import CASES as CATALOG_CASES
from tests.integration.enforce.matrix_catalog_cases import seed_image
from tests.integration.enforce.matrix_event_cases import CASES as EVENT_CASES
from tests.integration.enforce.matrix_folder_cases import CASES as FOLDER_CASES
from tests.integration.enforce.matrix_kit import GROUP, Platform, req
from tests.integration.enforce.matrix_template_cases import CASES as TEMPLATE_CASES
from tests.integration.enforce.matrix_tenancy_cases import CASES as TENANCY_CASES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def platform(
    redis_url: str, internal_token: str, tmp_path_factory
) -> AsyncIterator[Platform]:
    db_name, db_url = await create_database()
    prefix = f"matrix:{secrets.token_hex(4)}:"
    auth: AuthServer = await serve_auth(
        AuthSettings(
            internal_token=internal_token,
            database_url=db_url,
            redis_url=redis_url,
            bind="127.0.0.1:0",
            authz_bind="127.0.0.1:0",
            bootstrap_admin_email=f"root-{secrets.token_hex(3)}@example.com",
        )
    )
    auth_channel = grpc.aio.insecure_channel(f"127.0.0.1:{auth.port}")
    tenancy = await m.build_tenancy(auth_channel, internal_token, GROUP)
    await auth_channel.close()
    storage: StorageServer = await serve_storage(
        StorageSettings(
            internal_token=internal_token,
            database_url=db_url,
            bind="127.0.0.1:0",
            http_bind="127.0.0.1:0",
            volume_root=tmp_path_factory.mktemp("matrix-volumes"),
            auth_addr=f"127.0.0.1:{auth.port}",
        )
    )
    registry: RunningRegistry = await serve_registry(
        RegistrySettings(
            internal_token=internal_token,
            database_url=db_url,
            redis_url=redis_url,
            redis_prefix=prefix,
            bind="127.0.0.1:0",
            storage_addr=f"127.0.0.1:{storage.port}",
            auth_addr=f"127.0.0.1:{auth.port}",
        )
    )
    scheduler: RunningScheduler = await serve_scheduler(
        SchedulerSettings(
            internal_token=internal_token,
            redis_url=redis_url,
            redis_prefix=prefix,
            bind="127.0.0.1:0",
            registry_addr=f"127.0.0.1:{registry.port}",
            auth_addr=f"127.0.0.1:{auth.port}",
        )
    )
    ports = {
        "auth": auth.port,
        "registry": registry.port,
        "storage": storage.port,
        "scheduler": scheduler.port,
    }
    channels = {k: grpc.aio.insecure_channel(f"127.0.0.1:{p}") for k, p in ports.items()}
    made = Platform(internal_token, channels, tenancy, registry.engine)
    # Sessions queue in a group no agent serves (they stay PENDING), with a known image.
    create_group = f"{REG}.ResourceGroupService/CreateResourceGroup"
    await made.call(
        create_group,
        req(create_group, resource_group={"name": GROUP, "is_active": True}),
        tenancy.callers["superadmin"],
    )
    await seed_image(registry.engine, "python:3.11")  # CreateSession's default image
    yield made
    for channel in channels.values():
        await channel.close()
    await scheduler.stop()
    await registry.stop()
    await storage.stop(grace=0)
    await auth.stop(grace=0)
    await drop_database(db_name)


PUBLIC = m.public_rpcs()
CALLERS = list(m.ROLES)
CASES = {
    **WORK_CASES,
    **TENANCY_CASES,
    **CATALOG_CASES,
    **FOLDER_CASES,
    **EVENT_CASES,
    **TEMPLATE_CASES,
}


def _role_gate(method: str, caller: Caller | None) -> str | None:
    """The outcome decided before any object is looked at, or None when the call goes on."""
    rule = rpc_access.rule_for(method)
    assert rule is not None
    if rule.public:
        return None  # the request carries its own credential (a password, a refresh token)
    if caller is None:
        return m.UNAUTH
    return None if access.allows(caller, rule) else m.DENIED


def test_every_public_rpc_has_an_access_rule() -> None:
    missing = [rpc for rpc in PUBLIC if rpc_access.rule_for(rpc) is None]
    assert missing == [], f"public RPCs without an entry in rpc_access.METHODS: {missing}"


def test_every_public_rpc_has_an_object_case() -> None:
    missing = [rpc for rpc in PUBLIC if rpc not in CASES]
    assert missing == [], f"public RPCs the matrix does not exercise: {missing}"


def test_the_expectations_agree_with_the_access_table() -> None:
    for rpc, case in CASES.items():
        for name, role in m.ROLES.items():
            caller = None if role is None else Caller(user_id=name, role=role)
            gate = _role_gate(rpc, caller)
            expected = case.expected[name]
            if gate is None:
                assert expected in (m.OK, m.HIDDEN, m.NOT_FOUND), (rpc, name)
            else:
                assert expected == gate, (rpc, name)


@pytest.mark.parametrize("caller_name", CALLERS)
@pytest.mark.parametrize("rpc", PUBLIC)
async def test_isolation(platform: Platform, rpc: str, caller_name: str) -> None:
    caller = platform.tenancy.callers[caller_name]
    case = CASES[rpc]
    request, target = await case.prepare(platform)
    outcome = await _outcome(platform, rpc, request, caller, case.listed, target)
    expected = case.expected[caller_name]
    if expected == m.OK:
        expected = case.ok_code
    assert outcome == expected, f"{caller_name} calling {rpc}"


async def _outcome(
    platform: Platform,
    rpc: str,
    request: Any,
    caller: Caller | None,
    listed: Callable[[Any], set[str]] | None,
    target: str,
) -> str:
    try:
        response = await platform.call(rpc, request, caller)
    except grpc.aio.AioRpcError as exc:
        return exc.code().name
    if listed is not None:
        return m.OK if target in listed(response) else m.HIDDEN
    return m.OK


async def test_a_session_in_a_project_the_caller_is_not_in_is_refused(platform: Platform) -> None:
    method = f"{REG}.SessionService/CreateSession"
    tenancy = platform.tenancy
    request = req(method, project_id=tenancy.project_a1, **new_session_request())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await platform.call(method, request, tenancy.callers["user-A2"])
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert f"project {tenancy.project_a1!r} not found" in (err.value.details() or "")
    created = await platform.call(method, request, tenancy.owner)
    assert created.session.project_id == tenancy.project_a1


async def test_limits_at_create_name_the_limit(platform: Platform) -> None:
    method = f"{REG}.SessionService/CreateSession"
    tenancy, auth = platform.tenancy, platform.channels["auth"]
    root = tenancy.callers["superadmin"]
    assert root is not None
    name = f"tight-{secrets.token_hex(3)}"
    await rp_grpc.ResourcePolicyServiceStub(auth).CreateResourcePolicy(
        rp.CreateResourcePolicyRequest(
            resource_policy=rp.ResourcePolicy(
                name=name, max_containers_per_session=2, max_pending_sessions=1
            )
        ),
        metadata=m.metadata(platform.token, root),
    )
    newcomer = await m.new_member(
        auth,
        platform.token,
        root,
        domain=tenancy.domain_a,
        project_id=tenancy.project_a2,
        resource_policy=name,
    )

    too_big = req(method, cluster_size=3, **new_session_request())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await platform.call(method, too_big, newcomer)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "max_containers_per_session 2" in (err.value.details() or "")

    await platform.call(method, req(method, **new_session_request()), newcomer)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await platform.call(method, req(method, **new_session_request()), newcomer)
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_pending_sessions is 1" in (err.value.details() or "")
