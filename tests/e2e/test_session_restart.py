"""RestartSession through the edge with real kernels (docs/sessions.md): files in /home/work stay,
the interpreter starts afresh, the history and the user events show the restart, and only those
who may change the session restart it."""

from __future__ import annotations

import asyncio

import pytest
from shipyard.registry.v1 import user_event_service_pb2 as ev

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from services.auth.domain.model import Keypair
from tests.e2e.cli_as_user import cli_as
from tests.e2e.tenants import ordinary_user
from tests.e2e.test_user_events import _stub, _within

pytestmark = pytest.mark.e2e


async def _cli(platform: Platform, keys: Keypair, *args: str) -> tuple[int, str]:
    code, out, err = await cli_as(platform, keys, *args, timeout=180)
    return code, out + err


async def test_restart_keeps_files_forgets_state_and_is_recorded(platform: Platform) -> None:
    owner, stranger = await ordinary_user(platform), await ordinary_user(platform)
    async with ShipyardClient(platform.endpoint, owner.access_key, owner.secret_key) as client:
        session = await client.create_session(wait=True)
        sid = session["session_id"]
        try:
            code = "x = 41\nopen('/home/work/kept.txt', 'w').write('written before')"
            assert (await client.execute(sid, code))["status"] == "EXECUTION_STATUS_FINISHED"

            # Someone else may not restart it, and it does not say whether it exists.
            async with ShipyardClient(
                platform.endpoint, stranger.access_key, stranger.secret_key
            ) as them:
                with pytest.raises(ApiError) as err:
                    await them.restart_session(sid)
                assert err.value.status == 404

            code_, out = await _cli(platform, owner, "session", "restart", sid, "--wait")
            assert code_ == 0, out
            assert '"SESSION_STATUS_RUNNING"' in out

            got = await client.execute(sid, "print(open('/home/work/kept.txt').read())")
            assert got["stdout"] == "written before\n", got
            assert (await client.execute(sid, "print(6 * 7)"))["stdout"] == "42\n"
            assert (await client.execute(sid, "x"))["error_name"] == "NameError"

            info = await client.get_session(sid)
            assert info["status"] == "SESSION_STATUS_RUNNING"
            history = info["status_history"]
            assert history["RESTARTING"] < history["RUNNING"], history

            async with _stub(platform, owner) as stub:
                request = ev.WatchSessionEventsRequest(session_id=sid)
                names = [e.name for e in await _within(stub.WatchSessionEvents(request), 3.0)]
            restarting = names.index("session_restarting")
            assert "session_started" in names[restarting:], names

            # A second restart right after the first works too.
            again = await client.restart_session(sid, wait=True)
            assert again["status"] == "SESSION_STATUS_RUNNING"
            assert (await client.execute(sid, "print('again')"))["stdout"] == "again\n"
        finally:
            await client.destroy_session(sid, forced=True)

        # An ended session does not restart; the error names its status.
        for _ in range(120):
            if (await client.get_session(sid))["status"] == "SESSION_STATUS_TERMINATED":
                break
            await asyncio.sleep(0.5)
        with pytest.raises(ApiError) as err:
            await client.restart_session(sid)
        assert err.value.status == 400 and "TERMINATED" in str(err.value.body), err.value.body


async def test_a_retried_restart_restarts_once(platform: Platform) -> None:
    owner = await ordinary_user(platform)
    async with ShipyardClient(platform.endpoint, owner.access_key, owner.secret_key) as client:
        sid = (await client.create_session(wait=True))["session_id"]
        try:
            first = await client.restart_session(sid)
            second = await client.restart_session(sid)
            assert first["status"] == "SESSION_STATUS_RESTARTING"
            assert second["status"] in ("SESSION_STATUS_RESTARTING", "SESSION_STATUS_RUNNING")
            for _ in range(240):
                if (await client.get_session(sid))["status"] == "SESSION_STATUS_RUNNING":
                    break
                await asyncio.sleep(0.25)
            async with _stub(platform, owner) as stub:
                request = ev.WatchSessionEventsRequest(session_id=sid)
                names = [e.name for e in await _within(stub.WatchSessionEvents(request), 3.0)]
            assert names.count("session_restarting") == 1, names
            assert (await client.execute(sid, "print(1)"))["stdout"] == "1\n"
        finally:
            await client.destroy_session(sid, forced=True)
            # Ended before the next test counts the slots in use.
            for _ in range(120):
                if (await client.get_session(sid))["status"] == "SESSION_STATUS_TERMINATED":
                    break
                await asyncio.sleep(0.5)
