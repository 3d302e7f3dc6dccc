/**
 * A Server-Sent Events stream that sends the bearer token and never gives up.
 *
 * The browser's own EventSource cannot send an Authorization header, so the
 * `eventsource` package reads the stream with fetch. It reconnects by itself
 * after a dropped connection; after a refusal (401 once a token expired, 503
 * while a service restarts) it stops, and this class opens a new one with a
 * fresh token after a growing delay. A stream silent for longer than
 * `staleAfterMs` (a half-open connection) is reopened as well.
 */
import { EventSource } from "eventsource";
import type { TokenSource } from "./api";

export type StreamStatus = "connecting" | "open" | "reconnecting" | "closed";

export interface StreamOptions {
  /** Delay before the first reopening; doubles up to `maxDelayMs`. */
  minDelayMs?: number;
  maxDelayMs?: number;
  staleAfterMs?: number;
  onStatus?: (status: StreamStatus, detail?: string) => void;
  fetcher?: typeof fetch;
}

export type Handlers = Record<string, (data: unknown) => void>;

export class LiveStream {
  private source: EventSource | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private delayMs: number;
  private lastEventAt = 0;
  private stopped = true;
  status: StreamStatus = "closed";

  constructor(
    private readonly url: string,
    private readonly handlers: Handlers,
    private readonly token: TokenSource,
    private readonly options: StreamOptions = {},
  ) {
    this.delayMs = options.minDelayMs ?? 1000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open("connecting");
    const staleAfter = this.options.staleAfterMs ?? 15_000;
    this.watchdog = setInterval(() => {
      if (this.status === "open" && Date.now() - this.lastEventAt > staleAfter) {
        this.reopen("no data for a while");
      }
    }, Math.max(250, staleAfter / 3));
  }

  stop(): void {
    this.stopped = true;
    this.source?.close();
    this.source = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.retryTimer = null;
    this.watchdog = null;
    this.setStatus("closed");
  }

  private open(status: StreamStatus): void {
    this.setStatus(status);
    const fetcher = this.options.fetcher ?? ((...args: Parameters<typeof fetch>) => fetch(...args));
    const source = new EventSource(this.url, {
      fetch: async (input, init) => {
        const token = await this.token();
        const headers: Record<string, string> = { ...init.headers };
        if (token) headers.Authorization = `Bearer ${token}`;
        return fetcher(input, { ...init, headers });
      },
    });
    this.source = source;
    source.onopen = () => {
      if (source !== this.source) return;
      this.lastEventAt = Date.now();
      this.delayMs = this.options.minDelayMs ?? 1000;
      this.setStatus("open");
    };
    source.onerror = (event) => {
      if (source !== this.source) return;
      if (source.readyState === source.CLOSED) {
        const why = event.code ? `HTTP ${event.code}` : (event.message ?? "closed");
        this.reopen(why);
      } else {
        this.setStatus("reconnecting", event.message);
      }
    };
    for (const [name, handler] of Object.entries(this.handlers)) {
      source.addEventListener(name, (event: MessageEvent) => {
        if (source !== this.source) return;
        this.lastEventAt = Date.now();
        if (this.status !== "open") this.setStatus("open");
        let data: unknown;
        try {
          data = JSON.parse(event.data as string);
        } catch {
          return; // a malformed event is skipped, the next one follows within a tick
        }
        handler(data);
      });
    }
  }

  private reopen(detail: string): void {
    this.source?.close();
    this.source = null;
    if (this.stopped) return;
    this.setStatus("reconnecting", detail);
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.options.maxDelayMs ?? 10_000);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.open("reconnecting");
    }, delay);
  }

  private setStatus(status: StreamStatus, detail?: string): void {
    this.status = status;
    this.options.onStatus?.(status, detail);
  }
}
