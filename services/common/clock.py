"""Simulation time: wall time scaled by a speed factor, in a configured timezone.

Services ask a clock for ``now()``; tests hand them a ``FakeClock`` they move by
hand. The speed factor lets a day of grid behaviour pass in minutes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


def later(when: datetime, seconds: float) -> datetime:
    """``when`` plus ``seconds`` of elapsed time, in ``when``'s timezone.

    Python adds a timedelta to an aware datetime on the wall clock, which goes wrong
    across a daylight-saving change; adding in UTC counts the real seconds.
    """
    assert when.tzinfo is not None
    return (when.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(when.tzinfo)


class Clock(Protocol):
    """Anything that tells simulated time."""

    @property
    def tz(self) -> ZoneInfo: ...

    def now(self) -> datetime:
        """The current simulated time, timezone-aware."""
        ...


class SimClock:
    """Simulated time = start + (wall seconds since creation) x speed."""

    def __init__(
        self,
        speed: float = 1.0,
        timezone: str = "Europe/Stockholm",
        start: datetime | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._tz = ZoneInfo(timezone)
        self._start = (start or datetime.now(self._tz)).astimezone(self._tz)
        self._wall_start = time.monotonic()

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    def now(self) -> datetime:
        elapsed_s = (time.monotonic() - self._wall_start) * self.speed
        return later(self._start, elapsed_s)


class FakeClock:
    """A clock that moves only when told to: for tests and the headless runner."""

    def __init__(self, start: datetime, timezone: str = "Europe/Stockholm") -> None:
        self._tz = ZoneInfo(timezone)
        self._now = start.astimezone(self._tz) if start.tzinfo else start.replace(tzinfo=self._tz)

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward by ``seconds`` and return the new time."""
        self._now = later(self._now, seconds)
        return self._now
