"""Storage settings, from STORAGE_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from libs.core.config import DatabaseMixin, ServiceSettings


class Settings(ServiceSettings, DatabaseMixin):
    model_config = SettingsConfigDict(env_prefix="STORAGE_", frozen=True, extra="ignore")

    bind: str = "127.0.0.1:50054"
    # The HTTP transfer endpoints (tus uploads, Range downloads) the edge routes to; empty: none.
    http_bind: str = "127.0.0.1:50064"
    migrate: bool = True
    volume_name: str = "local"
    volume_root: Path = Path("./.shipyard/volumes/local")
    # Several volumes: a JSON list of {"name", "backend", "root", "options"} (backend "vfs").
    # Empty: the one volume above. New folders go to `default_volume` (empty: the first).
    volumes: str = ""
    default_volume: str = ""
    # Trashed folders are deleted for good after this long; the sweeper looks this often.
    trash_retention_seconds: float = 30 * 24 * 3600
    trash_sweep_interval: float = 300.0
    # Auth's PolicyService: users by e-mail, to share folders with them; keypair policies.
    auth_addr: str = "127.0.0.1:50051"
    # Apply the keypair resource policy's max_vfolder_count / max_vfolder_size (asks auth).
    folder_policy: bool = True
    # The registry's MountUsageService: folders live sessions mount are shown as mounted and
    # cannot be deleted or renamed (the `mounted` gate). Empty: no such check.
    registry_addr: str = ""
    # HMAC key of the signed transfer tokens (at least 32 bytes). Empty: a random key per start,
    # so tokens issued before a restart stop being accepted.
    transfer_key: SecretStr = SecretStr("")
    transfer_token_ttl_seconds: float = 900.0
