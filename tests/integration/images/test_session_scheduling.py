"""CreateSession's scheduling fields against the real registry, scheduler and auth:
priority bounded by the resource policy, start times, and dependencies between sessions."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from shipyard.auth.v1 import resource_policy_service_pb2 as rpb
from shipyard.auth.v1 import resource_policy_service_pb2_grpc as rpb_grpc
from shipyard.registry.v1 import session_service_pb2 as pb

from tests.integration.enforce import matrix
from tests.integration.images.conftest import Platform
from tests.integration.images.helpers import expect_code
from tests.integration.images.test_session_images import (
    PYTHON,
    create,
    new_group,
    register_agent,
    wait_for,
)
from tests.integration.storage.helpers import violated_fields

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
async def python_known(platform):
    """Some agent reports the default image, so sessions may name it."""
    await register_agent(platform, await new_group(platform), arch="amd64", images=(PYTHON,))


async def _user_with_priority(platform: Platform, highest: int):
    name = f"prio-{secrets.token_hex(4)}"
    await rpb_grpc.ResourcePolicyServiceStub(platform.auth_channel).CreateResourcePolicy(
        rpb.CreateResourcePolicyRequest(
            resource_policy=rpb.ResourcePolicy(name=name, max_session_priority=highest)
        ),
        metadata=platform.as_caller(platform.superadmin),
    )
    return await matrix.new_member(
        platform.auth_channel,
        platform.token,
        platform.superadmin,
        domain=platform.tenancy.domain_a,
        project_id=platform.tenancy.project_a1,
        resource_policy=name,
    )


async def test_priority_above_the_resource_policy_is_refused_naming_the_field(platform):
    err = await expect_code(
        create(platform, await platform.user(), priority=1), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert violated_fields(err) == ["priority"]
    assert "max_session_priority 0" in (err.details() or "")
    trusted = await _user_with_priority(platform, 10)
    session = await create(platform, trusted, priority=10, preemptible=True)
    assert (session.priority, session.preemptible) == (10, True)
    err = await expect_code(
        create(platform, trusted, priority=11), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert violated_fields(err) == ["priority"]


async def test_only_batch_sessions_take_a_start_time(platform):
    later = Timestamp()
    later.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    err = await expect_code(
        create(platform, await platform.user(), starts_at=later),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violated_fields(err) == ["starts_at"]


async def test_a_batch_session_waits_for_its_start_time_saying_when(platform):
    group = await new_group(platform)
    await register_agent(platform, group, arch="amd64", images=(PYTHON,))
    later = Timestamp()
    later.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    caller = await platform.user()
    session = await create(
        platform,
        caller,
        resource_group=group,
        session_type=pb.SESSION_TYPE_BATCH,
        startup_command="true",
        starts_at=later,
    )
    assert session.starts_at.seconds == later.seconds
    noted = await wait_for(platform, caller, session.session_id, lambda s: s.status_info != "")
    assert noted.status == pb.SESSION_STATUS_PENDING
    assert noted.status_info == "predicate-checks-failed"
    assert noted.status_message.startswith("reserved-time: starts at ")


async def test_a_dependency_must_be_a_session_the_caller_can_see(platform):
    owner, stranger = await platform.user(), await platform.user()
    theirs = await create(platform, owner)
    for missing in (theirs.session_id, "00000000-0000-4000-8000-000000000000"):
        err = await expect_code(
            create(platform, stranger, dependencies=[missing]), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert violated_fields(err) == ["dependencies[0]"]
        assert "is not a session you can see" in (err.details() or "")


async def test_a_session_waits_on_its_dependency_and_is_cancelled_when_it_fails(platform):
    caller = await platform.user()
    empty = await new_group(platform)  # no agent: the dependency can only wait
    parent = await create(platform, caller, resource_group=empty)
    group = await new_group(platform)
    await register_agent(platform, group, arch="amd64", images=(PYTHON,))
    child = await create(platform, caller, resource_group=group, dependencies=[parent.session_id])
    assert list(child.dependencies) == [parent.session_id]
    waiting = await wait_for(platform, caller, child.session_id, lambda s: s.status_info != "")
    assert waiting.status == pb.SESSION_STATUS_PENDING
    assert waiting.status_message == (
        f"dependencies: waiting for 1 of 1 dependencies to succeed: {parent.session_id}"
    )
    await platform.sessions.DestroySession(
        pb.DestroySessionRequest(session_id=parent.session_id),
        metadata=platform.as_caller(caller),
    )
    ended = await wait_for(
        platform, caller, child.session_id, lambda s: s.status != pb.SESSION_STATUS_PENDING
    )
    assert ended.status == pb.SESSION_STATUS_CANCELLED
    assert ended.status_info == "dependency-failed"
    assert ended.status_message == f"dependency {parent.session_id} did not finish successfully"
