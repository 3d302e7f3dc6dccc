// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LiveStream, type StreamStatus } from "../src/lib/stream";
import { jsonResponse, settle } from "./helpers";

/** A real Response whose body is a ReadableStream of SSE text the test writes as it goes. */
function sseServer() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  const encoder = new TextEncoder();
  return {
    response: new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } }),
    send(text: string) {
      controller.enqueue(encoder.encode(text));
    },
    event(name: string, data: unknown) {
      this.send(`event: ${name}\ndata: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
    },
    end() {
      controller.close();
    },
  };
}

type Answer = Response | (() => Response);

/** A fetcher that answers each connection with the next answer and records its headers. */
function connections(...answers: Answer[]) {
  const headers: Record<string, string>[] = [];
  const fetcher = vi.fn(async (_input: RequestInfo | URL, init: RequestInit = {}) => {
    headers.push({ ...(init.headers as Record<string, string>) });
    const answer = answers.shift();
    if (!answer) throw new TypeError("no more answers in this test");
    return typeof answer === "function" ? answer() : answer;
  });
  return { fetcher: fetcher as unknown as typeof fetch & typeof fetcher, headers };
}

function tokens(...values: string[]) {
  let n = 0;
  return vi.fn(async () => values[Math.min(n++, values.length - 1)] ?? null);
}

const URL_ = "http://prosumer.test/api/stream?id=h1";

describe("LiveStream", () => {
  let streams: LiveStream[] = [];
  let statuses: [StreamStatus, string | undefined][] = [];
  const onStatus = (status: StreamStatus, detail?: string) => statuses.push([status, detail]);

  function make(fetcher: typeof fetch, token: () => Promise<string | null>, handlers = {}, extra = {}) {
    const stream = new LiveStream(URL_, handlers, token, { fetcher, onStatus, minDelayMs: 1000, maxDelayMs: 4000, ...extra });
    streams.push(stream);
    return stream;
  }

  beforeEach(() => {
    // Timers and the clock are fake; promises and stream reads run for real (settle() lets them).
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    streams = [];
    statuses = [];
  });

  afterEach(() => {
    for (const stream of streams) stream.stop();
    vi.useRealTimers();
  });

  it("hands each named event's parsed JSON to its handler and skips a malformed one", async () => {
    const server = sseServer();
    const { fetcher } = connections(server.response);
    const got: unknown[] = [];
    const other = vi.fn();
    make(fetcher, tokens("tok"), { prosumers: (data: unknown) => got.push(data), price: other }).start();
    server.event("prosumers", { id: "h1", production_kw: 2.5 });
    server.send("event: prosumers\ndata: {not json\n\n");
    server.event("prosumers", { id: "h1", production_kw: 3 });
    server.event("unrelated", { x: 1 });
    await settle();
    expect(got).toEqual([
      { id: "h1", production_kw: 2.5 },
      { id: "h1", production_kw: 3 },
    ]);
    expect(other).not.toHaveBeenCalled();
  });

  it("reports connecting, then open, then closed on stop", async () => {
    const server = sseServer();
    const stream = make(connections(server.response).fetcher, tokens("tok"), { prosumers: () => {} });
    stream.start();
    expect(stream.status).toBe("connecting");
    await settle();
    expect(stream.status).toBe("open");
    stream.stop();
    expect(statuses.map(([s]) => s)).toEqual(["connecting", "open", "closed"]);
  });

  it("sends the current token and Accept header on each connection", async () => {
    const server = sseServer();
    const { fetcher, headers } = connections(server.response);
    const token = tokens("tok-1");
    make(fetcher, token).start();
    await settle();
    expect(token).toHaveBeenCalledTimes(1);
    expect(headers[0]).toMatchObject({ Authorization: "Bearer tok-1", Accept: "text/event-stream" });
  });

  it("reopens after a 401 with a fresh token once the delay has passed", async () => {
    const server = sseServer();
    const { fetcher, headers } = connections(jsonResponse({ error: "unauthorized", detail: "token expired" }, 401), server.response);
    const token = tokens("old-token", "new-token");
    const got: unknown[] = [];
    make(fetcher, token, { prosumers: (data: unknown) => got.push(data) }).start();
    await settle();
    expect(fetcher).toHaveBeenCalledTimes(1);
    expect(statuses.at(-1)).toEqual(["reconnecting", "HTTP 401"]);

    await vi.advanceTimersByTimeAsync(999);
    expect(fetcher).toHaveBeenCalledTimes(1); // not before the delay
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(fetcher).toHaveBeenCalledTimes(2);
    expect(token).toHaveBeenCalledTimes(2); // asked again for the new connection
    expect(headers.map((h) => h.Authorization)).toEqual(["Bearer old-token", "Bearer new-token"]);
    expect(statuses.at(-1)?.[0]).toBe("open");

    server.event("prosumers", { ok: true });
    await settle();
    expect(got).toEqual([{ ok: true }]);
  });

  it("backs off on repeated 503s, doubling up to the maximum, and resets once open", async () => {
    const busy = () => jsonResponse({ error: "unavailable", detail: "starting" }, 503);
    const server = sseServer();
    const { fetcher } = connections(busy, busy, busy, busy, server.response);
    make(fetcher, tokens("tok")).start();
    await settle();
    const expectCallsAfter = async (ms: number, calls: number) => {
      await vi.advanceTimersByTimeAsync(ms - 1);
      await settle();
      expect(fetcher).toHaveBeenCalledTimes(calls - 1);
      await vi.advanceTimersByTimeAsync(1);
      await settle();
      expect(fetcher).toHaveBeenCalledTimes(calls);
    };
    await expectCallsAfter(1000, 2);
    await expectCallsAfter(2000, 3);
    await expectCallsAfter(4000, 4);
    await expectCallsAfter(4000, 5); // capped at maxDelayMs
    expect(statuses.at(-1)?.[0]).toBe("open");
    expect(statuses.filter(([, detail]) => detail === "HTTP 503")).toHaveLength(4);
  });

  it("stops reconnecting after stop()", async () => {
    const { fetcher } = connections(jsonResponse({}, 503), sseServer().response);
    const stream = make(fetcher, tokens("tok"));
    stream.start();
    await settle();
    expect(stream.status).toBe("reconnecting");
    stream.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    await settle();
    expect(fetcher).toHaveBeenCalledTimes(1);
    expect(stream.status).toBe("closed");
    expect(statuses.at(-1)?.[0]).toBe("closed");
  });

  it("delivers nothing more once stopped", async () => {
    const server = sseServer();
    const got: unknown[] = [];
    const stream = make(connections(server.response).fetcher, tokens("tok"), { prosumers: (d: unknown) => got.push(d) });
    stream.start();
    server.event("prosumers", 1);
    await settle();
    stream.stop();
    server.event("prosumers", 2); // the old connection's reader may still read it; the handler must not get it
    await settle();
    expect(got).toEqual([1]);
  });

  it("reopens a stream that has gone silent", async () => {
    const first = sseServer();
    const second = sseServer();
    const { fetcher } = connections(first.response, second.response);
    make(fetcher, tokens("tok"), { prosumers: () => {} }, { staleAfterMs: 3000 }).start();
    await settle();
    expect(fetcher).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(4000); // watchdog notices, then the reopening delay
    await settle();
    expect(statuses.some(([s, d]) => s === "reconnecting" && d === "no data for a while")).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(fetcher).toHaveBeenCalledTimes(2);
  });

  it("keeps a stream that sends events open", async () => {
    const server = sseServer();
    const { fetcher } = connections(server.response);
    make(fetcher, tokens("tok"), { prosumers: () => {} }, { staleAfterMs: 3000 }).start();
    await settle();
    for (let i = 0; i < 10; i += 1) {
      server.event("prosumers", i);
      await settle();
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(fetcher).toHaveBeenCalledTimes(1);
    expect(statuses.map(([s]) => s)).not.toContain("reconnecting");
  });
});
