"""The edge's run-time changes on disk, so that a restarted edge routes what it routed before.

Run-time changes are what the route and app APIs made: replicas set for a built-in cluster,
clusters and routes added, session apps opened. Everything else comes from settings and is
rebuilt at start. The file (`EDGE_STATE_FILE`) is rewritten after every change: written to a
temporary file, synced, then renamed over the old one, so a crash leaves the old state or the
new one, never half of either. It holds the apps' backend keys, so it is readable by its owner
only. A file that cannot be read is moved aside (`.bad`) and the edge starts without it: an edge
that refuses to start would lose far more than the routes in that file.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.apps import AppRoute
from gateway.xds.routes import ExtraRoute

log = logging.getLogger(__name__)

Addrs = list[tuple[str, int]]


@dataclass(slots=True)
class RunTimeState:
    replicas: dict[str, Addrs] = field(default_factory=dict)  # built-in clusters' replicas
    clusters: dict[str, Addrs] = field(default_factory=dict)  # clusters added at run time
    routes: list[ExtraRoute] = field(default_factory=list)
    apps: list[AppRoute] = field(default_factory=list)
    opened: dict[str, float] = field(default_factory=dict)  # app label → when (Unix seconds)


def save(path: Path, state: RunTimeState) -> None:
    doc = {
        "version": 1,
        "replicas": {name: _addrs_out(addrs) for name, addrs in state.replicas.items()},
        "clusters": {name: _addrs_out(addrs) for name, addrs in state.clusters.items()},
        "routes": [[r.name, r.prefix, r.cluster] for r in state.routes],
        "apps": [
            [
                a.session_id,
                a.label,
                _addrs_out([a.backend])[0],
                a.backend_key,
                state.opened.get(a.label, 0.0),
            ]
            for a in state.apps
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


def load(path: Path) -> RunTimeState:
    """What the file holds; an empty state when there is none or it cannot be read."""
    try:
        doc = json.loads(path.read_text())
        return RunTimeState(
            replicas={str(k): _addrs_in(v) for k, v in doc["replicas"].items()},
            clusters={str(k): _addrs_in(v) for k, v in doc["clusters"].items()},
            routes=[ExtraRoute(str(n), str(p), str(c)) for n, p, c in doc["routes"]],
            apps=[
                AppRoute(str(s), str(label), _addrs_in([b])[0], str(key))
                for s, label, b, key, _ in doc["apps"]
            ],
            opened={str(a[1]): float(a[4]) for a in doc["apps"]},
        )
    except FileNotFoundError:
        return RunTimeState()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        aside = path.with_name(path.name + ".bad")
        log.error("edge state file %s cannot be read (%r); moved to %s", path, exc, aside)
        try:
            path.replace(aside)
        except OSError:
            log.exception("could not move %s aside", path)
        return RunTimeState()


def _addrs_out(addrs: Addrs) -> list[str]:
    return [f"{host}:{port}" for host, port in addrs]


def _addrs_in(items: Any) -> Addrs:
    out: Addrs = []
    for item in items:
        host, _, port = str(item).rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"not host:port: {item!r}")
        out.append((host, int(port)))
    return out
