"""One session along the whole path: edge → auth → registry → scheduler → agent, and back."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import grpc
import httpx
import pytest
from shipyard.registry.v1 import session_service_pb2 as pb
from shipyard.registry.v1 import session_service_pb2_grpc as pb_grpc
from shipyard.type.v1 import execution_pb2

from cli.client import ApiError, ShipyardClient
from cli.grpc_signing import signed_channel
from cli.platform import Platform
from tests.e2e.otlp_receiver import Receiver

pytestmark = pytest.mark.e2e


async def _until(check: Any, timeout: float = 30.0, interval: float = 0.1) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(interval)


async def _occupied_cpu(client: ShipyardClient) -> float:
    agents = await client.list_agents()
    return sum(float(a["occupied_slots"]["amounts"].get("cpu", "0")) for a in agents)


async def test_rest_session_runs_code_and_frees_slots_when_destroyed(
    client: ShipyardClient,
) -> None:
    before = await _occupied_cpu(client)  # other tests' sessions may hold some
    session = await client.create_session(wait=True, resources={"cpu": "1", "mem": "268435456"})
    assert session["status"] == "SESSION_STATUS_RUNNING", session
    sid = session["session_id"]
    assert await _occupied_cpu(client) >= before + 1

    result = await client.execute(sid, "print(6*7)")
    assert result["stdout"] == "42\n"
    assert result["status"] == "EXECUTION_STATUS_FINISHED"

    failed = await client.execute(sid, "1/0")
    assert failed["status"] == "EXECUTION_STATUS_FAILED"
    assert failed["error_name"] == "ZeroDivisionError"

    batch = await client.execute(sid, "echo hi; exit 3", mode="batch")
    assert batch["exit_code"] == 3 and batch["stdout"] == "hi\n"

    destroyed = await client.destroy_session(sid)
    assert destroyed["status"] in ("SESSION_STATUS_TERMINATING", "SESSION_STATUS_TERMINATED")

    async def terminated() -> bool:
        return (await client.get_session(sid))["status"] == "SESSION_STATUS_TERMINATED"

    await _until(terminated)
    assert await _until(lambda: _back_to(client, before))


async def _back_to(client: ShipyardClient, before: float) -> bool:
    return await _occupied_cpu(client) == before


async def test_native_grpc_through_the_edge(platform: Platform) -> None:
    assert platform.keypair is not None
    address = f"127.0.0.1:{platform.config.edge_port}"
    async with signed_channel(
        address, platform.keypair.access_key, platform.keypair.secret_key
    ) as channel:
        stub = pb_grpc.SessionServiceStub(channel)
        created = await stub.CreateSession(
            pb.CreateSessionRequest(wait=True, client_token=secrets.token_hex(8))
        )
        assert created.session.status == pb.SESSION_STATUS_RUNNING
        sid = created.session.session_id
        out = await stub.Execute(
            pb.ExecuteRequest(
                session_id=sid, mode=execution_pb2.EXECUTION_MODE_QUERY, code="print(6*7)"
            )
        )
        assert out.result.stdout == "42\n"
        await stub.DestroySession(pb.DestroySessionRequest(session_id=sid))

        async def terminated() -> bool:
            got = await stub.GetSession(pb.GetSessionRequest(session_id=sid))
            return got.session.status == pb.SESSION_STATUS_TERMINATED

        await _until(terminated)


async def test_unsigned_grpc_is_unauthenticated(platform: Platform) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.config.edge_port}") as channel:
        stub = pb_grpc.SessionServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListSessions(pb.ListSessionsRequest())
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_bad_or_missing_signature_gets_401_with_json(platform: Platform) -> None:
    assert platform.keypair is not None
    async with httpx.AsyncClient() as http:
        missing = await http.get(f"{platform.endpoint}/v1/sessions")
        assert missing.status_code == 401
        assert missing.json()["message"]
        forged = ShipyardClient(platform.endpoint, platform.keypair.access_key, "wrong-secret")
        with pytest.raises(ApiError) as err:
            await forged.list_sessions()
        await forged.close()
        assert err.value.status == 401
        assert isinstance(err.value.body, dict) and err.value.body.get("message")


async def test_bad_input_is_a_400_naming_the_field(client: ShipyardClient) -> None:
    with pytest.raises(ApiError) as err:
        await client.get_session("not-a-uuid")
    assert err.value.status == 400
    assert "session_id" in str(err.value.body)


async def test_too_large_request_stays_pending_with_a_reason(client: ShipyardClient) -> None:
    huge = str(64 * 1024**4)  # 64 TiB: more memory than any agent has
    session = await client.create_session(resources={"cpu": "1", "mem": huge})
    sid = session["session_id"]

    async def explained() -> dict[str, Any] | None:
        got = await client.get_session(sid)
        return got if got["status_info"] else None

    got = await _until(explained)
    assert got["status"] == "SESSION_STATUS_PENDING"
    assert got["status_info"] == "no-available-instances"
    assert got["status_message"]
    cancelled = await client.destroy_session(sid)
    assert cancelled["status"] == "SESSION_STATUS_CANCELLED"


def _start_trace(c: ShipyardClient) -> str:
    """Make the client's next requests the start of a new sampled trace; its id."""
    trace_id = secrets.token_hex(16)
    c._http.headers["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    return trace_id


async def test_one_trace_spans_every_component(platform: Platform, otlp: Receiver) -> None:
    assert platform.keypair is not None
    async with ShipyardClient(
        platform.endpoint, platform.keypair.access_key, platform.keypair.secret_key
    ) as c:
        trace_id = _start_trace(c)
        session = await c.create_session(wait=True)
        del c._http.headers["traceparent"]
        await c.destroy_session(session["session_id"])
    wanted = {"edge", "auth", "registry", "scheduler", "agent"}

    async def covered() -> bool:
        return wanted <= otlp.services_by_trace().get(trace_id, set())

    try:
        await _until(covered, timeout=20)
    except TimeoutError:
        pytest.fail(f"trace {trace_id} covers only {otlp.services_by_trace().get(trace_id)}")


async def test_the_edges_check_is_a_span_of_the_callers_trace(
    platform: Platform, otlp: Receiver
) -> None:
    assert platform.keypair is not None
    async with ShipyardClient(
        platform.endpoint, platform.keypair.access_key, platform.keypair.secret_key
    ) as c:
        trace_id = _start_trace(c)
        await c.whoami()
    check = "/envoy.service.auth.v3.Authorization/Check"

    async def traced() -> bool:
        return any((s.service, s.name, s.trace_id) == ("auth", check, trace_id) for s in otlp.spans)

    try:
        await _until(traced, timeout=20)
    except TimeoutError:
        names = {(s.service, s.name) for s in otlp.spans if s.trace_id == trace_id}
        pytest.fail(f"no Check span in trace {trace_id}: {names}")


async def test_batch_session_ends_with_its_commands_exit_code(client: ShipyardClient) -> None:
    session = await client.create_session(
        session_type="SESSION_TYPE_BATCH", startup_command="echo working; exit 7", wait=True
    )
    sid = session["session_id"]

    async def finished() -> dict[str, Any] | None:
        got = await client.get_session(sid)
        return got if got["status"] == "SESSION_STATUS_TERMINATED" else None

    got = await _until(finished)
    assert got["kernels"][0]["exit_code"] == 7
    assert got["status_info"] == "task-finished"


async def test_batch_session_without_a_command_is_refused(client: ShipyardClient) -> None:
    with pytest.raises(ApiError) as err:
        await client.create_session(session_type="SESSION_TYPE_BATCH")
    assert err.value.status == 400
    assert "startup_command" in str(err.value.body)


async def test_vfolder_data_outlives_the_session_that_wrote_it(client: ShipyardClient) -> None:
    name = f"data-{secrets.token_hex(3)}"
    folder = await client.create_vfolder(name)
    writer = await client.create_session(vfolder_names=[name], wait=True)
    wrote = await client.execute(
        writer["session_id"], f"echo results > {name}/out.txt", mode="batch"
    )
    assert wrote["exit_code"] == 0
    await client.destroy_session(writer["session_id"])

    reader = await client.create_session(vfolder_names=[name], wait=True)
    read = await client.execute(reader["session_id"], f"print(open('{name}/out.txt').read())")
    assert read["stdout"] == "results\n\n"
    await client.destroy_session(reader["session_id"])

    with pytest.raises(ApiError) as err:
        await client.create_session(vfolder_names=["no-such-folder"])
    assert err.value.status == 404
    assert "no-such-folder" in str(err.value.body)
    await client.delete_vfolder(folder["vfolder_id"])
