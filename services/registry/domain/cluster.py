"""Cluster sessions: kernel roles, indexes and host names, and their environment (pure Python).

A session of `cluster_size` kernels has one main kernel ("main1", local rank 0) and subs
"sub1".."subN" (local ranks 1..N). Every kernel gets the `BACKENDAI_CLUSTER_*` variables that
describe it and the whole cluster (docs/cluster-sessions.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class ClusterMode(StrEnum):
    SINGLE_NODE = "SINGLE_NODE"
    MULTI_NODE = "MULTI_NODE"


MAIN = "main"
SUB = "sub"


@dataclass(frozen=True, slots=True)
class ClusterSlot:
    """Where one kernel stands in its session's cluster."""

    role: str
    idx: int
    local_rank: int

    @property
    def hostname(self) -> str:
        return f"{self.role}{self.idx}"


def cluster_layout(size: int) -> tuple[ClusterSlot, ...]:
    """main1 then sub1..sub(size-1), with local ranks 0..size-1."""
    main = ClusterSlot(MAIN, 1, 0)
    return (main, *(ClusterSlot(SUB, i, i) for i in range(1, size)))


@dataclass(frozen=True, slots=True)
class ClusterMember:
    """One kernel as the environment of its siblings names it."""

    kernel_id: str
    role: str
    idx: int
    local_rank: int
    hostname: str


def needs_network(size: int) -> bool:
    """Only sessions of several kernels get a cluster network; one kernel stays offline."""
    return size > 1


def cluster_environ(
    *,
    session_id: str,
    session_name: str,
    access_key: str,
    image: str,
    members: Sequence[ClusterMember],
    me: ClusterMember,
) -> Mapping[str, str]:
    """The variables Backend.AI gives each kernel of a session (session-wide and per kernel)."""
    roles = Counter(m.role for m in members)
    replicas = ",".join(f"{role}:{roles[role]}" for role in sorted(roles, key=_role_order))
    hosts = ",".join(m.hostname for m in sorted(members, key=lambda m: m.local_rank))
    return {
        "BACKENDAI_SESSION_ID": session_id,
        "BACKENDAI_SESSION_NAME": session_name,
        "BACKENDAI_ACCESS_KEY": access_key,
        "BACKENDAI_KERNEL_ID": me.kernel_id,
        "BACKENDAI_KERNEL_IMAGE": image,
        "BACKENDAI_CLUSTER_SIZE": str(len(members)),
        "BACKENDAI_CLUSTER_REPLICAS": replicas,
        "BACKENDAI_CLUSTER_HOSTS": hosts,
        "BACKENDAI_CLUSTER_HOST": me.hostname,
        "BACKENDAI_CLUSTER_ROLE": me.role,
        "BACKENDAI_CLUSTER_IDX": str(me.idx),
        "BACKENDAI_CLUSTER_LOCAL_RANK": str(me.local_rank),
    }


def _role_order(role: str) -> tuple[int, str]:
    return (0 if role == MAIN else 1, role)
