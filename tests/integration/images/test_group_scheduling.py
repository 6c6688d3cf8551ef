"""Resource groups choose their scheduling policy, options and selector through the API."""

from __future__ import annotations

import asyncio
import secrets

import grpc
import pytest
from shipyard.registry.v1 import resource_group_service_pb2 as rg_pb
from shipyard.registry.v1 import session_service_pb2 as session_pb

from libs.core.identity import Role
from tests.integration.images.conftest import Platform
from tests.integration.images.helpers import expect_code, mask
from tests.integration.images.test_session_images import PYTHON, create, register_agent, wait_for
from tests.integration.storage.helpers import violated_fields

pytestmark = pytest.mark.integration


async def _create(platform: Platform, **fields: object) -> rg_pb.ResourceGroup:
    group = rg_pb.ResourceGroup(name=f"rg-{secrets.token_hex(4)}", is_active=True, **fields)
    reply = await platform.groups.CreateResourceGroup(
        rg_pb.CreateResourceGroupRequest(resource_group=group),
        metadata=platform.as_caller(platform.superadmin),
    )
    return reply.resource_group


async def _update(platform: Platform, caller, group: rg_pb.ResourceGroup, *paths: str):
    return await platform.groups.UpdateResourceGroup(
        rg_pb.UpdateResourceGroupRequest(resource_group=group, update_mask=mask(*paths)),
        metadata=platform.as_caller(caller),
    )


async def test_a_new_group_gets_the_default_policy_and_selector(platform):
    group = await _create(platform)
    assert (group.scheduler, group.agent_selector) == ("fifo", "least-occupied")
    assert not group.scheduler_options and not group.allowed_session_types
    assert (group.pending_timeout_seconds, group.reservation_wait_seconds) == (0, 0)


async def test_an_admin_configures_a_groups_scheduling_and_everyone_reads_it(platform):
    group = await _create(
        platform,
        scheduler="fifo",
        scheduler_options={"num_retries_to_skip": "3"},
        agent_selector="most-occupied",
        allowed_session_types=["batch"],
        pending_timeout_seconds=3600,
        reservation_wait_seconds=600,
    )
    assert dict(group.scheduler_options) == {"num_retries_to_skip": "3"}
    changed = rg_pb.ResourceGroup(name=group.name, scheduler="drf", agent_selector="legacy")
    admin = await platform.user(Role.ADMIN)
    reply = await _update(
        platform, admin, changed, "scheduler", "scheduler_options", "agent_selector"
    )
    updated = reply.resource_group
    assert (updated.scheduler, updated.agent_selector) == ("drf", "legacy")
    assert not updated.scheduler_options  # masked and empty: cleared
    assert list(updated.allowed_session_types) == ["batch"]  # not masked: kept
    assert updated.pending_timeout_seconds == 3600
    seen = await platform.groups.GetResourceGroup(
        rg_pb.GetResourceGroupRequest(name=group.name),
        metadata=platform.as_caller(await platform.user()),
    )
    assert seen.resource_group.scheduler == "drf"


async def test_an_ordinary_user_cannot_change_a_groups_policy(platform):
    group = await _create(platform)
    user = await platform.user()
    changed = rg_pb.ResourceGroup(name=group.name, scheduler="lifo")
    await expect_code(
        _update(platform, user, changed, "scheduler"), grpc.StatusCode.PERMISSION_DENIED
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"scheduler": "sjf"}, "resource_group.scheduler"),
        ({"agent_selector": "random"}, "resource_group.agent_selector"),
        ({"pending_timeout_seconds": -1}, "resource_group.pending_timeout_seconds"),
        ({"allowed_session_types": ["daemon"]}, "resource_group.allowed_session_types"),
        (
            {"scheduler": "fifo", "scheduler_options": {"num_retries_to_skip": "-1"}},
            "resource_group.scheduler_options.num_retries_to_skip",
        ),
        (
            {"scheduler": "drf", "scheduler_options": {"num_retries_to_skip": "2"}},
            "resource_group.scheduler_options.num_retries_to_skip",
        ),
    ],
)
async def test_bad_scheduling_settings_are_refused_naming_the_field(platform, fields, field):
    err = await expect_code(_create(platform, **fields), grpc.StatusCode.INVALID_ARGUMENT)
    assert violated_fields(err) == [field]


async def test_changing_only_the_options_is_checked_against_the_current_policy(platform):
    group = await _create(platform, scheduler="lifo")
    changed = rg_pb.ResourceGroup(name=group.name, scheduler_options={"num_retries_to_skip": "1"})
    err = await expect_code(
        _update(platform, platform.superadmin, changed, "scheduler_options"),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "scheduler 'lifo' has no option 'num_retries_to_skip'" in err.details()


async def test_a_group_that_runs_only_batch_keeps_interactive_sessions_pending_saying_why(
    platform,
):
    group = await _create(platform, allowed_session_types=["batch"])
    await platform.allow(group.name)
    await asyncio.sleep(1.0)  # several refresh intervals: the scheduler has read the group
    await register_agent(platform, group.name, arch="amd64", images=(PYTHON,))
    caller = await platform.user()
    interactive = await create(platform, caller, resource_group=group.name)
    batch = await create(
        platform,
        caller,
        resource_group=group.name,
        session_type=session_pb.SESSION_TYPE_BATCH,
        startup_command="true",
    )
    placed = await wait_for(
        platform, caller, batch.session_id, lambda s: s.status != session_pb.SESSION_STATUS_PENDING
    )
    assert placed.kernels[0].agent_id
    waiting = await wait_for(
        platform, caller, interactive.session_id, lambda s: s.status_info != ""
    )
    assert waiting.status == session_pb.SESSION_STATUS_PENDING
    assert waiting.status_info == "predicate-checks-failed"
    assert waiting.status_message == (
        f"session-type: resource group '{group.name}' does not run interactive sessions "
        "(allowed: batch)"
    )


async def test_a_session_pending_longer_than_its_groups_timeout_is_cancelled(platform):
    group = await _create(platform, pending_timeout_seconds=1)
    await platform.allow(group.name)
    caller = await platform.user()
    # No agent in the group: the session can only wait, until the timeout ends it.
    waiting = await create(platform, caller, resource_group=group.name)
    ended = await wait_for(
        platform,
        caller,
        waiting.session_id,
        lambda s: s.status != session_pb.SESSION_STATUS_PENDING,
    )
    assert ended.status == session_pb.SESSION_STATUS_CANCELLED
    assert ended.status_info == "pending-timeout"
    assert f"longer than resource group '{group.name}' allows (1 s)" in ended.status_message
    assert all(k.status == session_pb.SESSION_STATUS_CANCELLED for k in ended.kernels)


async def test_without_a_timeout_a_session_keeps_waiting(platform):
    group = await _create(platform)
    await platform.allow(group.name)
    caller = await platform.user()
    waiting = await create(platform, caller, resource_group=group.name)
    noted = await wait_for(platform, caller, waiting.session_id, lambda s: s.status_info != "")
    await asyncio.sleep(1.5)  # longer than the other group's timeout
    again = await platform.sessions.GetSession(
        session_pb.GetSessionRequest(session_id=noted.session_id),
        metadata=platform.as_caller(caller),
    )
    assert again.session.status == session_pb.SESSION_STATUS_PENDING
    assert again.session.status_info == noted.status_info  # still waiting, same reason
