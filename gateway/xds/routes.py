"""The edge's route table as served by RDS: the built-in routes (with retries for reads) and
the routes added at run time, spliced in front (docs/decisions.md, D1 and D2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from envoy_data_plane.envoy.config.route.v3 import RetryPolicyRetryHostPredicate
from envoy_data_plane.envoy.extensions.retry.host.previous_hosts.v3 import PreviousHostsPredicate

from gateway.config import EdgeSettings
from gateway.edge_routes import route_config
from gateway.xds import types as t
from libs.core import access, rpc_access

# Retried by Envoy: a call that never reached a replica (any method), and, for reads, a replica
# that answered UNAVAILABLE or reset the stream (it is going away; another one answers).
RETRY_ANY = "connect-failure,refused-stream"
RETRY_READ = "unavailable,reset,connect-failure,refused-stream"
RETRIES = 2


_NAME = 200  # the longest route, cluster name or prefix accepted at run time
_RESERVED = ("/v1/", "/grpc.", "/shipyard.", "/envoy.")  # the services' and the edge's paths


class RouteError(ValueError):
    """A route or cluster change refused; the message names the field."""


@dataclass(frozen=True, slots=True)
class ExtraRoute:
    """A route added at run time: requests whose path starts with `prefix` go to `cluster`."""

    name: str
    prefix: str
    cluster: str


def retry_policy(retry_on: str) -> t.RetryPolicy:
    """At most RETRIES retries, each on another replica than the ones already tried."""
    return t.RetryPolicy(
        retry_on=retry_on,
        num_retries=RETRIES,
        retry_host_predicate=[
            RetryPolicyRetryHostPredicate(
                name="envoy.retry_host_predicates.previous_hosts",
                typed_config=t.Any.pack(PreviousHostsPredicate()),
            )
        ],
        host_selection_retry_max_attempts=3,
    )


def _read_paths(settings: EdgeSettings) -> list[str]:
    services = set(settings.public_services)
    return sorted(
        path
        for path, rule in rpc_access.METHODS.items()
        if rule.verb is access.Verb.READ and not rule.public and path.split("/")[1] in services
    )


def route_configuration(settings: EdgeSettings, extra: list[ExtraRoute]) -> t.RouteConfiguration:
    """The static route table plus retries, then the routes added at run time (first)."""
    rc = route_config(settings)
    vhost = rc.virtual_hosts[0]
    first_service = len(vhost.routes)
    for i, r in enumerate(vhost.routes):
        prefix = r.match.prefix if r.match is not None else None
        if r.route is not None and prefix and prefix.count("/") == 2 and "." in prefix:
            first_service = min(first_service, i)  # "/<pkg>.<Service>/"
            r.route.retry_policy = retry_policy(RETRY_ANY)
    reads: list[t.Route] = []
    for path in _read_paths(settings):
        upstream = settings.public_services[path.split("/")[1]]
        action = t.RouteAction(
            cluster=upstream,
            timeout=timedelta(0),
            retry_policy=retry_policy(RETRY_READ),
        )
        reads.append(t.Route(match=t.RouteMatch(path=path), route=action))
    routes = vhost.routes
    vhost.routes = [*(extra_route(r) for r in extra), *routes[:first_service], *reads]
    vhost.routes += routes[first_service:]
    return rc


def extra_route(r: ExtraRoute) -> t.Route:
    return t.Route(
        name=f"extra:{r.name}",
        match=t.RouteMatch(prefix=r.prefix),
        route=t.RouteAction(cluster=r.cluster, retry_policy=retry_policy(RETRY_ANY)),
    )


class RouteTable:
    """The RDS resource, with the built-in routes serialized once.

    betterproto2 validates every message each time it serializes it (about 0.2 s for the
    edge's table), so a run-time route is serialized alone and spliced in front of the cached
    bytes: protobuf's wire format appends repeated fields (VirtualHost.routes, field 3) in the
    order they appear, and a parser accepts fields in any order.
    """

    _VIRTUAL_HOSTS, _ROUTES = 2, 3  # field numbers in RouteConfiguration / VirtualHost

    def __init__(self, settings: EdgeSettings) -> None:
        rc = route_configuration(settings, [])
        (vhost,) = rc.virtual_hosts
        self._routes = b"".join(_field(self._ROUTES, bytes(r)) for r in vhost.routes)
        vhost.routes = []
        self._vhost = bytes(vhost)
        rc.virtual_hosts = []
        self._head = bytes(rc)
        self._extra: dict[ExtraRoute, bytes] = {}

    def packed(self, extra: list[ExtraRoute], vhosts: Sequence[bytes] = ()) -> t.Any:
        for r in extra:
            if r not in self._extra:
                self._extra[r] = _field(self._ROUTES, bytes(extra_route(r)))
        self._extra = {r: self._extra[r] for r in extra}  # forget removed routes
        added = b"".join(self._extra[r] for r in extra)
        vhost = self._vhost + added + self._routes
        more = b"".join(_field(self._VIRTUAL_HOSTS, v) for v in vhosts)  # session apps' hosts
        return t.Any(type_url=t.ROUTE, value=self._head + _field(self._VIRTUAL_HOSTS, vhost) + more)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def check_route(name: str, prefix: str) -> None:
    """RouteError unless `name` and `prefix` make a valid run-time route."""
    check_name("name", name)
    if not prefix.startswith("/") or len(prefix) > _NAME or prefix == "/":
        raise RouteError("prefix: must start with '/', be longer than '/' and short")
    if prefix.startswith(_RESERVED):
        raise RouteError(f"prefix: {prefix!r} is reserved for the services' own routes")


def check_name(field_name: str, value: str) -> None:
    if not value or len(value) > _NAME or not all(c.isalnum() or c in "-_.:" for c in value):
        raise RouteError(f"{field_name}: 1-{_NAME} characters of [A-Za-z0-9-_.:] expected")
