"""Bearer access tokens: ES256 JWTs that Envoy's jwt_authn verifies with auth's public JWKS.

The private key lives in a PEM file every auth replica reads (created on first start); the
public half is written beside it as a JWKS, which the edge inlines into its config at start.
Claims map one-to-one onto the identity headers services trust (see gateway/envoy_config.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from libs.core.identity import Caller
from services.auth.domain.login import AccessToken

ISSUER = "shipyard-auth"
AUDIENCE = "shipyard-edge"
ALGORITHM = "ES256"
# Claim name -> what it carries; the edge turns each into an x-shipyard-* header.
CLAIMS = ("sub", "ak", "role", "dom", "prj", "email")


class Es256Signer:
    def __init__(self, key: ec.EllipticCurvePrivateKey, *, ttl: timedelta) -> None:
        self._key = key
        self._kid = key_id(key.public_key())
        self._ttl = ttl

    def issue(self, caller: Caller, *, now: datetime) -> AccessToken:
        expires = now + self._ttl
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_urlsafe(12),
            "sub": caller.user_id,
            "ak": caller.access_key,
            "role": caller.role.value,
            "dom": caller.domain_name,
            "prj": ",".join(caller.project_ids),
            "email": caller.email,
        }
        # Absent rather than empty: Envoy would otherwise add an empty identity header.
        claims = {k: v for k, v in claims.items() if v != ""}
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})
        expires_at = datetime.fromtimestamp(claims["exp"], now.tzinfo)
        return AccessToken(token=token, expires_at=expires_at)


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 signing key in `path` (PEM, PKCS#8), created with mode 0600 if missing."""
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise ValueError(f"{path} is not a P-256 (ES256) private key")
    return loaded


def public_jwks(key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    numbers = key.public_numbers()
    return {
        "keys": [
            {
                "kty": "EC",
                "crv": "P-256",
                "alg": ALGORITHM,
                "use": "sig",
                "kid": key_id(key),
                "x": _b64(numbers.x.to_bytes(32, "big")),
                "y": _b64(numbers.y.to_bytes(32, "big")),
            }
        ]
    }


def write_jwks(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    """Write the public JWKS (not secret) for the edge; atomically, as replicas may race."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(public_jwks(key.public_key())))
    tmp.replace(path)
    return path


def key_id(key: ec.EllipticCurvePublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
