"""Keypair secret keys at rest: AES-256-GCM under the deployment key.

The stored text is `v1:` + urlsafe-base64(nonce ‖ ciphertext ‖ tag). The access key is the
associated data, so a ciphertext copied onto another keypair's row does not decrypt.
Verification needs the plaintext secret (HMAC), hence encryption rather than a hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1:"
_NONCE_BYTES = 12


class SecretCipherError(ValueError):
    """A stored secret cannot be decrypted with this deployment key."""


def parse_key(text: str) -> bytes:
    """A 32-byte key from its urlsafe-base64 text (what `new_key_text` prints)."""
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the secret-key encryption key must be urlsafe base64") from exc
    if len(key) != 32:
        raise ValueError("the secret-key encryption key must be 32 bytes (44 base64 characters)")
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def derive_key(material: str) -> bytes:
    """A key derived from another deployment secret (when no dedicated key is configured)."""
    return hashlib.sha256(b"shipyard.auth.secret-key-encryption\0" + material.encode()).digest()


class SecretCipher:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, access_key: str, secret: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), access_key.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, access_key: str, stored: str) -> str:
        if not is_encrypted(stored):
            return stored  # a row from before encryption; startup encrypts these
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
            nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._aead.decrypt(nonce, sealed, access_key.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SecretCipherError(f"cannot decrypt the secret of {access_key}") from exc


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)
