/** Numbers and times as the dashboard shows them. */

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatNumber(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  const fraction = abs >= 100 ? 0 : abs >= 10 ? 1 : digits;
  return value.toLocaleString(undefined, { minimumFractionDigits: fraction, maximumFractionDigits: fraction });
}

export function formatClock(ms: number): string {
  return Number.isFinite(ms) ? clock.format(new Date(ms)) : "";
}

export function formatDateTime(value: string | null | undefined): string {
  if (!value) return "never";
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? dateTime.format(new Date(ms)) : "never";
}

const SOURCES: Record<string, string> = {
  own: "own production",
  battery: "the battery",
  market: "the market",
  none: "nothing (no supply)",
  mix: "several sources",
};

export function describeSource(source: string): string {
  return SOURCES[source] ?? source;
}
