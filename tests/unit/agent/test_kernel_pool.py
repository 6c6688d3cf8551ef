"""Pre-started kernels, the rules without a sandbox: which specs may take one, the pool's
hand-outs, refills and stop, and the cgroup v1 memory ordering of a hand-out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from services.agent.adapters.cgroups import set_limits
from services.agent.adapters.kernel_log import copy_log
from services.agent.adapters.kernel_pool import KernelPool
from services.agent.adapters.process_kernel import poolable
from services.agent.domain.model import KernelNetwork, KernelSpec, Mount


def _spec(**fields: object) -> KernelSpec:
    base: dict[str, object] = {
        "kernel_id": "k1",
        "session_id": "s1",
        "image": "python",
        "cpu": Decimal(1),
        "mem_bytes": 1 << 28,
    }
    return KernelSpec(**(base | fields))  # type: ignore[arg-type]


def test_only_a_sandbox_like_a_pre_started_one_may_take_it() -> None:
    assert poolable(_spec(environ={"PATH": "/opt/bin:/usr/bin", "GREETING": "hi", "TZ": "UTC"}))
    mount = Mount(name="data", host_path="/srv/data", read_only=True)
    network = KernelNetwork(netns_path="/run/netns/x", hostname="main1", hosts_file="/tmp/h")
    for different in (
        _spec(mounts=(mount,)),
        _spec(devices=("/dev/null",)),
        _spec(accelerator_slots={"cuda.device": Decimal(1)}),
        _spec(startup_command="python job.py"),
        _spec(cluster_hostname="main1"),
        _spec(network=network),
        _spec(environ={"LANG": "de_DE.UTF-8"}),
        _spec(environ={"LC_ALL": "C"}),
        _spec(environ={"MALLOC_ARENA_MAX": "2"}),
        _spec(environ={"GLIBC_TUNABLES": "glibc.malloc.check=3"}),
    ):
        assert not poolable(different), different


class _Kernels:
    """Stand-in kernels: numbers, started on demand; records what the pool stops."""

    def __init__(self) -> None:
        self.started = 0
        self.discarded: list[int] = []
        self.dead: set[int] = set()
        self.fail = False
        self.gate = asyncio.Event()
        self.gate.set()
        self.answer = asyncio.Event()  # the runners answer
        self.answer.set()
        self.mute = False  # a runner that ends without answering

    async def start(self) -> int:
        await self.gate.wait()
        if self.fail:
            raise OSError("no sandbox")
        self.started += 1
        return self.started

    async def ready(self, kernel: int) -> None:
        await self.answer.wait()
        if self.mute:
            raise ConnectionError("the runner did not answer")

    async def discard(self, kernel: int) -> None:
        self.discarded.append(kernel)


def _pool(kernels: _Kernels, size: int = 2) -> KernelPool[int]:
    return KernelPool(
        size,
        start=kernels.start,
        ready=kernels.ready,
        discard=kernels.discard,
        alive=lambda k: k not in kernels.dead,
    )


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the pool's state has no event of its own
            await asyncio.sleep(0)


async def test_no_kernel_is_handed_out_twice_and_the_pool_refills() -> None:
    kernels = _Kernels()
    pool = _pool(kernels)
    pool.fill()
    await _until(lambda: len(pool) == 2)
    taken = [pool.take(), pool.take()]
    assert taken == [1, 2]
    await _until(lambda: len(pool) == 2)
    assert [pool.take(), pool.take()] == [3, 4]
    await pool.close()


async def test_a_kernel_whose_runner_never_answers_is_stopped() -> None:
    kernels = _Kernels()
    kernels.mute = True
    pool = _pool(kernels, size=1)
    pool.fill()
    await _until(lambda: kernels.discarded == [1])
    assert pool.take() is None  # never handed out; the take starts another
    kernels.mute = False
    await _until(lambda: len(pool) == 1)
    assert pool.take() == 2
    await pool.close()


async def test_close_stops_a_kernel_still_waiting_for_its_runner() -> None:
    kernels = _Kernels()
    kernels.answer.clear()  # at the lowest CPU weight its runner may take long to answer
    pool = _pool(kernels, size=1)
    pool.fill()
    await _until(lambda: kernels.started == 1)
    await pool.close()  # does not wait for the answer
    assert kernels.discarded == [1]
    assert pool.take() is None


async def test_a_dead_kernel_is_skipped_and_dropped() -> None:
    kernels = _Kernels()
    pool = _pool(kernels)
    pool.fill()
    await _until(lambda: len(pool) == 2)
    kernels.dead.add(1)
    assert pool.take() == 2
    pool.drop(3)  # not in the pool: nothing happens
    await pool.close()


async def test_a_failing_start_stops_refilling_until_the_next_take() -> None:
    kernels = _Kernels()
    kernels.fail = True
    pool = _pool(kernels)
    pool.fill()
    await _until(lambda: pool._task is not None and pool._wake.is_set() is False)
    assert pool.take() is None
    kernels.fail = False
    await _until(lambda: len(pool) == 2)
    await pool.close()


async def test_close_stops_the_waiting_kernels_and_one_being_started() -> None:
    kernels = _Kernels()
    pool = _pool(kernels)
    pool.fill()
    await _until(lambda: len(pool) == 2)
    kernels.gate.clear()  # the refill's start hangs until close() is under way
    assert pool.take() == 1
    await _until(lambda: pool._starting)
    closing = asyncio.create_task(pool.close())
    await asyncio.sleep(0)
    kernels.gate.set()
    await closing
    assert sorted(kernels.discarded) == [2, 3]  # the taken one is its session's
    assert pool.take() is None


def test_memory_limits_are_written_in_the_order_cgroup_v1_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
        (tmp_path / name).write_text("100")
    written: list[str] = []
    real = Path.write_text

    def record(path: Path, data: str) -> int:
        written.append(path.name)
        return real(path, data)

    monkeypatch.setattr(Path, "write_text", record)
    set_limits(1, [tmp_path], Decimal(0), 200)  # raising: memsw first
    set_limits(1, [tmp_path], Decimal(0), 50)  # lowering: the limit first
    assert written == [
        "memory.memsw.limit_in_bytes",
        "memory.limit_in_bytes",
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
    ]
    assert (tmp_path / "memory.memsw.limit_in_bytes").read_text() == "50"


async def test_the_log_rolls_over_where_its_directory_was_moved(tmp_path: Path) -> None:
    before, after = tmp_path / "pool-1", tmp_path / "k1"
    before.mkdir()
    reader = asyncio.StreamReader()
    copying = asyncio.create_task(copy_log(reader, before / "runner.log", 128 << 10))
    reader.feed_data(b"a" * (40 << 10))
    await asyncio.sleep(0.05)
    before.rename(after)  # a pre-started kernel handed out
    reader.feed_data(b"b" * (40 << 10))  # past half the bound: rolls over
    reader.feed_eof()
    await copying
    assert sorted(p.name for p in after.iterdir()) == ["runner.log", "runner.log.1"]
    assert (after / "runner.log").read_bytes() == b"b" * (40 << 10)
