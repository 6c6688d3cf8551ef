"""StartApp / ListApps: a session's apps (service ports) opened in the browser through the edge.

The main kernel's agent starts the app and exposes it; the edge gives it its own host name and
issues the token that opens it (docs/apps.md). Who may: whoever may Execute in the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from libs.core.access import Verb
from libs.core.errors import InvalidArgument
from libs.core.identity import Caller
from services.registry.domain.errors import SessionNotRunning
from services.registry.domain.image_labels import LabelError, ServicePort, parse_service_ports
from services.registry.domain.model import Session, Status
from services.registry.service.access import check_access
from services.registry.service.ports import AgentStore
from services.registry.service.session_ports import SessionReader
from services.registry.service.session_requests import PREOPEN_PORTS_ENV, SERVICE_PORTS_ENV

# Offered by every agent's kernels (services/agent/domain/apps.py), declared or not.
BUILTIN_APPS = (ServicePort(name="echo", protocol="http", container_ports=(8080,)),)
BROWSER_PROTOCOLS = frozenset({"http", "preopen"})
PREOPEN_PREFIX = "port-"  # the app name of a preopen port; agents only tunnel to it


class AppNotBrowsable(InvalidArgument):
    reason = "APP_NOT_BROWSABLE"


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenedApp:
    url: str
    token: str
    expire_time: datetime
    host: str


class KernelApps(Protocol):
    async def start_app(
        self, address: str, kernel_id: str, session_id: str, app: str, port: int
    ) -> str:
        """Start the app in the kernel; the host:port (on the agent's node) serving it."""
        ...


class AppEdge(Protocol):
    async def open(
        self, session_id: str, app: str, backend: str, user_id: str, ttl: timedelta | None
    ) -> OpenedApp:
        """Route the app's host name to `backend`; a token for `user_id` that opens it."""
        ...

    async def close_session(self, session_id: str) -> int:
        """Stop routing the session's apps; how many there were."""
        ...


def session_apps(environ: Mapping[str, str]) -> list[ServicePort]:
    """The image's service ports (CreateSession copied the label into the environment), the
    session's preopen ports (`port-<N>`), then the built-in apps not redeclared."""
    try:
        declared = list(parse_service_ports(environ.get(SERVICE_PORTS_ENV, "")))
    except LabelError:
        declared = []  # an image label that changed since; the built-ins still work
    for text in environ.get(PREOPEN_PORTS_ENV, "").split(","):
        if text.strip().isdigit():
            port = int(text)
            declared.append(ServicePort(f"{PREOPEN_PREFIX}{port}", "preopen", (port,)))
    names = {p.name for p in declared}
    return declared + [p for p in BUILTIN_APPS if p.name not in names]


@dataclass(frozen=True, slots=True)
class ListApps:
    store: SessionReader

    async def __call__(self, caller: Caller, session_id: str) -> list[ServicePort]:
        session = await self.store.get(session_id)
        check_access(caller, session, Verb.READ)
        return session_apps(session.environ)


@dataclass(frozen=True, slots=True)
class StartApp:
    store: SessionReader
    agent_store: AgentStore
    kernels: KernelApps
    edge: AppEdge

    async def __call__(
        self, caller: Caller, session_id: str, app: str, token_ttl: timedelta | None
    ) -> OpenedApp:
        session = await self.store.get(session_id)
        check_access(caller, session, Verb.EXECUTE)
        declared = {p.name: p for p in session_apps(session.environ)}
        port = declared.get(app)
        if port is not None and port.protocol not in BROWSER_PROTOCOLS:
            raise AppNotBrowsable(
                f"app: {app!r} speaks {port.protocol}, not HTTP", metadata={"app": app}
            )
        address, kernel_id = await self._main_kernel(session)
        # Undeclared names go to the agent too: it may offer them (AGENT_APP_COMMANDS).
        backend = await self.kernels.start_app(
            address, kernel_id, session_id, app, port.container_ports[0] if port else 0
        )
        return await self.edge.open(session_id, app, backend, caller.user_id, token_ttl)

    async def _main_kernel(self, session: Session) -> tuple[str, str]:
        main = session.main_kernel
        if session.status is not Status.RUNNING or main is None or main.agent_id is None:
            raise SessionNotRunning(
                f"session {session.session_id} is {session.status.value}, not RUNNING",
                metadata={"status": session.status.value},
            )
        address = main.agent_address or (await self.agent_store.get(main.agent_id)).address
        return address, main.kernel_id
