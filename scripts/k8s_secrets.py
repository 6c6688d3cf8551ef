"""Write the inputs of a Kubernetes overlay's Secrets (deploy/k8s/overlays/<name>/secrets/):

    .venv/bin/python scripts/k8s_secrets.py deploy/k8s/overlays/production \\
        --database-url postgresql+asyncpg://shipyard:PASSWORD@db.internal:5432/shipyard \\
        --redis-url redis://:PASSWORD@redis.internal:6379/0

- secrets.env: `internal-token` (random) and `secret-key-encryption-key` (random, 32 bytes),
- datastores.env: `database-url` and `redis-url`, the operator's PostgreSQL and Redis,
- token-key.pem: auth's ES256 key for bearer tokens, and jwks.json, its public half for the edge.

Existing values are kept (a new internal token or encryption key would lock out running
services and stored keypair secrets); pass --rotate-token to replace the internal token only.
The directory is git-ignored: keep it in your secret store, not in the repository.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
from pathlib import Path

from services.auth.adapters.access_tokens import load_or_create_key, write_jwks


def read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def write_env(path: Path, values: dict[str, str]) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def write_secrets(
    directory: Path, database_url: str | None, redis_url: str | None, rotate_token: bool = False
) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    own = read_env(directory / "secrets.env")
    if rotate_token or not own.get("internal-token"):
        own["internal-token"] = secrets.token_urlsafe(32)
    if not own.get("secret-key-encryption-key"):
        own["secret-key-encryption-key"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
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

    key = load_or_create_key(directory / "token-key.pem")
    write_jwks(key, directory / "jwks.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overlay", type=Path, help="the overlay directory (its secrets/ is written)")
    parser.add_argument("--database-url", help="PostgreSQL, postgresql+asyncpg://USER:PASS@HOST/DB")
    parser.add_argument("--redis-url", help="Redis, redis://[:PASS@]HOST:PORT/DB")
    parser.add_argument("--rotate-token", action="store_true", help="a new internal token")
    args = parser.parse_args()
    if not (args.overlay / "kustomization.yaml").exists():
        sys.exit(f"{args.overlay} is not a kustomize overlay (no kustomization.yaml)")
    write_secrets(args.overlay / "secrets", args.database_url, args.redis_url, args.rotate_token)
    print(f"wrote {args.overlay / 'secrets'}")


if __name__ == "__main__":
    main()
