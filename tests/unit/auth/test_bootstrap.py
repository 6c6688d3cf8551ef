"""The bootstrap use case against an in-memory tenancy."""

from __future__ import annotations

import pytest

from libs.core.identity import Role
from services.auth.domain.errors import BootstrapKeypairConflict, InvalidBootstrapKeypair
from services.auth.domain.model import Keypair, StoredKeypair, is_access_key, is_secret_key
from services.auth.service.bootstrap import BootstrapPlan, bootstrap
from tests.unit.auth.factories import ACCESS_KEY, SECRET_KEY, FakeBootstrapStore

GIVEN = Keypair(access_key=ACCESS_KEY, secret_key=SECRET_KEY)


async def test_first_run_creates_tenancy_and_generates_a_keypair():
    store = FakeBootstrapStore()
    keypair = await bootstrap(store, BootstrapPlan())
    tx = store.tx
    assert tx.domains == {"default"}
    assert tx.group_access == {("default", "default")}  # sessions have somewhere to run
    assert list(tx.projects) == [("default", "default")]
    user_id, role = tx.users["admin@shipyard.local"]
    assert role is Role.SUPERADMIN
    assert (tx.projects["default", "default"], user_id) in tx.members
    assert is_access_key(keypair.access_key)
    assert is_secret_key(keypair.secret_key)
    stored = tx.keypairs[keypair.access_key]
    assert stored.user_id == user_id
    assert stored.is_active and stored.is_admin


async def test_second_run_returns_the_same_generated_keypair():
    store = FakeBootstrapStore()
    first = await bootstrap(store, BootstrapPlan())
    second = await bootstrap(store, BootstrapPlan())
    assert first == second
    assert store.tx.saves == 1


async def test_given_keypair_is_ensured_exactly():
    store = FakeBootstrapStore()
    assert await bootstrap(store, BootstrapPlan(keypair=GIVEN)) == GIVEN
    assert await bootstrap(store, BootstrapPlan(keypair=GIVEN)) == GIVEN
    assert store.tx.saves == 1
    assert store.tx.keypairs[ACCESS_KEY].secret_key == SECRET_KEY


async def test_given_keypair_repairs_a_changed_secret_or_disabled_key():
    store = FakeBootstrapStore()
    await bootstrap(store, BootstrapPlan(keypair=GIVEN))
    stored = store.tx.keypairs[ACCESS_KEY]
    store.tx.keypairs[ACCESS_KEY] = StoredKeypair(
        access_key=ACCESS_KEY,
        secret_key="s" * 40,
        user_id=stored.user_id,
        is_active=False,
        is_admin=True,
    )
    await bootstrap(store, BootstrapPlan(keypair=GIVEN))
    repaired = store.tx.keypairs[ACCESS_KEY]
    assert repaired.secret_key == SECRET_KEY
    assert repaired.is_active


async def test_given_keypair_of_another_user_is_a_conflict():
    store = FakeBootstrapStore()
    await bootstrap(store, BootstrapPlan(admin_email="one@example.com", keypair=GIVEN))
    with pytest.raises(BootstrapKeypairConflict):
        await bootstrap(store, BootstrapPlan(admin_email="two@example.com", keypair=GIVEN))


@pytest.mark.parametrize(
    "keypair",
    [
        Keypair(access_key="AKshort", secret_key=SECRET_KEY),
        Keypair(access_key="akiaiosfodnn7example", secret_key=SECRET_KEY),
        Keypair(access_key=ACCESS_KEY, secret_key="too short"),
    ],
)
async def test_malformed_given_keypair_is_refused(keypair):
    with pytest.raises(InvalidBootstrapKeypair):
        await bootstrap(FakeBootstrapStore(), BootstrapPlan(keypair=keypair))
