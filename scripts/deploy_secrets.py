"""Write a deployment's secrets into one directory, for Kubernetes and for compose alike:

    .venv/bin/python scripts/deploy_secrets.py deploy/k8s/overlays/production/secrets \\
        --database-url postgresql+asyncpg://shipyard:PASSWORD@db.internal:5432/shipyard \\
        --redis-url redis://:PASSWORD@redis.internal:6379/0

- secrets.env: `internal-token`, `secret-key-encryption-key` (auth's keypair secrets at rest)
  and `storage-transfer-key` (storage's transfer tokens), all random,
- datastores.env: `database-url` and `redis-url`, the operator's PostgreSQL and Redis,
  (these two feed an overlay's secretGenerator),
- compose.env: the same values as every service's environment variables (deploy/compose.yaml),
- token-key.pem: auth's ES256 key for bearer tokens; jwks.json: its public half, for the edge.

Existing values are kept (a new internal token or key would lock out running services, stored
keypair secrets and issued transfer tokens); --rotate-token replaces the internal token only.
Keep the directory in your secret store, not in the repository (overlays' secrets/ are ignored).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
from pathlib import Path

from services.auth.adapters.access_tokens import load_or_create_key, write_jwks

SERVICES = ("auth", "registry", "scheduler", "storage", "agent", "edge")
USES_DATABASE = ("auth", "registry", "storage")
USES_REDIS = ("auth", "registry", "scheduler", "agent")
AUTH_GID = 10001  # the auth image's group (scripts/images): it reads the token key


def read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def write_env(path: Path, values: dict[str, str]) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def compose_env(own: dict[str, str], stores: dict[str, str]) -> dict[str, str]:
    """Each service's variables (each reads only its own prefix, so one file serves all)."""
    env: dict[str, str] = {}
    for service in SERVICES:
        prefix = service.upper() + "_"
        env[prefix + "INTERNAL_TOKEN"] = own["internal-token"]
        if service in USES_DATABASE:
            env[prefix + "DATABASE_URL"] = stores["database-url"]
        if service in USES_REDIS:
            env[prefix + "REDIS_URL"] = stores["redis-url"]
    env["AUTH_SECRET_KEY_ENCRYPTION_KEY"] = own["secret-key-encryption-key"]
    env["STORAGE_TRANSFER_KEY"] = own["storage-transfer-key"]
    return env


def write_secrets(
    directory: Path, database_url: str | None, redis_url: str | None, rotate_token: bool = False
) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    own = read_env(directory / "secrets.env")
    if rotate_token or not own.get("internal-token"):
        own["internal-token"] = secrets.token_urlsafe(32)
    if not own.get("secret-key-encryption-key"):
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        own["secret-key-encryption-key"] = key
    if not own.get("storage-transfer-key"):
        own["storage-transfer-key"] = secrets.token_urlsafe(32)
    write_env(directory / "secrets.env", own)

    stores = read_env(directory / "datastores.env")
    if database_url:
        stores["database-url"] = database_url
    if redis_url:
        stores["redis-url"] = redis_url
    missing = [k for k in ("database-url", "redis-url") if not stores.get(k)]
    if missing:
        raise SystemExit(f"missing {', '.join('--' + k for k in missing)} (no earlier value)")
    write_env(directory / "datastores.env", stores)
    write_env(directory / "compose.env", compose_env(own, stores))

    key_file = directory / "token-key.pem"
    write_jwks(load_or_create_key(key_file), directory / "jwks.json")
    (directory / "jwks.json").chmod(0o644)
    if os.geteuid() == 0:  # compose bind-mounts the key: let the auth image's user read it
        os.chown(key_file, 0, AUTH_GID)
        key_file.chmod(0o640)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="where the secrets are written")
    parser.add_argument("--database-url", help="postgresql+asyncpg://USER:PASS@HOST:PORT/DB")
    parser.add_argument("--redis-url", help="redis://[:PASS@]HOST:PORT/DB")
    parser.add_argument("--rotate-token", action="store_true", help="a new internal token")
    args = parser.parse_args()
    write_secrets(args.directory, args.database_url, args.redis_url, args.rotate_token)
    print(f"wrote {args.directory}")


if __name__ == "__main__":
    main()
