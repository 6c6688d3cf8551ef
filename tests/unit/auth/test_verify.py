"""The keypair signature verifier (docs/edge-auth.md), with fake ports."""

from __future__ import annotations

import hmac
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from libs.core.errors import Unauthenticated
from libs.core.identity import Role
from libs.core.signing import authorization_header, signing_key, string_to_sign
from services.auth.domain.model import UserStatus
from services.auth.service.verify import RequestFacts, RequestVerifier, mime_type, parse_date
from tests.unit.auth.factories import (
    ACCESS_KEY,
    DATE,
    DATE_TEXT,
    HOST,
    PROJECT_ID,
    USER_ID,
    FakeKeypairStore,
    FakeUsageRecorder,
    FixedClock,
    owner,
    signed_facts,
)

GOLDEN_GET = "cfc957562a48f5a2e16b65ed93091e0b0dee8bc076620a724628ecec79330d70"
GOLDEN_POST = "d30830aa62d85192914f971080d74ad20686cfae93de0882732524daa27cf1c5"


def make_verifier(
    store: FakeKeypairStore | None = None,
    usage: FakeUsageRecorder | None = None,
    now: datetime = DATE,
) -> RequestVerifier:
    return RequestVerifier(
        keypairs=store or FakeKeypairStore(owner()),
        usage=usage or FakeUsageRecorder(),
        clock=FixedClock(now),
    )


def golden(method: str, path: str, content_type: str, version: str, signature: str):
    headers = {
        "authorization": f"BackendAI signMethod=HMAC-SHA256, credential={ACCESS_KEY}:{signature}",
        "date": DATE_TEXT,
        "content-type": content_type,
        "x-backendai-version": version,
    }
    return RequestFacts(method=method, path=path, host=HOST, headers=headers)


async def refused(facts: RequestFacts, verifier: RequestVerifier | None = None) -> str:
    with pytest.raises(Unauthenticated) as info:
        await (verifier or make_verifier()).verify(facts)
    return info.value.reason


async def test_golden_get_vector_is_accepted():
    facts = golden(
        "GET",
        "/session/mysess?owner_access_key=AKIANABBDUSEREXAMPLE",
        "text/plain",
        "v7.20230615",
        GOLDEN_GET,
    )
    caller = await make_verifier().verify(facts)
    assert caller.user_id == USER_ID
    assert caller.access_key == ACCESS_KEY
    assert caller.role is Role.USER
    assert caller.domain_name == "default"
    assert caller.project_ids == (PROJECT_ID,)
    assert caller.email == "user@example.com"


async def test_golden_post_vector_is_accepted():
    facts = golden("POST", "/session", "application/json", "v6.20230315", GOLDEN_POST)
    assert (await make_verifier().verify(facts)).access_key == ACCESS_KEY


async def test_golden_signature_with_another_version_is_refused():
    facts = golden("POST", "/session", "application/json", "v7.20230615", GOLDEN_POST)
    assert await refused(facts) == "INVALID_SIGNATURE"


@pytest.mark.parametrize("sign", [1, -1])
async def test_date_just_inside_the_window_is_accepted(sign):
    now = DATE + sign * timedelta(minutes=14, seconds=59)
    assert (await make_verifier(now=now).verify(signed_facts())).access_key == ACCESS_KEY


@pytest.mark.parametrize("sign", [1, -1])
async def test_date_fifteen_minutes_away_is_refused(sign):
    now = DATE + sign * timedelta(minutes=15)
    assert await refused(signed_facts(), make_verifier(now=now)) == "DATE_OUT_OF_WINDOW"


@pytest.mark.parametrize(
    "field, value",
    [
        ("path", "/v1/identity?x=1"),
        ("host", "127.0.0.1:8091"),
        ("method", "POST"),
        ("content-type", "text/plain"),
        ("x-backendai-version", "v6.20230315"),
    ],
)
async def test_tampered_request_is_refused(field, value):
    facts = signed_facts()
    if field in ("path", "host", "method"):
        facts = replace(facts, **{field: value})
    else:
        facts = replace(facts, headers={**facts.headers, field: value})
    assert await refused(facts) == "INVALID_SIGNATURE"


