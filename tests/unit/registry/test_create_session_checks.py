"""CreateSession takes project and resource group from auth's answer, and applies the policy."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from libs.core.errors import InvalidArgument
from libs.core.identity import Caller, Role
from libs.core.slots import ResourceSlots
from services.registry.domain.errors import (
    PolicyLimitExceeded,
    ProjectNotFound,
    ResourceGroupNotFound,
)
from services.registry.domain.images import ResourceGroup
from services.registry.domain.model import Session, SessionPolicy, SessionType, Status
from services.registry.service.create_session import CreateSession
from services.registry.service.image_resolution import ImageResolver
from services.registry.service.ports import NewSession
from services.registry.service.resource_groups import ResourceGroups
from services.registry.service.session_requests import CreateSessionCommand

ALICE = Caller(
    user_id="u1", access_key="AKALICE", role=Role.USER, domain_name="A", project_ids=("p1", "p2")
)


class FakePolicies:
    """Auth's answer: the member projects and allowed groups, and one keypair policy."""

    def __init__(self, policy: SessionPolicy, *, projects=("p1", "p2"), groups=("default",)):
        self.policy, self.projects, self.groups = policy, projects, groups
        self.asked: list[tuple[str, str]] = []

    async def resolve(self, caller: Caller, *, project_id: str, resource_group: str):
        self.asked.append((project_id, resource_group))
        if project_id not in self.projects:
            raise ProjectNotFound.named(project_id)
        if resource_group and resource_group not in self.groups:
            raise ResourceGroupNotFound.named(resource_group)
        return dataclasses.replace(self.policy, resource_group=resource_group or self.groups[0])


class CapturingStore:
    def __init__(self) -> None:
        self.added: list[NewSession] = []

    async def add(self, new: NewSession) -> tuple[Session, bool]:
        self.added.append(new)
        session = Session(
            session_id=new.session_id,
            name=new.name,
            session_type=new.session_type,
            image=new.image,
            status=Status.PENDING,
            status_info="",
            status_message="",
            owner_user_id=new.owner_user_id,
            access_key=new.access_key,
            domain_name=new.domain_name,
            project_id=new.project_id,
            resource_group=new.resource_group,
            requested_slots=ResourceSlots(),
            vfolder_names=(),
            client_token="",
            startup_command="",
            environ={},
            created_at=new.created_at,
            terminated_at=None,
            trace_context={},
        )
        return session, True


class NoMounts:
    async def resolve(
        self, user_id: str, names: Sequence[str], project_id: str = "", *, specs: Sequence[str] = ()
    ) -> list:
        return []


class NoWaiter:
    def subscribe(self, session_id: str) -> asyncio.Event:
        return asyncio.Event()

    def unsubscribe(self, session_id: str, flag: asyncio.Event) -> None:
        return None

    def wake(self, session_id: str, status: Status) -> None:
        return None


class ActiveGroups:
    """Every group exists and is active (group checks have their own tests)."""

    async def get(self, name: str) -> ResourceGroup:
        return ResourceGroup(
            name=name, description="", is_active=True, created_at=datetime.now(UTC)
        )


class AgentImages:
    """Every image is known from an agent's inventory, without labelled minimums."""

    async def alias_target(self, alias: str) -> None:
        return None

    async def by_name(self, canonical: str) -> list:
        return []

    async def agent_architectures(self, canonical: str) -> list[str]:
        return ["x86_64"]


def _use_case(policy: SessionPolicy | None = None, **kw):
    store, policies = CapturingStore(), FakePolicies(policy or SessionPolicy(), **kw)
    groups, images = ResourceGroups(ActiveGroups()), ImageResolver(AgentImages())  # type: ignore[arg-type]
    create = CreateSession(store, NoMounts(), NoWaiter(), policies, groups, images)  # type: ignore[arg-type]
    return create, store, policies


def _cmd(**kw) -> CreateSessionCommand:
    base = {
        "name": "",
        "session_type": SessionType.INTERACTIVE,
        "image": "",
        "resources": {"cpu": "1", "mem": "1000"},
        "vfolder_names": [],
        "startup_command": "",
        "resource_group": "",
        "client_token": "",
        "project_id": "",
        "environ": {},
        "wait": False,
        "wait_timeout": None,
    }
    return CreateSessionCommand(**{**base, **kw})


async def test_project_and_group_default_and_are_checked_with_auth():
    create, store, policies = _use_case()
    await create(ALICE, _cmd())
    assert policies.asked == [("p1", "")]  # auth picks the group when none is asked for
    assert (store.added[0].project_id, store.added[0].resource_group) == ("p1", "default")


async def test_a_project_the_caller_is_not_in_is_not_found_naming_the_field():
    create, store, _ = _use_case(projects=("p1",))
    with pytest.raises(ProjectNotFound) as err:
        await create(ALICE, _cmd(project_id="someone-elses"))
    assert [v.field for v in err.value.violations] == ["project_id"]
    assert store.added == []


async def test_a_resource_group_not_allowed_is_not_found_naming_the_field():
    create, store, _ = _use_case()
    with pytest.raises(ResourceGroupNotFound) as err:
        await create(ALICE, _cmd(resource_group="gpu-private"))
    assert [v.field for v in err.value.violations] == ["resource_group"]
    assert store.added == []


async def test_a_caller_in_no_project_must_name_one():
    create, _, _ = _use_case()
    with pytest.raises(InvalidArgument) as err:
        await create(Caller(user_id="u9", access_key="AK9", domain_name="A"), _cmd())
    assert [v.field for v in err.value.violations] == ["project_id"]


async def test_more_containers_than_the_policy_allows_is_refused_naming_the_limit():
    create, store, _ = _use_case(SessionPolicy(max_containers_per_session=2))
    with pytest.raises(PolicyLimitExceeded) as err:
        await create(ALICE, _cmd(cluster_size=3))
    assert err.value.metadata["limit"] == "max_containers_per_session"
    assert [v.field for v in err.value.violations] == ["cluster_size"]
    await create(ALICE, _cmd(cluster_size=2))
    assert [k.cluster_role for k in store.added[0].kernels] == ["main", "sub"]


async def test_a_request_above_the_keypair_total_can_never_run_and_is_refused():
    policy = SessionPolicy(total_resource_slots=ResourceSlots({"cpu": 4, "mem": 10**9}))
    create, store, _ = _use_case(policy)
    with pytest.raises(PolicyLimitExceeded) as err:
        await create(ALICE, _cmd(resources={"cpu": "2", "mem": "1000"}, cluster_size=3))
    assert err.value.metadata == {"limit": "total_resource_slots", "slots": "cpu"}
    assert [v.field for v in err.value.violations] == ["resources.cpu"]
    assert store.added == []


async def test_the_session_carries_the_lifetime_and_pending_cap_of_the_policy():
    create, store, _ = _use_case(SessionPolicy(max_session_lifetime=60, max_pending_sessions=4))
    await create(ALICE, _cmd(project_id="p2"))
    new = store.added[0]
    assert (new.max_lifetime_seconds, new.max_pending_sessions, new.project_id) == (60, 4, "p2")
