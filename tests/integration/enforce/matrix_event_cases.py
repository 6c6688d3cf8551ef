"""Object cases for a session's lifecycle events, its renaming, and background tasks' progress.

The session is user-A1's, cancelled while pending (its resource group has no agents), so its
event history is complete and a per-session watch ends by itself; the rescan is of a registry
nobody listens at, so it fails at once and its watch ends too.
"""

from __future__ import annotations

import secrets
from typing import Any

from tests.integration.enforce import matrix as m
from tests.integration.enforce.matrix_catalog_cases import _rescan_task
from tests.integration.enforce.matrix_folder_cases import OWN_SCOPE, _task
from tests.integration.enforce.matrix_kit import Case, Platform, owner_session, req

REG = "/shipyard.registry.v1"
EVENTS = f"{REG}.UserEventService"


async def _ended_session(p: Platform) -> str:
    """A session of user-A1, cancelled; returns once its final event is in the history."""
    session_id = await owner_session(p)
    destroy = f"{REG}.SessionService/DestroySession"
    await p.call(destroy, req(destroy, session_id=session_id), p.tenancy.owner)
    watch = f"{EVENTS}/WatchSessionEvents"
    events = await p.call(watch, req(watch, session_id=session_id), p.tenancy.owner)
    assert events[-1].name == "session_cancelled", [e.name for e in events]
    return session_id


async def _watch_session(p: Platform) -> tuple[Any, str]:
    session_id = await _ended_session(p)
    return req(f"{EVENTS}/WatchSessionEvents", session_id=session_id), session_id


async def _watch_all(p: Platform) -> tuple[Any, str]:
    session_id = await _ended_session(p)
    return req(
        f"{EVENTS}/WatchEvents", session_id=session_id, last_event_id="0-0", no_follow=True
    ), session_id


async def _rename(p: Platform) -> tuple[Any, str]:
    session_id = await owner_session(p)
    method = f"{REG}.SessionControlService/RenameSession"
    return req(method, session_id=session_id, name=f"r-{secrets.token_hex(4)}"), session_id


async def _restart(p: Platform) -> tuple[Any, str]:
    session_id = await owner_session(p)
    return req(f"{REG}.SessionControlService/RestartSession", session_id=session_id), session_id


async def _watch_rescan(p: Platform) -> tuple[Any, str]:
    get, _ = await _rescan_task(p)
    return req(f"{REG}.RescanTaskService/WatchRescanTask", task_id=get.task_id), ""


async def _watch_clone(p: Platform) -> tuple[Any, str]:
    get, _ = await _task(p)
    return req("/shipyard.storage.v1.VFolderTaskService/WatchVFolderTask", task_id=get.task_id), ""


CASES: dict[str, Case] = {
    "/shipyard.storage.v1.VFolderTaskService/WatchVFolderTask": Case(OWN_SCOPE, _watch_clone),
    f"{REG}.RescanTaskService/WatchRescanTask": Case(m.ADMIN_READ, _watch_rescan),
    f"{EVENTS}/WatchSessionEvents": Case(m.READ_OBJECT, _watch_session),
    f"{EVENTS}/WatchEvents": Case(
        m.LIST, _watch_all, listed=lambda events: {e.event.session_id for e in events}
    ),
    f"{REG}.SessionControlService/RenameSession": Case(m.CHANGE_OBJECT, _rename),
    # Restarting is `update`; the PENDING session has nothing running to restart yet.
    f"{REG}.SessionControlService/RestartSession": Case(
        m.CHANGE_OBJECT, _restart, ok_code="FAILED_PRECONDITION"
    ),
}
