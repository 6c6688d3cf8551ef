"""Registry settings (env prefix REGISTRY_)."""

from __future__ import annotations

import socket

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from libs.core.config import DatabaseMixin, RedisMixin, ServiceSettings


class Settings(ServiceSettings, DatabaseMixin, RedisMixin):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", frozen=True, extra="ignore")

    bind: str = "127.0.0.1:50052"
    storage_addr: str = "127.0.0.1:50054"
    # Auth's PolicyService: membership, resource groups and keypair limits for CreateSession.
    auth_addr: str = "127.0.0.1:50051"
    redis_prefix: str = "shipyard:"
    # The edge's internal API (EDGE_ROUTE_API_ADDR) that gives session apps their host names
    # and tokens (docs/apps.md); unset: StartApp answers FAILED_PRECONDITION.
    edge_api_addr: str | None = None
    # Stable consumer name for the kernel-event group (rule R-STABLE-NAMES).
    node_id: str = socket.gethostname()
    migrate: bool = True
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 40.0
    sweep_interval: float = 5.0
    # Key that encrypts stored container-registry passwords; the internal token when unset.
    credentials_key: SecretStr | None = None
    # Key the per-agent secrets are derived from (docs/access.md); credentials_key, then the
    # internal token, when unset.
    agent_credentials_key: SecretStr | None = None
    # Concurrent manifest requests per registry during a rescan.
    rescan_concurrency: int = 4
    # Whether this replica runs the starter and applies the agents' kernel events. Off, it
    # serves the API, binds and relays while other replicas start what was bound (a large
    # fleet: docs/scheduler-scale.md). At least one replica must keep it on.
    start_sessions: bool = True
    # Wake the starter on every bind the event stream shows, not only on this replica's own
    # binds (else it finds other replicas' binds by polling, every second): for a replica
    # that starts what others bind.
    starter_follows_binds: bool = False
    # Starts in flight at once per replica, and each one's deadline (rule R-BOUNDED-START).
    starter_concurrency: int = 32
    start_timeout: float = 50.0
    # Connections of the hot read pool (GetSession and every other single-session lookup).
    read_pool_size: int = 4
    # How long SIGTERM waits for in-flight starts before re-queueing them.
    shutdown_drain_timeout: float = 10.0
    # Failed starts that are not the session's fault: attempts, then CANCELLED (R-REQUEUE).
    start_max_attempts: int = 5
    start_retry_backoff: float = 2.0
    start_retry_backoff_max: float = 60.0
    # Consecutive failed starts that take an agent out of scheduling, and how long it stays
    # out before a healthy heartbeat puts it back (rule R-AGENT-OUT); 0 disables the count.
    agent_failure_threshold: int = 3
    agent_unschedulable_cooldown: float = 30.0
    # How long a lost agent's sessions wait for it to come back (rule R-LOST-GRACE).
    lost_agent_grace: float = 60.0
    # Reconciliation (rule R-RECONCILE): how often, and when a PREPARING session counts as stuck.
    reconcile_interval: float = 30.0
    prepare_timeout: float = 120.0
    # Idle checkers (docs/idle-and-usage.md): how often they run (one replica at a time), and
    # the grace periods before a session's idle timeout starts counting: after it starts
    # running, and after its owner's user was created.
    idle_check_interval: float = 5.0
    idle_initial_grace: float = 0.0
    idle_new_user_grace: float = 0.0
