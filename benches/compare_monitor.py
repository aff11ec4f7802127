"""Side by side: how long a pressure check waits while captures are slow or hung.

    .venv/bin/python benches/compare_monitor.py
    .venv/bin/python benches/compare_monitor.py --checks 20 --capture-seconds 0.5

A capture backend whose every capture takes `--capture-seconds` (slow) or never returns until
the end of its round (hung) is kept busy by 3 concurrent requests for its 9 spaces, as the agent
and a prefetch would. Meanwhile a pressure reading is taken `--checks` times, one after the
other, two ways:

- the anchor, "shared pool": the arrangement before the manager had a probe thread of its own,
  rebuilt here: the captures and the reading both go through the loop's default pool
  (`asyncio.to_thread`);
- "manager": today's engine capturing (each backend call in its own bounded thread) and
  `manager.check_pressure()` reading in the manager's own probe thread.

Each row gives the median and the worst wait over the checks, and the ratio of its median to the
same reading on an idle loop. A wait longer than `--give-up` seconds is counted as given up (the
hung round would otherwise never end on the anchor). The reading is a real `read_sample()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from ironcliw_mem import MacOSMemoryManager, MemoryConfig, read_sample
from ironcliw_mem.capture import MultiSpaceCaptureEngine, SpaceCaptureRequest, SyntheticBackend

SPACES = 9
CONCURRENT_REQUESTS = 3
SCREEN = (640, 400)


class SlowScreens(SyntheticBackend):
    """Captures that take `seconds` each, or (`hung`) wait until `release` is set."""

    def __init__(self, seconds: float, hung: bool) -> None:
        super().__init__(spaces=SPACES, size=SCREEN)
        self.seconds = seconds
        self.hung = hung
        self.release = threading.Event()

    def capture(self, space_id: int) -> np.ndarray:  # type: ignore[type-arg]
        if self.hung:
            self.release.wait()
        else:
            self.release.wait(self.seconds)
        return super().capture(space_id)


async def _keep_capturing(engine: MultiSpaceCaptureEngine, stop: asyncio.Event) -> None:
    request = SpaceCaptureRequest(
        space_ids=list(range(1, SPACES + 1)), use_cache=False, parallel=True, max_workers=SPACES
    )
    while not stop.is_set():
        await engine.capture_all_spaces(request)


async def _keep_capturing_in_the_default_pool(backend: SlowScreens, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.gather(*(asyncio.to_thread(backend.capture, s) for s in range(1, SPACES + 1)))


async def _waits(check: Callable[[], Awaitable[Any]], checks: int, give_up: float) -> list[float]:
    waits = []
    for _ in range(checks):
        started = time.perf_counter()
        with contextlib.suppress(TimeoutError):  # counted as `give_up`: it never came in time
            await asyncio.wait_for(check(), give_up)
        waits.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    return waits


async def _round(
    mode: str, way: str, checks: int, capture_seconds: float, give_up: float
) -> list[float]:
    config = MemoryConfig(env={}, capture_timeout_seconds=600)
    manager = MacOSMemoryManager(config, watch_kernel_events=False)
    await manager.check_pressure()  # green (on a calm machine): all spaces are watched

    async def default_pool() -> object:
        return await asyncio.to_thread(read_sample)

    check = manager.check_pressure if way == "manager" else default_pool
    if mode == "idle":
        return await _waits(check, checks, give_up)
    backend = SlowScreens(capture_seconds, hung=mode == "hung")
    engine = MultiSpaceCaptureEngine(memory_manager=manager, backend=backend)
    stop = asyncio.Event()
    load = [
        asyncio.create_task(
            _keep_capturing(engine, stop)
            if way == "manager"
            else _keep_capturing_in_the_default_pool(backend, stop)
        )
        for _ in range(CONCURRENT_REQUESTS)
    ]
    await asyncio.sleep(0.2)  # the captures are under way
    try:
        return await _waits(check, checks, give_up)
    finally:
        stop.set()
        backend.release.set()
        await asyncio.gather(*load)
        await engine.close()


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=10)
    parser.add_argument("--capture-seconds", type=float, default=0.5)
    parser.add_argument("--give-up", type=float, default=3.0)
    args = parser.parse_args(argv)
    rows = []
    for mode in ("idle", "slow", "hung"):
        for way in ("shared pool", "manager"):
            # A fresh loop per round: its default pool starts empty, as in a fresh process.
            waits = asyncio.run(_round(mode, way, args.checks, args.capture_seconds, args.give_up))
            rows.append(
                {
                    "captures": mode,
                    "reading": way,
                    "median_ms": statistics.median(waits) * 1000,
                    "worst_ms": max(waits) * 1000,
                    "given_up": sum(w >= args.give_up for w in waits),
                }
            )
    idle = {row["reading"]: row["median_ms"] for row in rows if row["captures"] == "idle"}
    print(
        f"pressure reading while {CONCURRENT_REQUESTS} requests x {SPACES} spaces capture "
        f"({args.capture_seconds:g} s per slow capture; {args.checks} checks; "
        f"give up after {args.give_up:g} s)"
    )
    print(
        f"{'captures':<9} {'reading':<14} {'median ms':>10} {'worst ms':>10} {'x idle':>8} given up"
    )
    for row in rows:
        ratio = row["median_ms"] / idle[row["reading"]]
        print(
            f"{row['captures']:<9} {row['reading']:<14} {row['median_ms']:>10.1f} "
            f"{row['worst_ms']:>10.1f} {ratio:>8.1f} {row['given_up']}/{args.checks}"
        )
    return rows


if __name__ == "__main__":
    main()
