"""An edge restarted with its state file serves what the route and app APIs had changed: the
same routes, clusters, replicas and apps, and nothing that could no longer be used."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from gateway.apps import AppRoute
from gateway.xds import types as t
from gateway.xds.state import ControlPlaneState
from tests.unit.gateway.test_edge_bootstrap import settings

APP = AppRoute("0f8b7c2e-3d4a-4b5c-8d6e-7f8091a2b3c4", "echo-0f8b7c2e", ("127.0.0.1", 7200), "k")


def _served(state: ControlPlaneState) -> dict[str, dict[str, bytes]]:
    return {
        u: {name: any_.value for name, any_ in state.resources(u).items()} for u in t.PUSH_ORDER
    }


def _changed(path: Path) -> ControlPlaneState:
    state = ControlPlaneState(settings(state_file=path))
    state.set_replicas("registry", "127.0.0.1:7001,127.0.0.1:7002")
    state.add_cluster("lab", "127.0.0.1:7100")
    state.add_route("lab", "/lab/", "lab")
    state.add_app(APP)
    return state


def test_a_restarted_edge_serves_what_was_changed_at_run_time(tmp_path: Path) -> None:
    path = tmp_path / "edge-state.json"
    before = _served(_changed(path))

    again = ControlPlaneState(settings(state_file=path))

    assert _served(again) == before
    assert _served(ControlPlaneState(settings())) != before  # the file is what carried it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the apps' backend keys


def test_what_was_removed_stays_removed(tmp_path: Path) -> None:
    path = tmp_path / "edge-state.json"
    state = _changed(path)
    state.remove_route("lab")
    state.remove_cluster("lab")
    assert state.remove_session_apps(APP.session_id) == 1

    again = ControlPlaneState(settings(state_file=path))

    assert "lab" not in again.resources(t.CLUSTER) and APP.cluster not in again.resources(t.CLUSTER)
    only_replicas = ControlPlaneState(settings())
    only_replicas.set_replicas("registry", "127.0.0.1:7001,127.0.0.1:7002")
    assert _served(again) == _served(only_replicas)


def test_an_app_older_than_any_token_is_not_restored(tmp_path: Path) -> None:
    path = tmp_path / "edge-state.json"
    with_app = _served(_changed(path))
    doc = json.loads(path.read_text())
    doc["apps"][0][4] -= 2 * settings().app_token_max_ttl_seconds  # opened long ago
    path.write_text(json.dumps(doc))

    again = ControlPlaneState(settings(state_file=path))

    assert "lab" in again.resources(t.CLUSTER) and APP.cluster not in again.resources(t.CLUSTER)
    assert _served(again) != with_app
    again.add_cluster("other", "127.0.0.1:7300")  # the next save drops it from the file too
    assert json.loads(path.read_text())["apps"] == []


def test_an_unreadable_file_is_moved_aside_and_the_edge_starts_from_its_settings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "edge-state.json"
    path.write_text('{"version": 1, "replicas": ')

    state = ControlPlaneState(settings(state_file=path))

    assert _served(state) == _served(ControlPlaneState(settings()))
    assert not path.exists()
    assert (tmp_path / "edge-state.json.bad").read_text().startswith('{"version": 1')
