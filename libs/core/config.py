"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/shipyard"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class ServiceSettings(BaseSettings):
    """Common keys. Subclasses set `env_prefix` (e.g. REGISTRY_) in their model_config."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    bind: str = "127.0.0.1:0"
    internal_token: SecretStr
    otlp_endpoint: str | None = None
    trace_sample_ratio: float = 1.0
    log_level: str = "INFO"
    # After SIGTERM: drain for at most this long, then exit anyway (rule R-STOP-DEADLINE).
    stop_deadline: float = 30.0


class DatabaseMixin(BaseSettings):
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = 10


class RedisMixin(BaseSettings):
    redis_url: str = DEFAULT_REDIS_URL
