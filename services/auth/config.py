"""Auth's settings, from AUTH_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
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
    # The edge's ext_authz Check as an HTTP/1.1 service (EDGE_AUTHZ=http, the edge's default;
    # docs/edge-auth.md); empty: only the gRPC Check on `bind`.
    authz_bind: str = "127.0.0.1:50061"
    keypair_cache_ttl: float = 5.0
    last_used_interval: float = 60.0
    last_used_flush_every: float = 5.0
    redis_prefix: str = "shipyard:"
    rate_limit_window: float = Field(default=900.0, gt=0.0)
    # Password login: the ES256 key every replica signs bearer tokens with (PEM; created if
    # missing; its public JWKS is written to `jwks_file` for the edge). Unset: a key per process.
    token_key_file: Path | None = None
    jwks_file: Path | None = None  # default: the key file's path + ".jwks.json"
    # Bounds how long a deactivated user's token still works: with the edge's clock-skew
    # leeway (<= 5 s) and Envoy's coarse clock (~2 s measured) within 5 minutes.
    access_token_ttl: float = Field(default=290.0, gt=0.0, le=290.0)
    refresh_token_ttl: float = Field(default=7 * 24 * 3600.0, gt=0.0)

    def jwks_path(self) -> Path | None:
        if self.jwks_file is not None or self.token_key_file is None:
            return self.jwks_file
        return self.token_key_file.with_name(self.token_key_file.name + ".jwks.json")

    registry_addr: str = "127.0.0.1:50052"  # for ending deactivated owners' sessions
