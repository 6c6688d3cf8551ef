"""Encryption of stored registry passwords (Fernet: AES-128-CBC with an HMAC-SHA256 tag)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from libs.core.errors import Internal


class SecretBox:
    """Encrypts with a deployment key. Any string works as the key: it is hashed to 32 bytes."""

    def __init__(self, key: str) -> None:
        digest = hashlib.sha256(b"shipyard-registry-credentials:" + key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise Internal(
                "a stored registry password cannot be decrypted: REGISTRY_CREDENTIALS_KEY changed"
            ) from None
