"""What the control plane serves: the current resources of every type, versioned.

Every change (a replica added or removed, a route added, a rotated certificate or key) rebuilds
the resources; only the types whose content changed get a new version, and every connected
Envoy is woken to receive them (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from gateway import apps, envoy_config
from gateway.config import AUTHZ_CLUSTER, EdgeSettings, split_addrs
from gateway.upstream_tls import upstream_tls
from gateway.xds import resources, routes, state_file
from gateway.xds import types as t
from gateway.xds.routes import RouteError, check_name, check_route
from libs.core.check_paths import HEALTH_PATH

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    """What one Envoy said about one pushed version (ACK, or NACK with Envoy's reason)."""

    type_url: str
    version: str
    error: str = ""


@dataclass
class _Typed:
    version: int = 0
    resources: dict[str, t.Any] = field(default_factory=dict)


class ControlPlaneState:
    """Resources by type URL, rebuilt from settings + run-time changes."""

    def __init__(self, settings: EdgeSettings) -> None:
        self._settings = settings
        self._clusters = resources.upstream_clusters(settings)
        self._dynamic: set[str] = set()  # clusters added at run time (removable)
        self._routes: dict[str, routes.ExtraRoute] = {}
        self._apps: dict[str, apps.AppRoute] = {}  # session apps by host label
        self._app_cache: dict[apps.AppRoute, tuple[t.Any, bytes]] = {}  # (cluster, vhost)
        self._file_stamps: list[float] = []
        self._table: routes.RouteTable | None = None
        self._listener: dict[str, t.Any] = {}
        self._filters: dict[str, t.Any] = {}
        self._secrets: dict[str, t.Any] = {}
        self._cluster_cache: dict[tuple[str, tuple[tuple[str, int], ...]], t.Any] = {}
        self._endpoint_cache: dict[tuple[str, tuple[tuple[str, int], ...]], t.Any] = {}
        self._types: dict[str, _Typed] = {u: _Typed() for u in t.PUSH_ORDER}
        self._counter = 0
        self._changed = asyncio.Event()
        # The latest ACKs and NACKs received, oldest first (bounded: the edge runs for long).
        self.replies: deque[Reply] = deque(maxlen=1000)
        self._replica_changes: dict[str, list[tuple[str, int]]] = {}  # set at run time
        self._app_opened: dict[str, float] = {}  # app label → when it was opened (Unix seconds)
        if settings.state_file is not None:
            self._restore(state_file.load(settings.state_file))
        self.rebuild()

    def version(self, type_url: str) -> str:
        return str(self._types[type_url].version)

    def resources(self, type_url: str) -> dict[str, t.Any]:
        return self._types[type_url].resources

    def changed(self) -> asyncio.Event:
        """Set (and replaced) on the next change."""
        return self._changed

    def record(self, reply: Reply) -> None:
        self.replies.append(reply)
        if reply.error:
            log.warning("envoy refused %s v%s: %s", reply.type_url, reply.version, reply.error)

    # -- changes -------------------------------------------------------------------------
    def set_replicas(self, cluster: str, addrs: str) -> None:
        """Replace the replicas of a cluster (`host:port[,host:port...]`)."""
        if cluster not in self._clusters:
            raise RouteError(f"cluster: no cluster named {cluster!r}")
        try:
            self._clusters[cluster] = split_addrs(addrs)
        except ValueError as exc:
            raise RouteError(f"addrs: {exc}") from exc
        if cluster not in self._dynamic:
            self._replica_changes[cluster] = self._clusters[cluster]
        self._changed_at_run_time()

    def add_cluster(self, name: str, addrs: str) -> None:
        check_name("name", name)
        if name in self._clusters and name not in self._dynamic:
            raise RouteError(f"name: {name!r} is a built-in cluster")
        try:
            self._clusters[name] = split_addrs(addrs)
        except ValueError as exc:
            raise RouteError(f"addrs: {exc}") from exc
        self._dynamic.add(name)
        self._changed_at_run_time()

    def remove_cluster(self, name: str) -> bool:
        """False when there was none; refused while a route still points at it."""
        if name not in self._dynamic:
            return False
        if users := [r.name for r in self._routes.values() if r.cluster == name]:
            raise RouteError(f"name: cluster {name!r} is used by routes {users}")
        del self._clusters[name]
        self._dynamic.discard(name)
        self._changed_at_run_time()
        return True

    def add_route(self, name: str, prefix: str, cluster: str) -> None:
        """Idempotent: the same route again changes nothing."""
        check_route(name, prefix)
        if cluster not in self._dynamic:
            raise RouteError(f"cluster: no run-time cluster named {cluster!r}")
        self._routes[name] = routes.ExtraRoute(name, prefix, cluster)
        self._changed_at_run_time()

    def remove_route(self, name: str) -> bool:
        if self._routes.pop(name, None) is None:
            return False
        self._changed_at_run_time()
        return True

    def add_app(self, route: apps.AppRoute) -> None:
        """Route the app's host to its backend; the same app again replaces it."""
        self._apps[route.label] = route
        self._app_opened[route.label] = time.time()
        self._changed_at_run_time()

    def remove_session_apps(self, session_id: str) -> int:
        gone = [label for label, r in self._apps.items() if r.session_id == session_id]
        for label in gone:
            del self._apps[label]
            self._app_opened.pop(label, None)
        if gone:
            self._changed_at_run_time()
        return len(gone)

    def _changed_at_run_time(self) -> None:
        self.rebuild()
        path = self._settings.state_file
        if path is not None:
            state_file.save(
                path,
                state_file.RunTimeState(
                    replicas=dict(self._replica_changes),
                    clusters={name: self._clusters[name] for name in self._dynamic},
                    routes=list(self._routes.values()),
                    apps=list(self._apps.values()),
                    opened=dict(self._app_opened),
                ),
            )

    def _restore(self, saved: state_file.RunTimeState) -> None:
        """Re-apply what an earlier run of this edge changed at run time (before the build)."""
        for name, addrs in saved.replicas.items():
            if name in self._clusters:  # a cluster since removed from the settings is dropped
                self._clusters[name] = self._replica_changes[name] = addrs
        for name, addrs in saved.clusters.items():
            if name not in self._clusters:
                self._clusters[name] = addrs
                self._dynamic.add(name)
        self._routes = {r.name: r for r in saved.routes if r.cluster in self._dynamic}
        # An app opened longer ago than the longest token lives has no valid token left (a new
        # StartApp opens it again), so it is not restored: the file cannot grow without bound.
        oldest = time.time() - self._settings.app_token_max_ttl_seconds
        self._apps = {a.label: a for a in saved.apps if saved.opened.get(a.label, 0) > oldest}
        self._app_opened = {label: saved.opened[label] for label in self._apps}
        if saved.replicas or saved.clusters or saved.routes or saved.apps:
            log.info(
                "restored %d routes, %d run-time clusters and %d apps from the state file",
                len(self._routes),
                len(saved.clusters),
                len(self._apps),
            )

    def _packed_app(self, route: apps.AppRoute) -> tuple[t.Any, bytes]:
        if route not in self._app_cache:
            s = self._settings
            vhost = apps.virtual_host(route, s.app_domain, s.app_token_max_ttl_seconds)
            self._app_cache[route] = (t.Any.pack(apps.cluster(route)), bytes(vhost))
        return self._app_cache[route]

    def reload_secrets(self) -> None:
        """Re-read the certificate and JWKS files; pushes only what changed."""
        self._load_static()
        self.rebuild()

    # -- building ------------------------------------------------------------------------
    def _load_static(self) -> None:
        """What only settings and files decide: built (and serialized) once, not per change."""
        s = self._settings
        self._listener = {envoy_config.EDGE: t.Any.pack(resources.listener(s))}
        self._filters = {e.name: t.Any.pack(e) for e in resources.filter_configs(s)}
        self._secrets = {}
        if s.tls_cert_file is not None and s.tls_key_file is not None:
            secret = resources.tls_secret(s.tls_cert_file, s.tls_key_file)
            self._secrets[resources.TLS_SECRET] = t.Any.pack(secret)
        if self._table is None:
            self._table = routes.RouteTable(s)

    def _packed_cluster(self, name: str, addrs: list[tuple[str, int]]) -> tuple[t.Any, bool]:
        """(the Cluster, whether its endpoints come by EDS). An EDS cluster does not change
        with its replicas, so it is serialized once (betterproto2 serializes slowly)."""
        eds = resources.by_eds(addrs)
        key = (name, () if eds else tuple(addrs))
        if key not in self._cluster_cache:
            http1 = name in self._settings.http_upstreams()
            # auth's HTTP Check has a probe path of its own; other HTTP upstreams have none.
            health_path = HEALTH_PATH if name == AUTHZ_CLUSTER else ""
            checked = name != "otlp" and (not http1 or bool(health_path))
            interval = self._settings.health_check_interval if checked else None
            c = resources.cluster(
                name, addrs, health_interval=interval, http1=http1, health_path=health_path
            )
            alpn = "http/1.1" if http1 else "h2"
            c.transport_socket = upstream_tls(self._settings, name, alpn=alpn)
            self._cluster_cache[key] = t.Any.pack(c)
        return self._cluster_cache[key], eds

    def _packed_endpoints(self, name: str) -> t.Any:
        key = (name, tuple(self._clusters[name]))
        if key not in self._endpoint_cache:
            self._endpoint_cache[key] = t.Any.pack(envoy_config.load_assignment(name, list(key[1])))
        return self._endpoint_cache[key]

    def rebuild(self) -> None:
        if self._table is None:
            self._load_static()
        assert self._table is not None
        clusters = {n: self._packed_cluster(n, a) for n, a in self._clusters.items()}
        self._cluster_cache = {k: v for k, v in self._cluster_cache.items() if k[0] in clusters}
        self._endpoint_cache = {
            k: v for k, v in self._endpoint_cache.items() if self._clusters.get(k[0]) == list(k[1])
        }
        extra = sorted(self._routes.values(), key=lambda r: (-len(r.prefix), r.name))
        app_routes = sorted(self._apps.values(), key=lambda r: r.label)
        self._app_cache = {r: self._packed_app(r) for r in app_routes}
        new: dict[str, dict[str, t.Any]] = {
            t.CLUSTER: {n: packed for n, (packed, _) in clusters.items()}
            | {r.cluster: self._app_cache[r][0] for r in app_routes},
            t.ENDPOINT: {n: self._packed_endpoints(n) for n, (_, eds) in clusters.items() if eds},
            t.LISTENER: self._listener,
            t.ROUTE: {
                envoy_config.EDGE: self._table.packed(
                    extra, [self._app_cache[r][1] for r in app_routes]
                )
            },
            t.SECRET: self._secrets,
            t.EXTENSION: self._filters,
        }
        bumped = False
        for type_url, found in new.items():
            typed = self._types[type_url]
            if _same(typed.resources, found):
                continue
            self._counter += 1
            typed.version = self._counter
            typed.resources = found
            bumped = True
        if bumped:
            woken, self._changed = self._changed, asyncio.Event()
            woken.set()

    def files_changed(self) -> bool:
        """Whether the certificate, key or JWKS file changed since last asked."""
        s = self._settings
        stamps: list[float] = []
        for path in (s.tls_cert_file, s.tls_key_file, s.jwks_file):
            try:
                stamps.append(path.stat().st_mtime_ns if path is not None else 0)
            except OSError:
                stamps.append(-1)
        changed, self._file_stamps = stamps != self._file_stamps, stamps
        return changed


def _same(old: dict[str, t.Any], new: dict[str, t.Any]) -> bool:
    return old.keys() == new.keys() and all(
        (old[k].type_url, old[k].value) == (new[k].type_url, new[k].value) for k in new
    )