async def test_wrong_secret_is_refused():
    facts = signed_facts(secret_key="x" * 40)
    assert await refused(facts) == "INVALID_SIGNATURE"


async def test_sorna_headers_sign_with_the_sorna_prefix():
    facts = signed_facts(prefix="sorna")
    assert (await make_verifier().verify(facts)).access_key == ACCESS_KEY


async def test_sorna_version_header_with_backendai_prefix_is_refused():
    facts = signed_facts(prefix="backendai")
    headers = dict(facts.headers)
    headers["x-sorna-version"] = headers.pop("x-backendai-version")
    assert await refused(replace(facts, headers=headers)) == "INVALID_SIGNATURE"


async def test_missing_content_type_counts_as_octet_stream():
    facts = signed_facts(content_type=None)
    assert "content-type" not in facts.headers
    assert (await make_verifier().verify(facts)).access_key == ACCESS_KEY


async def test_content_type_parameters_and_case_are_ignored():
    facts = signed_facts(content_type="application/json")
    headers = {**facts.headers, "content-type": "Application/JSON; charset=utf-8"}
    assert (await make_verifier().verify(replace(facts, headers=headers))).email


async def test_header_names_are_case_insensitive():
    facts = signed_facts()
    headers = {k.title(): v for k, v in facts.headers.items()}
    assert (await make_verifier().verify(replace(facts, headers=headers))).email


@pytest.mark.parametrize("header", ["x-backendai-date", "x-sorna-date"])
async def test_alternative_date_headers_are_accepted(header):
    facts = signed_facts()
    headers = dict(facts.headers)
    headers[header] = headers.pop("date")
    assert (await make_verifier().verify(replace(facts, headers=headers))).email


async def test_key_derivation_uses_the_dates_own_timezone():
    # 01:34 on Aug 2 in UTC+9 is still Aug 1 in UTC: the key must use 20230802.
    date = datetime(2023, 8, 2, 1, 34, 56, tzinfo=timezone(timedelta(hours=9)))
    facts = signed_facts(date=date)
    assert (await make_verifier(now=date.astimezone(UTC)).verify(facts)).email


async def test_rfc1123_date_is_accepted():
    date_text = "Tue, 01 Aug 2023 12:34:56 GMT"
    date = datetime(2023, 8, 1, 12, 34, 56, tzinfo=UTC)
    payload = string_to_sign(
        method="GET",
        rel_url="/v1/identity",
        date_text=date_text,
        host=HOST,
        content_type="text/plain",
        api_version="v7.20230615",
    )
    key = signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", date, HOST)
    signature = hmac.new(key, payload, "sha256").hexdigest()
    headers = {
        "authorization": authorization_header(ACCESS_KEY, signature),
        "date": date_text,
        "content-type": "text/plain",
        "x-backendai-version": "v7.20230615",
    }
    facts = RequestFacts(method="GET", path="/v1/identity", host=HOST, headers=headers)
    assert (await make_verifier().verify(facts)).email


async def test_host_header_is_used_when_host_is_empty():
    facts = signed_facts()
    facts = replace(facts, host="", headers={**facts.headers, ":authority": HOST})
    assert (await make_verifier().verify(facts)).email


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"authorization": None}, "MISSING_CREDENTIALS"),
        ({"authorization": "Bearer abc"}, "MALFORMED_AUTHORIZATION"),
        ({"authorization": "BackendAI signMethod=HMAC-SHA256"}, "MALFORMED_AUTHORIZATION"),
        (
            {"authorization": f"BackendAI signMethod=HMAC-NOPE, credential={ACCESS_KEY}:ab"},
            "UNSUPPORTED_SIGN_METHOD",
        ),
        ({"date": None}, "MISSING_DATE"),
        ({"date": "yesterday"}, "MALFORMED_DATE"),
        ({"x-backendai-version": None}, "MISSING_API_VERSION"),
    ],
)
async def test_bad_headers_are_refused_with_a_reason(change, reason):
    facts = signed_facts()
    headers = dict(facts.headers)
    for key, value in change.items():
        if value is None:
            headers.pop(key)
        else:
            headers[key] = value
    assert await refused(replace(facts, headers=headers)) == reason


