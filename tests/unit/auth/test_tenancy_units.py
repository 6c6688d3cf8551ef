"""Pure parts of tenancy: secret encryption, cache revocation, update masks, audit outcomes."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from libs.core.access import Scope
from libs.core.identity import Caller, Role
from services.auth.adapters.keypair_cache import CachedKeypairStore
from services.auth.adapters.secret_cipher import (
    SecretCipher,
    SecretCipherError,
    new_key_text,
    parse_key,
)
from services.auth.domain.audit import Outcome, outcome_of
from services.auth.domain.model import KeypairOwner
from services.auth.domain.paging import decode_token, encode_token, page_request
from services.auth.domain.tenancy import KeypairInfo, ResourceGroupAccess
from services.auth.domain.tenancy_errors import BadUpdateMask
from services.auth.service.scoping import check_mask, restriction, sees_keypair
from tests.unit.auth.factories import ACCESS_KEY, SECRET_KEY, owner

CIPHER = SecretCipher(parse_key(new_key_text()))


def test_secret_round_trips_and_is_bound_to_its_access_key():
    stored = CIPHER.encrypt(ACCESS_KEY, SECRET_KEY)
    assert stored.startswith("v1:") and SECRET_KEY not in stored
    assert CIPHER.decrypt(ACCESS_KEY, stored) == SECRET_KEY
    with pytest.raises(SecretCipherError):  # copied onto another keypair's row
        CIPHER.decrypt("AKOTHERKEY0000000000", stored)
    with pytest.raises(SecretCipherError):  # another deployment's key
        SecretCipher(parse_key(new_key_text())).decrypt(ACCESS_KEY, stored)


def test_encryption_key_must_be_32_bytes_of_base64():
    with pytest.raises(ValueError, match="32 bytes"):
        parse_key("c2hvcnQ=")


class Store:
    def __init__(self) -> None:
        self.value: KeypairOwner | None = owner()
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def find(self, access_key: str) -> KeypairOwner | None:
        self.calls += 1
        seen = self.value
        self.reading.set()
        if self.gate is not None:
            await self.gate.wait()
        return seen


async def test_invalidated_key_is_looked_up_again():
    store = Store()
    cache = CachedKeypairStore(store, ttl=60)
    await cache.find(ACCESS_KEY)
    store.value = replace(owner(), keypair_active=False)
    cache.invalidate(ACCESS_KEY)
    found = await cache.find(ACCESS_KEY)
    assert found is not None and not found.keypair_active and store.calls == 2


async def test_a_lookup_racing_a_revocation_is_not_remembered():
    store = Store()
    store.gate = asyncio.Event()
    cache = CachedKeypairStore(store, ttl=60)
    pending = asyncio.ensure_future(cache.find(ACCESS_KEY))
    await store.reading.wait()  # the lookup has read the old row
    cache.invalidate(ACCESS_KEY)
    store.gate.set()
    assert (await pending) is not None
    store.gate = None
    await cache.find(ACCESS_KEY)
    assert store.calls == 2


async def test_bypass_skips_the_cache_while_revocations_cannot_arrive():
    store = Store()
    cache = CachedKeypairStore(store, ttl=60)
    cache.bypass = True
    await cache.find(ACCESS_KEY)
    await cache.find(ACCESS_KEY)
    assert store.calls == 2


def test_update_mask_must_name_changeable_fields():
    check_mask({"full_name": "x"}, ("full_name",))
    with pytest.raises(BadUpdateMask, match="update_mask names no field"):
        check_mask({}, ("full_name",))
    with pytest.raises(BadUpdateMask, match="domain_name"):
        check_mask({"domain_name": "other"}, ("full_name",))


def test_not_found_counts_as_denied_in_the_audit_log():
    assert outcome_of("OK") is Outcome.SUCCESS
    assert outcome_of("NOT_FOUND") is Outcome.DENIED
    assert outcome_of("PERMISSION_DENIED") is Outcome.DENIED
    assert outcome_of("INVALID_ARGUMENT") is Outcome.FAILURE


def test_scope_narrows_lists_and_objects():
    admin = Caller(user_id="a", role=Role.ADMIN, domain_name="alpha")
    assert restriction(admin, Scope.DOMAIN).domain_name == "alpha"
    user = Caller(user_id="u", role=Role.USER, domain_name="alpha", project_ids=("p",))
    assert restriction(user, Scope.OWN).user_id == "u"
    assert restriction(user, Scope.OWN, own_projects=True).project_ids == ("p",)
    theirs = KeypairInfo(access_key="AK", user_id="other", domain_name="alpha")
    assert sees_keypair(admin, Scope.DOMAIN, theirs)
    assert not sees_keypair(user, Scope.OWN, theirs)
    assert not sees_keypair(admin, Scope.DOMAIN, replace(theirs, domain_name="beta"))


def test_resource_group_opens_for_a_listed_domain_project_or_keypair():
    access = ResourceGroupAccess(
        resource_group="gpu", domain_names=("alpha",), project_ids=("p1",), access_keys=("AK1",)
    )
    assert access.allows(domain_name="alpha", project_id="", access_key="")
    assert access.allows(domain_name="beta", project_id="p1", access_key="")
    assert access.allows(domain_name="beta", project_id="p2", access_key="AK1")
    assert not access.allows(domain_name="beta", project_id="p2", access_key="")


def test_page_tokens_round_trip_and_garbage_is_refused_by_name():
    assert decode_token(encode_token("bob@example.com")) == "bob@example.com"
    assert page_request(0, "").size == 100 and page_request(5000, "").size == 1000
    with pytest.raises(Exception, match="page_token"):
        decode_token("%%%")
