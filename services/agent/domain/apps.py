"""Apps a kernel can serve (Backend.AI's service ports): what to run inside it, on which port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from libs.core.errors import FailedPrecondition

ECHO_APP = "echo"
ECHO_PORT = 8080
PYTHON = "{python}"  # the runner puts its own interpreter here
PREOPEN_PREFIX = "port-"


class AppNotOffered(FailedPrecondition):
    reason = "APP_NOT_OFFERED"


class AppStartFailed(FailedPrecondition):
    reason = "APP_START_FAILED"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppDef:
    """Run `argv` in the kernel (nothing when empty); it serves HTTP (and WebSocket) on
    127.0.0.1:`port` there."""

    name: str
    port: int
    argv: tuple[str, ...]


def app_catalog(echo_source: str, commands: Mapping[str, str]) -> dict[str, AppDef]:
    """The built-in echo app plus configured ones (name -> shell command reading $PORT)."""
    apps = {ECHO_APP: AppDef(name=ECHO_APP, port=ECHO_PORT, argv=(PYTHON, "-I", "-c", echo_source))}
    for name, command in commands.items():
        apps[name] = AppDef(name=name, port=ECHO_PORT, argv=("/bin/sh", "-c", command))
    return apps


def resolve_app(catalog: Mapping[str, AppDef], name: str, port: int) -> AppDef:
    """The app to run for `name`; a declared `port` (image label) overrides the default.
    `port-<N>` (a session's preopen port) runs nothing: the user's own program serves it."""
    number = name.removeprefix(PREOPEN_PREFIX)
    if name.startswith(PREOPEN_PREFIX) and number.isdigit() and 0 < int(number) < 65536:
        return AppDef(name=name, port=int(number), argv=())
    found = catalog.get(name)
    if found is None:
        raise AppNotOffered(
            f"app {name!r} is not offered by this agent (offered: {', '.join(sorted(catalog))})",
            metadata={"app": name},
        )
    return AppDef(name=found.name, port=port or found.port, argv=found.argv)
