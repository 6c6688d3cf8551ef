"""Auth's settings, from AUTH_* environment variables."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from libs.core.config import DatabaseMixin, RedisMixin, ServiceSettings
from services.auth.domain.model import DEFAULT_ADMIN_EMAIL


class BootstrapSettings(DatabaseMixin):
    """What `python -m services.auth bootstrap` needs (no internal token, no bind address)."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", frozen=True, extra="ignore")

    migrate: bool = True
    bootstrap_admin_email: str = DEFAULT_ADMIN_EMAIL
    # Both or neither: that exact keypair is ensured for the superadmin (`shipyard up`).
    bootstrap_access_key: str | None = None
    bootstrap_secret_key: SecretStr | None = None
    # AES-256 key (urlsafe base64, 32 bytes) that encrypts keypair secrets at rest. When unset,
    # serve derives one from the internal token; `shipyard up` keeps a dedicated one.
    secret_key_encryption_key: SecretStr | None = None


class Settings(ServiceSettings, BootstrapSettings, DatabaseMixin, RedisMixin):
    model_config = SettingsConfigDict(env_prefix="AUTH_", frozen=True, extra="ignore")

    bind: str = "127.0.0.1:50051"
    keypair_cache_ttl: float = 5.0
    last_used_interval: float = 60.0
    last_used_flush_every: float = 5.0
    redis_prefix: str = "shipyard:"
    registry_addr: str = "127.0.0.1:50052"  # for ending deactivated owners' sessions
