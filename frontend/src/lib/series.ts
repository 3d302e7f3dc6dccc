/**
 * A chart's points over a sliding time window, never more than `maxPoints`.
 *
 * Points closer together than `window / maxPoints` are averaged into one bucket,
 * so an hour of one-second ticks keeps 600 points, however long the page stays open.
 */
export interface Point {
  t: number; // milliseconds since the epoch
  y: number;
}

export class Series {
  readonly points: Point[] = [];
  private bucketCount = 0;
  readonly bucketMs: number;

  constructor(
    readonly windowMs = 3_600_000,
    readonly maxPoints = 600,
  ) {
    if (!(windowMs > 0) || !(maxPoints >= 2)) throw new RangeError("window and maxPoints must be positive");
    this.bucketMs = windowMs / maxPoints;
  }

  /** Adds a value at time `t`; values out of order or not finite are ignored. */
  push(t: number, y: number): void {
    if (!Number.isFinite(t) || !Number.isFinite(y)) return;
    const last = this.points[this.points.length - 1];
    if (last && t < last.t) return;
    if (last && Math.floor(t / this.bucketMs) === Math.floor(last.t / this.bucketMs)) {
      this.bucketCount += 1;
      last.y += (y - last.y) / this.bucketCount;
      last.t = t;
    } else {
      this.points.push({ t, y });
      this.bucketCount = 1;
    }
    this.trim(t);
  }

  latest(): number | null {
    return this.points[this.points.length - 1]?.y ?? null;
  }

  clear(): void {
    this.points.length = 0;
    this.bucketCount = 0;
  }

  private trim(now: number): void {
    const oldest = now - this.windowMs;
    let drop = 0;
    while (drop < this.points.length - 1 && this.points[drop]!.t < oldest) drop += 1;
    if (this.points.length - drop > this.maxPoints + 1) drop = this.points.length - this.maxPoints - 1;
    if (drop > 0) this.points.splice(0, drop);
  }
}

/** A time from the services: ISO 8601 text, or unix seconds. */
export function parseTime(value: unknown): number {
  if (typeof value === "number") return value * 1000;
  if (typeof value === "string") return Date.parse(value);
  return Number.NaN;
}
