"""Lifecycle events for users through the edge's native gRPC, with real kernels: a session's
owner follows its start and end, resumes after an event, and nobody else sees any of it."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import grpc
import pytest
from shipyard.registry.v1 import user_event_service_pb2 as pb
from shipyard.registry.v1 import user_event_service_pb2_grpc as pb_grpc

from cli.client import ApiError, ShipyardClient
from cli.grpc_signing import signed_channel
from cli.platform import Platform
from services.auth.domain.model import Keypair
from tests.e2e.cli_as_user import cli_as
from tests.e2e.tenants import domain_admin, ordinary_user

pytestmark = pytest.mark.e2e
Event = pb.WatchSessionEventsResponse | pb.WatchEventsResponse


@contextlib.asynccontextmanager
async def _stub(platform: Platform, keys: Keypair) -> AsyncIterator[pb_grpc.UserEventServiceStub]:
    address = f"127.0.0.1:{platform.config.edge_port}"
    async with signed_channel(address, keys.access_key, keys.secret_key) as channel:
        yield pb_grpc.UserEventServiceStub(channel)


async def _all(stream: AsyncIterator[Event], timeout: float = 60.0) -> list[Event]:
    async with asyncio.timeout(timeout):
        return [event async for event in stream]


async def _within(stream: AsyncIterator[Event], seconds: float) -> list[Event]:
    """What a watch that does not end by itself delivers within `seconds`."""
    got: list[Event] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for event in stream:
                got.append(event)
    return got


async def _cli(platform: Platform, keys: Keypair, *args: str) -> str:
    """The real CLI as the keypair's user; its stdout (it must succeed)."""
    code, out, err = await cli_as(platform, keys, *args)
    assert code == 0, err
    return out


async def test_owner_follows_start_and_end_and_resumes_others_see_nothing(
    platform: Platform,
) -> None:
    owner, other, admin = (
        await ordinary_user(platform),
        await ordinary_user(platform),
        await domain_admin(platform),
    )
    async with ShipyardClient(platform.endpoint, owner.access_key, owner.secret_key) as client:
        session = await client.create_session(
            session_type="SESSION_TYPE_BATCH",
            startup_command="echo working; sleep 1; exit 3",
            client_token=secrets.token_hex(8),
        )
    sid = session["session_id"]

    async with _stub(platform, owner) as stub:
        events = await _all(stub.WatchSessionEvents(pb.WatchSessionEventsRequest(session_id=sid)))
        names = [e.name for e in events]
        assert names[0] == "session_enqueued", names
        if "kernel_creating" in names:  # unless the agent's started overtook it
            assert names.index("kernel_creating") < names.index("kernel_started"), names
        for earlier, later in (
            ("session_enqueued", "session_scheduled"),
            ("session_scheduled", "kernel_started"),
            ("kernel_started", "session_started"),
            ("session_started", "kernel_terminated"),
            ("kernel_terminated", "session_terminated"),
        ):
            assert names.index(earlier) < names.index(later), names
        end = events[-1]
        assert end.name == "session_terminated" and end.event.session_id == sid
        assert end.event.reason == "task-finished" and end.event.HasField("exit_code")
        assert end.event.exit_code == 3
        assert all(e.event_id for e in events)

        # Resuming after session_started gives exactly the events after it.
        started = names.index("session_started")
        resumed = await _all(
            stub.WatchSessionEvents(
                pb.WatchSessionEventsRequest(session_id=sid, last_event_id=events[started].event_id)
            )
        )
        assert [e.event_id for e in resumed] == [e.event_id for e in events[started + 1 :]]

        # The cross-session watch shows the owner the same events, filtered by session and scope.
        mine = await _within(
            stub.WatchEvents(
                pb.WatchEventsRequest(session_id=sid, scope="session", last_event_id="0-0")
            ),
            seconds=3,
        )
        assert [e.name for e in mine] == [n for n in names if n.startswith("session_")]

    # The CLI follows the same session to its end, one line per event.
    printed = await _cli(platform, owner, "session", "events", sid)
    lines = printed.splitlines()
    assert [line.split()[2] for line in lines] == names
    assert "reason=task-finished" in lines[-1] and "exit_code=3" in lines[-1]

    # Another user of the same project and the admin of another domain: NOT_FOUND for the
    # session's watch, and nothing of it in their own watch of everything they may see.
    for keys in (other, admin):
        async with _stub(platform, keys) as stub:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await _all(stub.WatchSessionEvents(pb.WatchSessionEventsRequest(session_id=sid)))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            seen = await _within(
                stub.WatchEvents(pb.WatchEventsRequest(last_event_id="0-0")), seconds=3
            )
            assert sid not in {e.event.session_id for e in seen}

    # A caller without credentials is refused by the edge.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.config.edge_port}") as channel:
        anonymous = pb_grpc.UserEventServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _all(anonymous.WatchSessionEvents(pb.WatchSessionEventsRequest(session_id=sid)))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_bad_event_ids_are_refused_naming_the_field(platform: Platform) -> None:
    owner = await ordinary_user(platform)
    async with _stub(platform, owner) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _all(
                stub.WatchEvents(pb.WatchEventsRequest(last_event_id="not-an-id", scope="kernel"))
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "last_event_id" in (err.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _all(stub.WatchEvents(pb.WatchEventsRequest(scope="everything")))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "scope" in (err.value.details() or "")


async def test_the_owner_renames_a_session_others_cannot(platform: Platform) -> None:
    owner, other = await ordinary_user(platform), await ordinary_user(platform)
    admin = await domain_admin(platform)
    async with ShipyardClient(platform.endpoint, owner.access_key, owner.secret_key) as client:
        first = await client.create_session(name=f"a-{secrets.token_hex(3)}", wait=True)
        second = await client.create_session(name=f"b-{secrets.token_hex(3)}")
        sid, path = first["session_id"], f"/v1/sessions/{first['session_id']}:rename"
        new_name = f"renamed-{secrets.token_hex(3)}"
        renamed = await client.request("POST", path, body={"name": new_name})
        assert renamed["session"]["name"] == new_name
        assert (await client.get_session(sid))["name"] == new_name
        # Unique among the owner's live sessions; a bad name names the field.
        with pytest.raises(ApiError) as err:
            await client.request("POST", path, body={"name": second["name"]})
        assert err.value.status == 400 and "SESSION_NAME_IN_USE" in str(err.value.body)
        with pytest.raises(ApiError) as err:
            await client.request("POST", path, body={"name": "no spaces"})
        assert err.value.status == 400 and "name" in str(err.value.body)
        for keys in (other, admin):
            async with ShipyardClient(platform.endpoint, keys.access_key, keys.secret_key) as them:
                with pytest.raises(ApiError) as err:
                    await them.request("POST", path, body={"name": "mine-now"})
                assert err.value.status == 404
        assert (await client.get_session(sid))["name"] == new_name
        for s in (first, second):
            await client.destroy_session(s["session_id"], forced=True)
