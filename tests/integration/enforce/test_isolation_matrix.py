"""Tenant isolation: every public RPC x every kind of caller, against the real services.

Auth, registry, storage and scheduler run in-process on a private PostgreSQL database and
Redis prefix, called as the edge calls them (internal token + identity headers). The tenants
(two domains, three projects, users with keypairs) are made through auth's admin APIs. Each
case acts on a fresh object owned by user-A1 (domain A, project A1) and asserts the outcome the
access rules give: OK, NOT_FOUND (another tenant's object; listings hide it), PERMISSION_DENIED
(the role has no grant) or UNAUTHENTICATED. A public RPC without an access rule fails
`test_every_public_rpc_has_an_access_rule`; one without an object case here is still checked
for the callers the table refuses. Deactivated users and revoked keypairs are refused by the
edge (ext_authz); they are covered through the real edge in the e2e suite.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from shipyard.auth.v1 import resource_policy_service_pb2 as rp
from shipyard.auth.v1 import resource_policy_service_pb2_grpc as rp_grpc

from libs.core import access
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

pytestmark = pytest.mark.integration

RPCS = m.Rpcs()
GROUP = "matrix"  # a resource group without agents: sessions stay PENDING


@dataclass
class Platform:
    token: str
    channels: dict[str, grpc.aio.Channel]
    tenancy: m.Tenancy

    def channel(self, method: str) -> grpc.aio.Channel:
        return self.channels[method.split(".")[1]]  # "/shipyard.<service>.v1.X/Y"

    async def call(self, method: str, request: Any, caller: Caller | None) -> Any:
        stub = RPCS.call(self.channel(method), method)
        return await stub(request, metadata=m.metadata(self.token, caller), timeout=20)


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
            volume_root=tmp_path_factory.mktemp("matrix-volumes"),
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
    yield Platform(internal_token, channels, tenancy)
    for channel in channels.values():
        await channel.close()
    await scheduler.stop()
    await registry.stop()
    await storage.stop(grace=0)
    await auth.stop(grace=0)
    await drop_database(db_name)


# --- objects of user-A1 ---------------------------------------------------------------------


async def _session(p: Platform) -> str:
    request = RPCS.request(
        "/shipyard.registry.v1.SessionService/CreateSession",
        name=f"m-{secrets.token_hex(4)}",
        resources={"cpu": "1", "mem": str(256 * 1024**2)},
        resource_group=GROUP,
    )
    created = await p.call(
        "/shipyard.registry.v1.SessionService/CreateSession", request, p.tenancy.owner
    )
    return str(created.session.session_id)


async def _folder(p: Platform) -> str:
    request = RPCS.request(
        "/shipyard.storage.v1.VFolderService/CreateVFolder", name=f"f-{secrets.token_hex(4)}"
    )
    created = await p.call(
        "/shipyard.storage.v1.VFolderService/CreateVFolder", request, p.tenancy.owner
    )
    return str(created.vfolder.vfolder_id)


async def _queued_session(p: Platform) -> str:
    session_id = await _session(p)
    root = p.tenancy.callers["superadmin"]
    method = "/shipyard.scheduler.v1.SchedulerService/ListPendingSessions"
    seen: set[str] = set()

    async def poll() -> bool:
        response = await p.call(method, RPCS.request(method), root)
        seen.update(s.session_id for s in response.sessions)
        return session_id in seen

    async with asyncio.timeout(10):
        while True:
            if await poll():
                break
            await asyncio.sleep(0.05)
    return session_id


# --- cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    expected: dict[str, str]
    # Builds the request (creating user-A1's object first); returns it and, for listings, the
    # id that must appear in the answer.
    prepare: Callable[[Platform], Awaitable[tuple[Any, str]]]
    listed: Callable[[Any], set[str]] | None = None
    ok_code: str = m.OK  # what "allowed" looks like when the object's state refuses the act


def _req(method: str, **fields: Any) -> Any:
    return RPCS.request(method, **fields)


def _on_session(method: str, **fields: Any) -> Callable[[Platform], Awaitable[tuple[Any, str]]]:
    async def prepare(p: Platform) -> tuple[Any, str]:
        session_id = await _session(p)
        return _req(method, session_id=session_id, **fields), session_id

    return prepare


def _on_folder(method: str) -> Callable[[Platform], Awaitable[tuple[Any, str]]]:
    async def prepare(p: Platform) -> tuple[Any, str]:
        folder_id = await _folder(p)
        return _req(method, vfolder_id=folder_id), folder_id

    return prepare


def _listing(method: str, make: Callable[[Platform], Awaitable[str]], **fields: Any):
    async def prepare(p: Platform) -> tuple[Any, str]:
        return _req(method, **fields), await make(p)

    return prepare


def _plain(method: str, **fields: Any):
    async def prepare(p: Platform) -> tuple[Any, str]:
        return _req(method, **fields), ""

    return prepare


AUTH = "/shipyard.auth.v1"


def _tenancy_read(kind: str) -> Callable[[Platform], Awaitable[tuple[Any, str]]]:
    """Reads of user-A1's project, account and keypair (no fresh object needed)."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        owner, project = p.tenancy.owner, p.tenancy.project_a1
        requests = {
            "project": (f"{AUTH}.ProjectService/GetProject", {"project_id": project}, ""),
            "user": (f"{AUTH}.UserService/GetUser", {"user_id": owner.user_id}, ""),
            "keypair": (
                f"{AUTH}.KeypairService/GetKeypair",
                {"user_id": owner.user_id, "access_key": owner.access_key},
                "",
            ),
            "members": (f"{AUTH}.ProjectService/ListProjectMembers", {"project_id": project}, ""),
            "projects": (f"{AUTH}.ProjectService/ListProjects", {"page_size": 500}, project),
            "users": (f"{AUTH}.UserService/ListUsers", {"page_size": 500}, owner.user_id),
        }
        method, fields, target = requests[kind]
        return _req(method, **fields), target

    return prepare


