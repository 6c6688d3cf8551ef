"""The secrets a local platform keeps in its data directory, made on the first run and reused by
later ones: the superadmin keypair and the key that encrypts keypair secrets at rest.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Keypair:
    access_key: str
    secret_key: str


def superadmin_keypair(data_dir: Path) -> Keypair:
    """The superadmin keypair, created once per data directory and reused by later runs."""
    path = data_dir / "keypair.json"
    if path.exists():
        raw = json.loads(path.read_text())
        return Keypair(raw["access_key"], raw["secret_key"])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    access = "AK" + "".join(secrets.choice(alphabet) for _ in range(18))
    secret = secrets.token_urlsafe(30)[:40]
    path.write_text(json.dumps({"access_key": access, "secret_key": secret}))
    path.chmod(0o600)
    return Keypair(access, secret)


def encryption_key(data_dir: Path) -> str:
    """The deployment key that encrypts keypair secrets at rest, kept with the data it guards."""
    path = data_dir / "secret-key-encryption.key"
    if path.exists():
        return path.read_text().strip()
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
