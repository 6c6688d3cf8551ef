"""Usage sums against PostgreSQL, from kernel rows whose running times are known."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from libs.core.errors import InvalidArgument, NotFound
from libs.core.identity import Caller, Role
from libs.core.ids import new_id
from services.registry.adapters.tables import KernelRow
from services.registry.adapters.usage_store import SqlUsageStore
from services.registry.domain.usage import UsageScope
from services.registry.service.usage import Usage, visible
from tests.integration.registry.conftest import Stores
from tests.integration.registry.factories import new_session

pytestmark = pytest.mark.integration

# A fixed day far from any other test's rows.
T0 = datetime(2001, 3, 1, 12, 0, tzinfo=UTC)


async def _kernel(
    stores: Stores,
    *,
    user: str,
    project: str = "p",
    domain: str = "default",
    started: datetime,
    ended: datetime | None,
    cpu: str = "1",
    mem: str = "1000",
) -> str:
    new = replace(
        new_session(cpu=cpu, mem=mem, owner_user_id=user), project_id=project, domain_name=domain
    )
    session, _ = await stores.sessions.add(new)
    async with stores.factory.begin() as db:
        await db.execute(
            update(KernelRow)
            .where(KernelRow.session_id == session.session_id)
            .values(
                status="TERMINATED" if ended else "RUNNING",
                started_at=started,
                terminated_at=ended,
            )
        )
    return session.session_id


async def test_usage_sums_the_kernels_running_time_inside_the_period(stores: Stores) -> None:
    ada, bob = new_id(), new_id()
    # 1 h, 30 min of which fall before the period; 2 h; still running at "now"; never started.
    await _kernel(
        stores,
        user=ada,
        started=T0 - timedelta(minutes=30),
        ended=T0 + timedelta(minutes=30),
        cpu="2",
    )
    await _kernel(
        stores, user=ada, started=T0 + timedelta(hours=1), ended=T0 + timedelta(hours=3), mem="500"
    )
    await _kernel(stores, user=bob, project="q", started=T0 + timedelta(hours=2), ended=None)
    store = SqlUsageStore(stores.factory)
    now = T0 + timedelta(hours=5)

    records = await store.usage(UsageScope(), T0, T0 + timedelta(hours=4), now=now)
    mine = [r for r in records if r.user_id in (ada, bob)]

    by_user = {r.user_id: r for r in mine}
    assert by_user[ada].used_seconds == 30 * 60 + 2 * 3600
    assert (by_user[ada].session_count, by_user[ada].kernel_count) == (2, 2)
    assert by_user[ada].slot_seconds["cpu"] == 2 * 30 * 60 + 1 * 2 * 3600
    assert by_user[ada].slot_seconds["mem"] == 1000 * 30 * 60 + 500 * 2 * 3600
    # The running kernel counts until the end of the period.
    assert (by_user[bob].project_id, by_user[bob].used_seconds) == ("q", 2 * 3600)

    only_bob = await store.usage(UsageScope(user_id=bob), T0, T0 + timedelta(hours=4), now=now)
    assert [r.user_id for r in only_bob] == [bob]


async def test_the_series_puts_each_kernel_in_the_bins_it_overlaps(stores: Stores) -> None:
    carol = new_id()
    day = T0 + timedelta(days=10)
    await _kernel(
        stores,
        user=carol,
        started=day + timedelta(minutes=10),
        ended=day + timedelta(minutes=40),
        cpu="2",
    )
    await _kernel(
        stores, user=carol, started=day + timedelta(minutes=20), ended=day + timedelta(minutes=25)
    )
    store = SqlUsageStore(stores.factory)

    bins = await store.series(
        UsageScope(user_id=carol),
        day,
        day + timedelta(hours=1),
        timedelta(minutes=15),
        now=day + timedelta(days=1),
    )

    assert [b.start for b in bins] == [day + timedelta(minutes=15 * i) for i in range(4)]
    assert [b.kernel_count for b in bins] == [1, 2, 1, 0]
    assert [b.used_seconds for b in bins] == [5 * 60, 15 * 60 + 5 * 60, 10 * 60, 0]
    assert [b.allocated.get("cpu", 0) for b in bins] == [2, 3, 2, 0]
    # The bins' used time adds up to the kernels' lifetimes.
    assert sum(b.used_seconds for b in bins) == 30 * 60 + 5 * 60


async def test_a_bad_period_names_the_field(stores: Stores) -> None:
    usage = Usage(SqlUsageStore(stores.factory))
    root = Caller(user_id="root", access_key="AK", domain_name="default", role=Role.SUPERADMIN)
    with pytest.raises(InvalidArgument) as err:
        await usage.usage(root, UsageScope(), T0, T0 - timedelta(seconds=1))
    assert err.value.violations[0].field == "end_time"
    with pytest.raises(InvalidArgument) as err:
        await usage.series(root, UsageScope(), T0, T0 + timedelta(days=300), timedelta(minutes=1))
    assert err.value.violations[0].field == "bin_width"


def test_users_see_their_own_usage_and_domain_admins_their_domain() -> None:
    user = Caller(user_id="u1", access_key="AK1", domain_name="acme", role=Role.USER)
    admin = Caller(user_id="a1", access_key="AK2", domain_name="acme", role=Role.ADMIN)
    root = Caller(user_id="r", access_key="AK3", domain_name="default", role=Role.SUPERADMIN)

    assert visible(user, UsageScope()) == UsageScope(user_id="u1", domain_name="acme")
    with pytest.raises(NotFound) as err:
        visible(user, UsageScope(user_id="u2"))
    assert err.value.violations[0].field == "filter.user_id"
    assert visible(admin, UsageScope(user_id="u2")) == UsageScope(user_id="u2", domain_name="acme")
    with pytest.raises(NotFound) as err:
        visible(admin, UsageScope(domain_name="other"))
    assert err.value.violations[0].field == "filter.domain_name"
    assert visible(root, UsageScope(domain_name="other")) == UsageScope(domain_name="other")
