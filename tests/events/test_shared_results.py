"""SharedResults: one computation per (group, event), shared by the group's subscribers."""

import asyncio

import pytest

from app.events.hub import SharedResults


async def test_one_computation_per_group_and_event():
    shared = SharedResults(keep=2)
    calls: list[tuple[str, int]] = []

    def compute(group: str, event: int):  # type: ignore[no-untyped-def]
        async def run() -> str:
            calls.append((group, event))
            await asyncio.sleep(0)
            return f"{group}:{event}"

        return run

    for group in ("a", "b"):
        shared.join(group)
    first = [shared.get("a", 1, compute("a", 1)) for _ in range(3)]
    other = shared.get("b", 1, compute("b", 1))
    assert await asyncio.gather(*first, other) == ["a:1", "a:1", "a:1", "b:1"]
    assert calls == [("a", 1), ("b", 1)] and shared.computed == 2

    # Only the last `keep` events of a group are kept: an older one is computed again.
    for event in (2, 3):
        await shared.get("a", event, compute("a", event))
    assert await shared.get("a", 1, compute("a", 1)) == "a:1"
    assert calls.count(("a", 1)) == 2

    # The last member leaving drops the group's results.
    shared.leave("a")
    shared.join("a")
    await shared.get("a", 3, compute("a", 3))
    assert calls.count(("a", 3)) == 2


async def test_a_failed_computation_is_tried_again_and_a_cancelled_waiter_cancels_nothing():
    shared = SharedResults()
    shared.join("g")
    attempts = []
    release = asyncio.Event()

    async def failing() -> str:
        attempts.append(1)
        raise RuntimeError("database away")

    with pytest.raises(RuntimeError):
        await shared.get("g", 1, failing)

    async def works() -> str:
        attempts.append(2)
        await release.wait()
        return "ok"

    waiter = asyncio.ensure_future(asyncio.shield(shared.get("g", 1, works)))
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    assert await shared.get("g", 1, works) == "ok"
    assert attempts == [1, 2]
