"""Scheduler settings, from SCHEDULER_* environment variables."""

from __future__ import annotations

import os
import socket

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from libs.core.config import RedisMixin, ServiceSettings


def _default_scheduler_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(ServiceSettings, RedisMixin):
    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", frozen=True, extra="ignore")

    bind: str = "127.0.0.1:50053"
    registry_addr: str = "127.0.0.1:50052"
    # Auth's PolicyService: tenant limits (BatchGetLimits), cached for limits_ttl seconds.
    auth_addr: str = "127.0.0.1:50051"
    limits_ttl: float = Field(default=5.0, gt=0)
    # Names this replica in the leader lease and in the registry's logs; unique per process.
    scheduler_id: str = Field(default_factory=_default_scheduler_id)
    redis_prefix: str = "shipyard:"
    # A standby takes over within this (plus a third of it) after the leader dies.
    lease_ttl: float = Field(default=3.0, gt=0)
    tick_interval: float = Field(default=1.0, gt=0)
    # An unchanged "why pending" note is re-sent this often (a changed one at once).
    note_interval: float = Field(default=60.0, gt=0)
    # A bound placement whose confirmation never comes through the watch is dropped after this.
    bound_ttl: float = Field(default=30.0, gt=0)
    bind_timeout: float = Field(default=10.0, gt=0)
    # Placements per BindSessions call, and batches per cycle (the next decided while the
    # previous one binds); the limits, reservations and timeouts are re-read between cycles.
    max_batch: int = Field(default=1000, gt=0)
    max_batches: int = Field(default=8, gt=0)
    watch_backoff_max: float = Field(default=10.0, gt=0)
    policy: str = "fifo"
    selector: str = "least-occupied"
    # Options of the default policy, e.g. {"num_retries_to_skip": "3"}. `policy`, `selector`
    # and these apply to groups the registry has not told us about yet.
    policy_options: dict[str, str] = Field(default_factory=dict)
    # How often each resource group's scheduling settings are re-read from the registry.
    groups_refresh: float = Field(default=5.0, gt=0)

    @property
    def lease_key(self) -> str:
        return f"{self.redis_prefix}scheduler:leader"
