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
    # Stable consumer name for the kernel-event group (rule R-STABLE-NAMES).
    node_id: str = socket.gethostname()
    migrate: bool = True
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 40.0
    sweep_interval: float = 5.0
    # Key that encrypts stored container-registry passwords; the internal token when unset.
    credentials_key: SecretStr | None = None
    # Concurrent manifest requests per registry during a rescan.
    rescan_concurrency: int = 4
