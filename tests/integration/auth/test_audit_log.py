"""The audit log: admin calls recorded with their trace id and outcome, also when refused before
the servicer, and each domain's admins see only their domain's events."""

from __future__ import annotations

import grpc
import pytest
from shipyard.auth.v1 import audit_service_pb2 as apb
from shipyard.auth.v1 import user_service_pb2 as upb

from tests.integration.auth.admin_client import TRACE_ID
from tests.integration.auth.tenants import World, mask

pytestmark = pytest.mark.integration


async def test_audit_log_records_admin_calls_with_trace_id_scoped_by_domain(world: World):
    admin = world.as_user(world.admin_a)
    await admin.users.UpdateUser(
        upb.UpdateUserRequest(
            user=upb.User(user_id=world.user_a.user_id, description="audited"),
            update_mask=mask("description"),
        ),
        metadata=admin.metadata,
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await admin.users.GetUser(
            upb.GetUserRequest(user_id=world.user_b.user_id), metadata=admin.metadata
        )
    with pytest.raises(grpc.aio.AioRpcError):  # refused: another tenant's user
        await admin.users.DeleteUser(
            upb.DeleteUserRequest(user_id=world.user_b.user_id), metadata=admin.metadata
        )

    mine = await admin.audit.ListAuditEvents(
        apb.ListAuditEventsRequest(actor_user_id=world.admin_a.user_id), metadata=admin.metadata
    )
    actions = [(e.action, e.outcome, e.target_id) for e in mine.events]
    assert actions == [
        ("user.delete", apb.AUDIT_OUTCOME_DENIED, world.user_b.user_id),
        ("user.update", apb.AUDIT_OUTCOME_SUCCESS, world.user_a.user_id),
    ]
    assert {e.trace_id for e in mine.events} == {TRACE_ID}
    assert all(e.domain_name == world.domain_a for e in mine.events)
    # The superadmin created domain B's user; domain A's admin does not see that event.
    seen_by_a = await admin.audit.ListAuditEvents(
        apb.ListAuditEventsRequest(action="user.create"), metadata=admin.metadata
    )
    assert world.user_b.user_id not in {e.target_id for e in seen_by_a.events}
    assert world.user_a.user_id in {e.target_id for e in seen_by_a.events}
    everything = await world.root.audit.ListAuditEvents(
        apb.ListAuditEventsRequest(action="user.create", domain_name=world.domain_b),
        metadata=world.root.metadata,
    )
    assert world.user_b.user_id in {e.target_id for e in everything.events}
    user = world.as_user(world.user_a)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await user.audit.ListAuditEvents(apb.ListAuditEventsRequest(), metadata=user.metadata)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_calls_refused_before_the_servicer_are_audited_too(world: World):
    monitor = world.as_user(world.monitor)
    with pytest.raises(grpc.aio.AioRpcError):  # monitors change nothing: refused by the rules
        await monitor.users.UpdateUser(
            upb.UpdateUserRequest(
                user=upb.User(user_id=world.user_a.user_id, full_name="x"),
                update_mask=mask("full_name"),
            ),
            metadata=monitor.metadata,
        )
    with pytest.raises(grpc.aio.AioRpcError):  # invalid input: refused by validation
        await world.root.users.DeleteUser(
            upb.DeleteUserRequest(user_id="not-a-uuid"), metadata=world.root.metadata
        )
    seen = await world.root.audit.ListAuditEvents(
        apb.ListAuditEventsRequest(actor_user_id=world.monitor.user_id),
        metadata=world.root.metadata,
    )
    assert [(e.action, e.outcome, e.status_code) for e in seen.events] == [
        ("user.update", apb.AUDIT_OUTCOME_DENIED, "PERMISSION_DENIED")
    ]
    bad = await world.root.audit.ListAuditEvents(
        apb.ListAuditEventsRequest(action="user.delete", target_id="not-a-uuid"),
        metadata=world.root.metadata,
    )
    assert [e.outcome for e in bad.events] == [apb.AUDIT_OUTCOME_FAILURE]
