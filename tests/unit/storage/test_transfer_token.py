"""Signed transfer tokens: what one allows, and every way a forged or stale one is refused."""

from __future__ import annotations

import base64
import json

import pytest

from services.storage.domain import transfer_token as tt

KEY = b"k" * 32
GRANT = tt.TransferGrant(
    kind=tt.TransferKind.UPLOAD,
    vfolder_id="0b7a4d0e-8c1e-4f55-9a53-8d4c4c1f3c11",
    path="data/x.bin",
    user_id="u-1",
    expires_at=1_000,
    size=42,
    role="admin",
    domain_name="acme",
    project_ids=("p-1", "p-2"),
)


def test_a_signed_token_verifies_to_its_grant() -> None:
    token = tt.sign(GRANT, KEY)
    assert tt.verify(token, KEY, kind=tt.TransferKind.UPLOAD, now=999) == GRANT


def test_a_grant_acts_as_the_user_it_was_issued_to() -> None:
    grant = tt.verify(tt.sign(GRANT, KEY), KEY, kind=tt.TransferKind.UPLOAD, now=0)
    caller = grant.caller()
    assert (caller.user_id, caller.role.value, caller.domain_name) == ("u-1", "admin", "acme")
    assert caller.project_ids == ("p-1", "p-2") and not caller.system


def test_a_well_signed_token_without_the_users_identity_is_refused() -> None:
    # What a token from before grants carried the identity looked like: no role, domain, projects.
    old = {"kind": "upload", "vfolder_id": GRANT.vfolder_id, "path": "x", "user_id": "u-1",
           "expires_at": 1_000, "size": 1}  # fmt: skip
    payload = _b64(json.dumps(old).encode())
    token = f"v1.{payload}.{_b64(tt._mac(KEY, payload))}"
    with pytest.raises(tt.InvalidTransferToken):
        tt.verify(token, KEY, kind=tt.TransferKind.UPLOAD, now=0)


def test_an_expired_token_is_refused() -> None:
    token = tt.sign(GRANT, KEY)
    with pytest.raises(tt.TransferTokenExpired):
        tt.verify(token, KEY, kind=tt.TransferKind.UPLOAD, now=1_000)


def test_an_upload_token_does_not_authorise_a_download() -> None:
    token = tt.sign(GRANT, KEY)
    with pytest.raises(tt.InvalidTransferToken, match="for a upload"):
        tt.verify(token, KEY, kind=tt.TransferKind.DOWNLOAD, now=0)


def test_another_key_is_refused() -> None:
    token = tt.sign(GRANT, b"o" * 32)
    with pytest.raises(tt.InvalidTransferToken):
        tt.verify(token, KEY, kind=tt.TransferKind.UPLOAD, now=0)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_changed_payload_breaks_the_signature() -> None:
    version, _payload, mac = tt.sign(GRANT, KEY).split(".")
    widened = {**json.loads(base64.urlsafe_b64decode(_payload + "==")), "path": "../../etc"}
    forged = f"{version}.{_b64(json.dumps(widened).encode())}.{mac}"
    with pytest.raises(tt.InvalidTransferToken):
        tt.verify(forged, KEY, kind=tt.TransferKind.UPLOAD, now=0)


@pytest.mark.parametrize(
    "token", ["", "v1", "v1..", "v2.abc.def", "v1.abc", "v1.!!.??", "v1.e30.e30.e30"]
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(tt.InvalidTransferToken):
        tt.verify(token, KEY, kind=tt.TransferKind.UPLOAD, now=0)


def test_a_well_signed_payload_missing_fields_is_refused() -> None:
    payload = _b64(b'{"kind":"upload"}')
    token = f"v1.{payload}.{_b64(tt._mac(KEY, payload))}"
    with pytest.raises(tt.InvalidTransferToken):
        tt.verify(token, KEY, kind=tt.TransferKind.UPLOAD, now=0)


def test_a_short_key_is_not_used() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        tt.sign(GRANT, b"short")
