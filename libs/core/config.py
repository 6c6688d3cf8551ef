"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/shipyard"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True, slots=True)
class MtlsFiles:
    """PEM files of service-to-service mutual TLS (docs/deploy.md, "Many hosts and mutual TLS"):
    this process's certificate and key, and the CA that signs every peer's certificate."""

    cert: Path
    key: Path
    ca: Path


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
    # All three or none: serve and call peers over mutual TLS with these PEM files.
    mtls_cert_file: Path | None = None
    mtls_key_file: Path | None = None
    mtls_ca_file: Path | None = None

    @model_validator(mode="after")
    def _mtls_together(self) -> ServiceSettings:
        given = [self.mtls_cert_file, self.mtls_key_file, self.mtls_ca_file]
        if any(f is not None for f in given) and not all(f is not None for f in given):
            raise ValueError("MTLS_CERT_FILE, MTLS_KEY_FILE and MTLS_CA_FILE go together")
        return self

    def mtls(self) -> MtlsFiles | None:
        if self.mtls_cert_file is None or self.mtls_key_file is None or self.mtls_ca_file is None:
            return None
        return MtlsFiles(self.mtls_cert_file, self.mtls_key_file, self.mtls_ca_file)


class DatabaseMixin(BaseSettings):
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = 10


class RedisMixin(BaseSettings):
    redis_url: str = DEFAULT_REDIS_URL
