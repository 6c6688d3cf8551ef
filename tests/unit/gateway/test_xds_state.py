"""The control plane's state: versions move only with content, and run-time changes are
validated before anything changes."""

from __future__ import annotations

import pytest
from betterproto2 import Casing

from gateway.xds import routes
from gateway.xds import types as t
from gateway.xds.routes import RouteError
from gateway.xds.state import ControlPlaneState
from tests.unit.gateway.test_edge_bootstrap import settings


@pytest.fixture(scope="module")
def state() -> ControlPlaneState:
    return ControlPlaneState(settings())


def _versions(state: ControlPlaneState) -> dict[str, str]:
    return {u: state.version(u) for u in t.PUSH_ORDER}


def test_a_new_replica_changes_only_the_endpoints(state):
    before = _versions(state)

    state.set_replicas("registry", "127.0.0.1:7001,127.0.0.1:7002")

    after = _versions(state)
    assert {u for u in t.PUSH_ORDER if before[u] != after[u]} == {t.ENDPOINT}
    cla = state.resources(t.ENDPOINT)["registry"].unpack()
    assert isinstance(cla, t.ClusterLoadAssignment)
    assert len(cla.endpoints[0].lb_endpoints) == 2


def test_the_same_change_twice_pushes_nothing(state):
    state.add_cluster("app", "127.0.0.1:7100")
    state.add_route("app", "/apps/a/", "app")
    before = _versions(state)

    state.add_cluster("app", "127.0.0.1:7100")
    state.add_route("app", "/apps/a/", "app")

    assert _versions(state) == before


def test_run_time_routes_come_first_and_match_the_typed_table(state):
    state.add_cluster("app", "127.0.0.1:7100")
    state.add_route("app", "/apps/a/", "app")

    served = t.RouteConfiguration.parse(state.resources(t.ROUTE)["edge"].value)
    first = served.virtual_hosts[0].routes[0]
    assert first.name == "extra:app" and first.route is not None and first.route.cluster == "app"
    expected = routes.route_configuration(settings(), [routes.ExtraRoute("app", "/apps/a/", "app")])
    assert served.to_dict(casing=Casing.SNAKE) == expected.to_dict(casing=Casing.SNAKE)


@pytest.mark.parametrize(
    ("name", "prefix", "cluster", "field"),
    [
        ("bad name", "/apps/x/", "app", "name"),
        ("x", "apps/x/", "app", "prefix"),
        ("x", "/", "app", "prefix"),
        ("x", "/v1/sessions/", "app", "prefix"),
        ("x", "/shipyard.registry.v1.SessionService/", "app", "prefix"),
        ("x", "/apps/x/", "no-such-cluster", "cluster"),
        ("x", "/apps/x/", "registry", "cluster"),  # built-in clusters are not route targets
    ],
)
def test_bad_routes_are_refused_naming_the_field(state, name, prefix, cluster, field):
    state.add_cluster("app", "127.0.0.1:7100")
    before = _versions(state)

    with pytest.raises(RouteError, match=f"^{field}:"):
        state.add_route(name, prefix, cluster)

    assert _versions(state) == before


def test_a_cluster_in_use_cannot_be_removed(state):
    state.add_cluster("busy", "127.0.0.1:7200")
    state.add_route("busy", "/apps/busy/", "busy")

    with pytest.raises(RouteError, match=r"^name:.*used by"):
        state.remove_cluster("busy")

    assert state.remove_route("busy") and state.remove_cluster("busy")
    assert "busy" not in state.resources(t.CLUSTER)
    assert not state.remove_route("busy") and not state.remove_cluster("busy")


def test_built_in_clusters_cannot_be_replaced_or_removed(state):
    with pytest.raises(RouteError, match=r"^name:"):
        state.add_cluster("auth", "127.0.0.1:7300")
    assert not state.remove_cluster("auth")
    with pytest.raises(RouteError, match=r"^addrs:"):
        state.set_replicas("registry", "not-an-address")