async def test_unknown_access_key_is_refused():
    assert await refused(signed_facts(access_key="AKUNKNOWN00000000000")) == "UNKNOWN_ACCESS_KEY"


async def test_inactive_keypair_is_refused():
    verifier = make_verifier(FakeKeypairStore(owner(keypair_active=False)))
    assert await refused(signed_facts(), verifier) == "INACTIVE_KEYPAIR"


async def test_inactive_user_is_refused():
    verifier = make_verifier(FakeKeypairStore(owner(user_status=UserStatus.INACTIVE)))
    assert await refused(signed_facts(), verifier) == "INACTIVE_USER"


async def test_inactive_keypair_is_not_revealed_without_a_valid_signature():
    verifier = make_verifier(FakeKeypairStore(owner(keypair_active=False)))
    assert await refused(signed_facts(secret_key="y" * 40), verifier) == "INVALID_SIGNATURE"


async def test_stale_request_costs_no_lookup():
    store = FakeKeypairStore(owner())
    await refused(signed_facts(), make_verifier(store, now=DATE + timedelta(hours=1)))
    assert store.lookups == []


async def test_usage_is_recorded_only_on_success():
    usage = FakeUsageRecorder()
    verifier = make_verifier(usage=usage)
    await verifier.verify(signed_facts())
    await refused(signed_facts(secret_key="z" * 40), verifier)
    assert usage.touched == [(ACCESS_KEY, DATE)]


def test_parse_date_takes_zoneless_dates_as_utc():
    assert parse_date("2023-08-01T12:34:56") == datetime(2023, 8, 1, 12, 34, 56, tzinfo=UTC)
    assert parse_date("not a date") is None


def test_mime_type_strips_parameters():
    assert mime_type("Multipart/Form-Data; boundary=xyz") == "multipart/form-data"
    assert mime_type(None) == "application/octet-stream"
    assert mime_type("") == "application/octet-stream"


async def test_a_new_secret_refuses_signatures_made_with_the_old_one():
    store = FakeKeypairStore(owner())
    verifier = make_verifier(store)
    await verifier.verify(signed_facts())  # the old secret's key is derived (and remembered)
    store.owners[ACCESS_KEY] = replace(owner(), secret_key="n" * 40)
    assert await refused(signed_facts(path="/v1/identity?again"), verifier) == "INVALID_SIGNATURE"
    assert (await verifier.verify(signed_facts(secret_key="n" * 40))).access_key == ACCESS_KEY


async def test_each_day_and_host_has_its_own_key():
    midnight = datetime(2023, 8, 2, tzinfo=UTC)
    verifier = make_verifier(now=midnight)
    before, after = midnight - timedelta(minutes=1), midnight + timedelta(minutes=1)
    assert (await verifier.verify(signed_facts(date=before))).access_key == ACCESS_KEY
    assert (await verifier.verify(signed_facts(date=after))).access_key == ACCESS_KEY
    other_host = signed_facts(date=after, host="edge.example.com")
    assert (await verifier.verify(other_host)).access_key == ACCESS_KEY
    # A signature is bound to its host: the key of another host does not verify it.
    moved = replace(other_host, host=HOST, headers={**other_host.headers, "host": HOST})
    assert await refused(moved, verifier) == "INVALID_SIGNATURE"
