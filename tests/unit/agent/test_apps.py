"""Which app an agent runs for a name: the built-in echo, configured commands, preopen ports."""

from __future__ import annotations

import pytest

from services.agent.domain.apps import (
    ECHO_APP,
    PYTHON,
    AppNotOffered,
    app_catalog,
    resolve_app,
)

CATALOG = app_catalog("print('echo')", {"jupyter": "jupyter lab --port $PORT"})


def test_the_echo_app_runs_the_runners_own_python_on_its_default_port_unless_declared():
    echo = resolve_app(CATALOG, ECHO_APP, 0)
    assert (echo.port, echo.argv) == (8080, (PYTHON, "-I", "-c", "print('echo')"))
    assert resolve_app(CATALOG, ECHO_APP, 9000).port == 9000


def test_configured_apps_run_their_shell_command():
    jupyter = resolve_app(CATALOG, "jupyter", 8888)
    assert (jupyter.port, jupyter.argv) == (8888, ("/bin/sh", "-c", "jupyter lab --port $PORT"))


def test_a_preopen_port_runs_nothing_and_is_reached_on_its_number():
    port = resolve_app(CATALOG, "port-8000", 0)
    assert (port.port, port.argv) == (8000, ())


@pytest.mark.parametrize("name", ["ttyd", "port-", "port-70000", "port-x"])
def test_apps_the_agent_does_not_offer_are_refused_naming_them(name):
    with pytest.raises(AppNotOffered, match=name):
        resolve_app(CATALOG, name, 0)
