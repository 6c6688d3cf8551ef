"""Keypair signing against known-good vectors of the wire format (docs/edge-auth.md)."""

from datetime import datetime, timedelta

from libs.core.signing import (
    authorization_header,
    hash_name_of,
    parse_authorization,
    sign,
    signing_key,
    within_window,
)

HOST = "127.0.0.1:8090"
DATE = datetime.fromisoformat("2023-08-01T12:34:56.123456+00:00")
AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_date_scoped_key_matches_golden_vector() -> None:
    assert signing_key(SK, DATE, HOST).hex() == (
        "1460e79e82d65a78b125f0edf685720cf29ee8c79cebc3d4ec048b6bfeb6d6bc"
    )


def test_get_with_query_matches_golden_signature() -> None:
    sig = sign(
        secret_key=SK,
        method="GET",
        rel_url="/session/mysess?owner_access_key=AKIANABBDUSEREXAMPLE",
        date=DATE,
        host=HOST,
        content_type="text/plain",
        api_version="v7.20230615",
    )
    assert sig == "cfc957562a48f5a2e16b65ed93091e0b0dee8bc076620a724628ecec79330d70"


def test_post_matches_golden_signature() -> None:
    sig = sign(
        secret_key=SK,
        method="POST",
        rel_url="/session",
        date=DATE,
        host=HOST,
        content_type="application/json",
        api_version="v6.20230315",
    )
    assert sig == "d30830aa62d85192914f971080d74ad20686cfae93de0882732524daa27cf1c5"


def test_authorization_header_round_trips() -> None:
    header = authorization_header(AK, "abc123")
    assert header == f"BackendAI signMethod=HMAC-SHA256, credential={AK}:abc123"
    parsed = parse_authorization(header)
    assert parsed is not None
    assert (parsed.access_key, parsed.signature, hash_name_of(parsed.sign_method)) == (
        AK,
        "abc123",
        "sha256",
    )


def test_malformed_authorization_is_rejected() -> None:
    assert parse_authorization("Bearer xyz") is None
    assert parse_authorization("BackendAI signMethod=HMAC-SHA256") is None
    assert hash_name_of("HMAC-NOPE") is None
    assert hash_name_of("RSA-SHA256") is None


def test_clock_skew_window_is_strict() -> None:
    assert within_window(DATE, DATE + timedelta(minutes=14, seconds=59))
    assert within_window(DATE, DATE - timedelta(minutes=14, seconds=59))
    assert not within_window(DATE, DATE + timedelta(minutes=15))
    assert not within_window(DATE, DATE - timedelta(minutes=15))