def _fresh_in_a(kind: str) -> Callable[[Platform], Awaitable[tuple[Any, str]]]:
    """A new project or user in domain A, to be deleted."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        root = p.tenancy.callers["superadmin"]
        assert root is not None
        if kind == "project":
            method = f"{AUTH}.ProjectService/CreateProject"
            created = await p.call(
                method,
                _req(
                    method,
                    project={
                        "domain_name": p.tenancy.domain_a,
                        "name": f"x-{secrets.token_hex(3)}",
                    },
                ),
                root,
            )
            project_id = created.project.project_id
            return _req(f"{AUTH}.ProjectService/DeleteProject", project_id=project_id), ""
        member = await m.new_member(
            p.channels["auth"],
            p.token,
            root,
            domain=p.tenancy.domain_a,
            project_id=p.tenancy.project_a1,
        )
        return _req(f"{AUTH}.UserService/DeleteUser", user_id=member.user_id), ""

    return prepare


def _new_session_request() -> dict[str, Any]:
    return {"resources": {"cpu": "1", "mem": str(256 * 1024**2)}, "resource_group": GROUP}


REG = "/shipyard.registry.v1"
CASES: dict[str, Case] = {
    f"{REG}.SessionService/CreateSession": Case(
        m.CREATE_OWN, _plain(f"{REG}.SessionService/CreateSession", **_new_session_request())
    ),
    f"{REG}.SessionService/GetSession": Case(
        m.READ_OBJECT, _on_session(f"{REG}.SessionService/GetSession")
    ),
    f"{REG}.SessionService/ListSessions": Case(
        m.LIST,
        _listing(f"{REG}.SessionService/ListSessions", _session, page_size=100),
        listed=lambda r: {s.session_id for s in r.sessions},
    ),
    f"{REG}.SessionService/DestroySession": Case(
        m.CHANGE_OBJECT, _on_session(f"{REG}.SessionService/DestroySession")
    ),
    # Allowed callers reach the session, which is PENDING: "not running" (not "not found").
    f"{REG}.SessionService/Execute": Case(
        m.CHANGE_OBJECT,
        _on_session(f"{REG}.SessionService/Execute", code="print(1)", mode=1),
        ok_code="FAILED_PRECONDITION",
    ),
    f"{REG}.ClusterService/ListAgents": Case(
        m.ADMIN_READ, _plain(f"{REG}.ClusterService/ListAgents")
    ),
    "/shipyard.scheduler.v1.SchedulerService/ListPendingSessions": Case(
        m.LIST,
        _listing("/shipyard.scheduler.v1.SchedulerService/ListPendingSessions", _queued_session),
        listed=lambda r: {s.session_id for s in r.sessions},
    ),
    "/shipyard.storage.v1.VFolderService/CreateVFolder": Case(
        m.CREATE_OWN,
        _plain(
            "/shipyard.storage.v1.VFolderService/CreateVFolder", name="n-" + secrets.token_hex(4)
        ),
    ),
    "/shipyard.storage.v1.VFolderService/ListVFolders": Case(
        m.LIST,
        _listing("/shipyard.storage.v1.VFolderService/ListVFolders", _folder, page_size=1000),
        listed=lambda r: {f.vfolder_id for f in r.vfolders},
    ),
    "/shipyard.storage.v1.VFolderService/DeleteVFolder": Case(
        m.CHANGE_OBJECT, _on_folder("/shipyard.storage.v1.VFolderService/DeleteVFolder")
    ),
    # Tenancy objects of user-A1: their project and their account.
    "/shipyard.auth.v1.ProjectService/GetProject": Case(m.READ_OBJECT, _tenancy_read("project")),
    "/shipyard.auth.v1.UserService/GetUser": Case(m.READ_OBJECT, _tenancy_read("user")),
    "/shipyard.auth.v1.KeypairService/GetKeypair": Case(m.READ_OBJECT, _tenancy_read("keypair")),
    "/shipyard.auth.v1.ProjectService/ListProjectMembers": Case(
        m.READ_OBJECT, _tenancy_read("members")
    ),
    "/shipyard.auth.v1.ProjectService/ListProjects": Case(
        m.LIST,
        _tenancy_read("projects"),
        listed=lambda r: {p.project_id for p in r.projects},
    ),
    "/shipyard.auth.v1.UserService/ListUsers": Case(
        m.LIST, _tenancy_read("users"), listed=lambda r: {u.user_id for u in r.users}
    ),
    "/shipyard.auth.v1.ProjectService/DeleteProject": Case(m.MANAGE_IN_A, _fresh_in_a("project")),
    "/shipyard.auth.v1.UserService/DeleteUser": Case(m.MANAGE_IN_A, _fresh_in_a("user")),
    "/shipyard.auth.v1.IdentityService/GetCurrentIdentity": Case(
        m.SELF, _plain("/shipyard.auth.v1.IdentityService/GetCurrentIdentity")
    ),
}

PUBLIC = m.public_rpcs()
CALLERS = list(m.ROLES)


def _role_gate(method: str, caller: Caller | None) -> str | None:
    """The outcome decided before any object is looked at, or None when the call goes on."""
    rule = access.rule_for(method)
    assert rule is not None
    if caller is None:
        return m.UNAUTH
    return None if access.allows(caller, rule) else m.DENIED


def test_every_public_rpc_has_an_access_rule() -> None:
    missing = [rpc for rpc in PUBLIC if access.rule_for(rpc) is None]
    assert missing == [], f"public RPCs without an entry in libs/core/access.py METHODS: {missing}"


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
    case = CASES.get(rpc)
    if case is None:
        # No object case for this RPC yet: only what the table alone decides is asserted.
        gate = _role_gate(rpc, caller)
        if gate is None:
            pytest.skip(f"{rpc}: no object case; {caller_name} passes the role gate")
        outcome = await _outcome(platform, rpc, RPCS.request(rpc), caller, None, "")
        if outcome == "UNIMPLEMENTED":
            pytest.skip(f"{rpc} is not served by this build yet")
        assert outcome == gate
        return
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
    request = _req(method, project_id=tenancy.project_a1, **_new_session_request())
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

    too_big = _req(method, cluster_size=3, **_new_session_request())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await platform.call(method, too_big, newcomer)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "max_containers_per_session 2" in (err.value.details() or "")

    await platform.call(method, _req(method, **_new_session_request()), newcomer)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await platform.call(method, _req(method, **_new_session_request()), newcomer)
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_pending_sessions is 1" in (err.value.details() or "")
