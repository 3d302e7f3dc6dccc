"""The simulation clock and the one tick loop."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from services.common.clock import FakeClock, SimClock
from services.common.ticker import TickLoop


def test_sim_clock_runs_at_its_speed_in_its_timezone(monkeypatch):
    wall = [1000.0]
    monkeypatch.setattr("services.common.clock.time.monotonic", lambda: wall[0])
    start = datetime(2026, 1, 15, 12, 0)
    clock = SimClock(speed=60.0, start=start.replace(tzinfo=SimClock().tz))
    wall[0] += 10.0
    assert clock.now() - clock.now().replace(hour=12, minute=0) == timedelta(minutes=10)
    assert clock.now().utcoffset() == timedelta(hours=1)  # CET in January


def test_sim_clock_refuses_a_non_positive_speed():
    with pytest.raises(ValueError):
        SimClock(speed=0)


def test_fake_clock_moves_only_when_told():
    clock = FakeClock(datetime(2026, 7, 1, 0, 0))
    first = clock.now()
    assert clock.now() == first
    assert clock.advance(90) - first == timedelta(seconds=90)
    assert clock.now().utcoffset() == timedelta(hours=2)  # CEST in July


async def test_tick_loop_ticks_at_its_period_without_overlap():
    running = 0
    overlapped = False

    async def tick() -> None:
        nonlocal running, overlapped
        running += 1
        overlapped |= running > 1
        await asyncio.sleep(0.002)
        running -= 1

    loop = TickLoop("test", 0.02, tick)
    loop.start()
    await asyncio.sleep(0.25)
    await loop.stop()
    assert 5 <= loop.stats.ticks <= 14
    assert not overlapped
    assert loop.stats.overruns == 0
    assert loop.stats.last_duration_s >= 0.002


async def test_an_overrunning_tick_is_counted_and_skips_the_slots_it_missed():
    async def slow() -> None:
        await asyncio.sleep(0.05)

    loop = TickLoop("slow", 0.02, slow)
    loop.start()
    await asyncio.sleep(0.22)
    await loop.stop()
    assert loop.stats.overruns >= 2
    assert loop.stats.missed_ticks >= 2 * loop.stats.overruns
    assert loop.stats.max_duration_s >= 0.05
    assert loop.stats.ticks <= 6


async def test_a_failing_tick_is_logged_and_the_loop_goes_on(caplog):
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    loop = TickLoop("failing", 0.01, failing)
    loop.start()
    await asyncio.sleep(0.05)
    await loop.stop()
    assert calls >= 2 and loop.stats.errors == calls
    assert "tick failed" in caplog.text
    assert not loop.running


async def test_a_loop_cannot_be_started_twice():
    async def tick() -> None:
        return None

    loop = TickLoop("once", 1.0, tick)
    loop.start()
    with pytest.raises(RuntimeError):
        loop.start()
    await loop.stop()


def test_clocks_count_real_seconds_across_a_daylight_saving_change():
    clock = FakeClock(datetime(2026, 3, 29, 1, 30))
    assert clock.advance(3600).hour == 3  # 02:30 does not exist that night
    assert clock.advance(3600).hour == 4


def test_tick_stats_report_percentiles_of_recent_durations():
    from services.common.ticker import TickStats

    stats = TickStats()
    assert stats.percentile_s(0.99) == 0.0
    stats.recent_durations_s.extend(i / 1000 for i in range(1, 101))
    assert stats.percentile_s(0.50) == 0.050
    assert stats.percentile_s(0.99) == 0.099
