// @vitest-environment node
import { describe, expect, it } from "vitest";
import { Series, parseTime } from "../src/lib/series";

describe("Series", () => {
  it("averages values that fall into one bucket and starts a new point in the next", () => {
    const s = new Series(60_000, 60); // buckets of 1 s
    s.push(10_000, 1);
    s.push(10_300, 2);
    s.push(10_900, 6);
    expect(s.points).toEqual([{ t: 10_900, y: 3 }]);
    s.push(11_000, 10);
    expect(s.points).toEqual([
      { t: 10_900, y: 3 },
      { t: 11_000, y: 10 },
    ]);
    expect(s.latest()).toBe(10);
  });

  it("averages each bucket on its own, not with the previous one", () => {
    const s = new Series(60_000, 10); // buckets of 6 s
    for (let second = 0; second < 12; second += 1) s.push(second * 1000, second);
    expect(s.points.map((p) => p.y)).toEqual([2.5, 8.5]); // mean of 0..5, mean of 6..11
  });

  it("drops points older than the window", () => {
    const s = new Series(10_000, 10);
    for (let t = 0; t <= 30_000; t += 1000) s.push(t, t / 1000);
    expect(s.points[0]!.t).toBeGreaterThanOrEqual(30_000 - 10_000);
    expect(s.points.at(-1)).toEqual({ t: 30_000, y: 30 });
    // a long gap: only the newest point survives, never an empty series
    s.push(500_000, 7);
    expect(s.points).toEqual([{ t: 500_000, y: 7 }]);
  });

  it("stays bounded by maxPoints + 1 after hours of one-second pushes", () => {
    const s = new Series(); // an hour in default buckets
    const start = Date.UTC(2024, 0, 1);
    let most = 0;
    for (let second = 0; second < 5 * 3600; second += 1) {
      s.push(start + second * 1000, Math.sin(second));
      most = Math.max(most, s.points.length);
    }
    expect(most).toBeLessThanOrEqual(s.maxPoints + 1);
    expect(most).toBeGreaterThan(s.maxPoints / 2); // it does fill up, not trim to nothing
    const span = s.points.at(-1)!.t - s.points[0]!.t;
    expect(span).toBeLessThanOrEqual(s.windowMs);
  });

  it("ignores values out of order and values that are not finite", () => {
    const s = new Series(60_000, 60);
    s.push(5_000, 1);
    s.push(4_000, 100); // older than the last point
    s.push(6_000, Number.NaN);
    s.push(Number.NaN, 3);
    s.push(7_000, Number.POSITIVE_INFINITY);
    expect(s.points).toEqual([{ t: 5_000, y: 1 }]);
  });

  it("clears to empty and refuses a nonsense shape", () => {
    const s = new Series(60_000, 60);
    expect(s.latest()).toBeNull();
    s.push(1, 1);
    s.clear();
    expect(s.points).toEqual([]);
    expect(s.latest()).toBeNull();
    expect(() => new Series(0, 10)).toThrow(RangeError);
    expect(() => new Series(1000, 1)).toThrow(RangeError);
  });
});

describe("parseTime", () => {
  it("reads ISO 8601 text", () => {
    expect(parseTime("2024-03-01T12:00:00Z")).toBe(Date.UTC(2024, 2, 1, 12));
    expect(parseTime("2024-03-01T12:00:00.500+01:00")).toBe(Date.UTC(2024, 2, 1, 11, 0, 0, 500));
  });

  it("reads unix seconds as milliseconds", () => {
    expect(parseTime(1_700_000_000)).toBe(1_700_000_000_000);
    expect(parseTime(1_700_000_000.25)).toBe(1_700_000_000_250);
  });

  it("answers NaN for anything else", () => {
    expect(parseTime("yesterday")).toBeNaN();
    expect(parseTime(null)).toBeNaN();
    expect(parseTime(undefined)).toBeNaN();
  });
});
