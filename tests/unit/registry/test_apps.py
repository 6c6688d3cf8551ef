"""StartApp / ListApps against fakes: who may open an app, which port the agent is asked for,
and which apps are refused before anything starts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from libs.core.errors import InvalidArgument
from libs.core.identity import Caller, Role
from libs.core.slots import ResourceSlots
from services.registry.domain.errors import SessionNotFound, SessionNotRunning
from services.registry.domain.model import Kernel, Session, SessionType, Status
from services.registry.service.apps import (
    AppNotBrowsable,
    ListApps,
    OpenedApp,
    StartApp,
    session_apps,
)
from services.registry.service.session_requests import (
    PREOPEN_PORTS_ENV,
    SERVICE_PORTS_ENV,
    preopen_environ,
)

OWNER = Caller(user_id="u-1", access_key="AK1", role=Role.USER, domain_name="A")
PEER = Caller(user_id="u-2", access_key="AK2", role=Role.USER, domain_name="A")
ADMIN = Caller(user_id="u-adm", access_key="AKADM", role=Role.ADMIN, domain_name="A")
LABEL = "jupyter:http:8888,ssh:tcp:2200"


def _session(status: Status = Status.RUNNING, ports: str = LABEL) -> Session:
    kernel = Kernel(
        kernel_id="k-1",
        session_id="s-1",
        cluster_role="main",
        status=status,
        status_info="",
        agent_id="agent-1",
        requested_slots=ResourceSlots(),
        agent_address="127.0.0.1:50060",
    )
    return Session(
        session_id="s-1",
        name="s-1",
        session_type=SessionType.INTERACTIVE,
        image="img",
        status=status,
        status_info="",
        status_message="",
        owner_user_id=OWNER.user_id,
        access_key=OWNER.access_key,
        domain_name="A",
        project_id="p",
        resource_group="default",
        requested_slots=ResourceSlots(),
        vfolder_names=(),
        client_token="",
        startup_command="",
        environ={SERVICE_PORTS_ENV: ports} if ports else {},
        created_at=datetime.now(UTC),
        terminated_at=None,
        trace_context={},
        kernels=(kernel,),
    )


@dataclasses.dataclass
class FakeSessions:
    session: Session

    async def get(self, session_id: str) -> Session:
        if session_id != self.session.session_id:
            raise SessionNotFound(session_id)
        return self.session


class NoAgents:
    async def get(self, agent_id: str):  # the kernel carries its agent's address
        raise AssertionError("not needed")


@dataclasses.dataclass
class FakeKernelApps:
    calls: list[tuple[str, str, str, int]] = dataclasses.field(default_factory=list)

    async def start_app(
        self, address: str, kernel_id: str, session_id: str, app: str, port: int
    ) -> str:
        self.calls.append((address, kernel_id, app, port))
        return "127.0.0.1:40001"


@dataclasses.dataclass
class FakeEdge:
    opened: list[tuple[str, str, str, str, timedelta | None]] = dataclasses.field(
        default_factory=list
    )

    async def open(
        self, session_id: str, app: str, backend: str, user_id: str, ttl: timedelta | None
    ) -> OpenedApp:
        self.opened.append((session_id, app, backend, user_id, ttl))
        return OpenedApp(
            url=f"http://{app}-{session_id}.localhost/?token=t",
            token="t",
            expire_time=datetime.now(UTC),
            host=f"{app}-{session_id}.localhost",
        )

    async def close_session(self, session_id: str) -> int:
        return 0


def _start(session: Session) -> tuple[StartApp, FakeKernelApps, FakeEdge]:
    kernels, edge = FakeKernelApps(), FakeEdge()
    return StartApp(FakeSessions(session), NoAgents(), kernels, edge), kernels, edge  # type: ignore[arg-type]


@pytest.mark.parametrize("caller", [OWNER, ADMIN])
async def test_owner_and_their_admin_open_a_declared_app_on_its_port(caller):
    start, kernels, edge = _start(_session())
    opened = await start(caller, "s-1", "jupyter", timedelta(minutes=5))
    assert kernels.calls == [("127.0.0.1:50060", "k-1", "jupyter", 8888)]
    assert edge.opened == [
        ("s-1", "jupyter", "127.0.0.1:40001", caller.user_id, timedelta(minutes=5))
    ]
    assert opened.host == "jupyter-s-1.localhost"


async def test_another_user_cannot_open_it_nor_learn_the_session_exists():
    start, kernels, edge = _start(_session())
    with pytest.raises(SessionNotFound):
        await start(PEER, "s-1", "jupyter", None)
    assert kernels.calls == [] and edge.opened == []


async def test_undeclared_apps_go_to_the_agent_with_its_default_port():
    start, kernels, _ = _start(_session(ports=""))
    await start(OWNER, "s-1", "echo", None)
    assert kernels.calls == [("127.0.0.1:50060", "k-1", "echo", 8080)]
    await start(OWNER, "s-1", "custom", None)
    assert kernels.calls[-1] == ("127.0.0.1:50060", "k-1", "custom", 0)


async def test_non_http_apps_and_sessions_not_running_are_refused_before_anything_starts():
    start, kernels, _ = _start(_session())
    with pytest.raises(AppNotBrowsable, match="app"):
        await start(OWNER, "s-1", "ssh", None)
    start, kernels, _ = _start(_session(status=Status.PENDING))
    with pytest.raises(SessionNotRunning):
        await start(OWNER, "s-1", "jupyter", None)
    assert kernels.calls == []


async def test_list_apps_shows_declared_ports_then_the_builtin_echo():
    listed = await ListApps(FakeSessions(_session()))(OWNER, "s-1")  # type: ignore[arg-type]
    assert [(a.name, a.protocol, a.container_ports) for a in listed] == [
        ("jupyter", "http", (8888,)),
        ("ssh", "tcp", (2200,)),
        ("echo", "http", (8080,)),
    ]
    with pytest.raises(SessionNotFound):
        await ListApps(FakeSessions(_session()))(PEER, "s-1")  # type: ignore[arg-type]


def test_preopen_ports_are_listed_as_port_apps_and_may_not_clash():
    environ = {SERVICE_PORTS_ENV: LABEL, PREOPEN_PORTS_ENV: preopen_environ((8000, 9000), LABEL)}
    names = [(a.name, a.protocol) for a in session_apps(environ)]
    assert ("port-8000", "preopen") in names and ("port-9000", "preopen") in names
    for taken in (2000, 8888):  # the runner's own port; the image's jupyter
        with pytest.raises(InvalidArgument, match="preopen_ports"):
            preopen_environ((taken,), LABEL)
