"""The one periodic loop a service runs: fixed period, never overlapping.

A service registers one ``TickLoop`` for all of its members. A tick that takes
longer than the period is an overrun: the loop skips the slots it missed
instead of bunching ticks together, counts them and logs it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class TickStats:
    """What a tick loop has done so far; exposed for health pages and benchmarks."""

    ticks: int = 0
    errors: int = 0
    overruns: int = 0
    missed_ticks: int = 0
    last_duration_s: float = 0.0
    max_duration_s: float = 0.0
    recent_durations_s: deque[float] = field(default_factory=lambda: deque(maxlen=3600))
    """Durations of the latest ticks (up to an hour's worth at one a second)."""

    def percentile_s(self, fraction: float, window: int | None = None) -> float:
        """A percentile (nearest rank) of the last ``window`` tick durations, seconds."""
        recent = list(self.recent_durations_s)
        ordered = sorted(recent[-window:] if window else recent)
        if not ordered:
            return 0.0
        rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return ordered[rank]


class TickLoop:
    """Call ``tick`` every ``period_s`` seconds until stopped."""

    def __init__(
        self,
        name: str,
        period_s: float,
        tick: Callable[[], Awaitable[None]],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not period_s > 0:
            raise ValueError("period_s must be positive")
        self.name = name
        self.period_s = period_s
        self._tick = tick
        self._monotonic = monotonic
        self._task: asyncio.Task[None] | None = None
        self.stats = TickStats()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop on the running event loop (once)."""
        if self.running:
            raise RuntimeError(f"tick loop {self.name} already running")
        self._task = asyncio.create_task(self._run(), name=f"tick:{self.name}")

    async def stop(self) -> None:
        """Stop after the current tick, if any, has been cancelled."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    async def run_once(self) -> None:
        """Run one tick now and record its duration; errors are logged, not raised."""
        started = self._monotonic()
        try:
            await self._tick()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.errors += 1
            log.exception("tick loop %s: tick failed", self.name)
        duration = self._monotonic() - started
        self.stats.ticks += 1
        self.stats.last_duration_s = duration
        self.stats.recent_durations_s.append(duration)
        self.stats.max_duration_s = max(self.stats.max_duration_s, duration)

    async def _run(self) -> None:
        deadline = self._monotonic()
        while True:
            await self.run_once()
            deadline += self.period_s
            now = self._monotonic()
            if now > deadline:
                missed = int((now - deadline) // self.period_s) + 1
                deadline += missed * self.period_s
                self.stats.overruns += 1
                self.stats.missed_ticks += missed
                log.warning(
                    "tick loop %s: tick took %.3f s (period %.3f s), skipped %d tick(s)",
                    self.name,
                    self.stats.last_duration_s,
                    self.period_s,
                    missed,
                )
            await asyncio.sleep(max(0.0, deadline - self._monotonic()))
