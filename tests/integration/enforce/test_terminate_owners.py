"""Auth ends a deactivated tenant's sessions through the registry's SessionAdminService:
what ends, what is left alone, and who may ask."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from shipyard.registry.v1 import session_admin_service_pb2 as pb
from shipyard.registry.v1 import session_admin_service_pb2_grpc as pb_grpc

from libs.core.identity import (
    HEADER_INTERNAL_TOKEN,
    HEADER_SYSTEM,
    Caller,
    Role,
    caller_to_headers,
)
from libs.core.ids import new_id
from libs.db.engine import create_engine, session_factory
from libs.grpcutil.server import Registration, create_server
from services.registry.adapters.owner_sessions import SqlOwnerSessions
from services.registry.api.session_admin_servicer import SessionAdminServicer
from services.registry.domain.model import Status
from services.registry.service.terminate_owners import TerminateSessionsOfOwners
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session, registration
from tests.integration.registry.test_starter import FakeAgents

pytestmark = pytest.mark.integration

REASON = "owner-deactivated"


@pytest.fixture
async def admin_stub(stores: Stores, registry_db: str, internal_token: str):
    agents = FakeAgents(fail=False)
    engine = create_engine(registry_db, pool_size=2)
    owners = SqlOwnerSessions(session_factory(engine))
    terminate = TerminateSessionsOfOwners(owners, stores.lifecycle, agents)
    server = create_server(
        domain="registry.test",
        internal_token=internal_token,
        bind="127.0.0.1:0",
        services=[
            Registration(
                pb_grpc.add_SessionAdminServiceServicer_to_server,
                SessionAdminServicer(terminate),
                "shipyard.registry.v1.SessionAdminService",
            )
        ],
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    yield pb_grpc.SessionAdminServiceStub(channel), agents
    await channel.close()
    await server.stop(grace=0)
    await engine.dispose()


async def test_a_deactivated_users_live_sessions_end_and_others_are_untouched(
    stores: Stores, admin_stub, internal_token: str
) -> None:
    stub, agents = admin_stub
    agent_id = f"agent-{new_id()[:8]}"
    await stores.agents.register(registration(agent_id, cpu="8"), datetime.now(UTC))
    user = new_id()
    queued, _ = await stores.sessions.add(new_session(owner_user_id=user))
    running, _ = await stores.sessions.add(new_session(owner_user_id=user))
    kernel = running.kernels[0].kernel_id
    assert (await stores.sessions.bind(running.session_id, {kernel: agent_id})).bound
    bystander, _ = await stores.sessions.add(new_session())

    answer = await stub.TerminateSessionsOfOwners(
        pb.TerminateSessionsOfOwnersRequest(user_ids=[user], reason=REASON),
        metadata=((HEADER_INTERNAL_TOKEN, internal_token), (HEADER_SYSTEM, "1")),
    )

    assert set(answer.session_ids) == {queued.session_id, running.session_id}
    ended = await stores.sessions.get(queued.session_id)
    assert (ended.status, ended.status_info) == (Status.CANCELLED, REASON)
    ending = await stores.sessions.get(running.session_id)
    assert (ending.status, ending.status_info) == (Status.TERMINATING, REASON)
    assert (kernel, REASON) in agents.destroyed
    assert (await stores.sessions.get(bystander.session_id)).status is Status.PENDING
    # Asked again: nothing is live any more.
    again = await stub.TerminateSessionsOfOwners(
        pb.TerminateSessionsOfOwnersRequest(user_ids=[user], reason=REASON),
        metadata=((HEADER_INTERNAL_TOKEN, internal_token), (HEADER_SYSTEM, "1")),
    )
    assert list(again.session_ids) == []


async def test_only_shipyard_services_may_end_sessions_of_owners(
    admin_stub, internal_token: str
) -> None:
    stub, _ = admin_stub
    root = Caller(user_id=new_id(), access_key="AKROOT", role=Role.SUPERADMIN)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.TerminateSessionsOfOwners(
            pb.TerminateSessionsOfOwnersRequest(domain_names=["default"], reason=REASON),
            metadata=((HEADER_INTERNAL_TOKEN, internal_token), *caller_to_headers(root).items()),
        )
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_naming_no_owner_is_invalid(admin_stub, internal_token: str) -> None:
    stub, _ = admin_stub
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.TerminateSessionsOfOwners(
            pb.TerminateSessionsOfOwnersRequest(reason=REASON),
            metadata=((HEADER_INTERNAL_TOKEN, internal_token), (HEADER_SYSTEM, "1")),
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
