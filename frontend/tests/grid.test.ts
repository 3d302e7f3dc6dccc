// @vitest-environment node
import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TABLE_EVERY, useGrid } from "../src/stores/grid";
import { useSession } from "../src/stores/session";
import type { GridTotals, OnlineStatus, PriceReport, ProsumerTotals } from "../src/lib/types";
import { CONFIG, fakeFetch, fakeUser, fakeUserManager, jsonResponse, member, plant, settle, type Reply } from "./helpers";

function setup(routes: Record<string, Reply | Response | unknown> = {}) {
  const session = useSession();
  session.configure(CONFIG, fakeUserManager().manager);
  session.adopt(fakeUser("manager-token"));
  const { fetcher, seen } = fakeFetch(routes);
  vi.stubGlobal("fetch", fetcher);
  return { grid: useGrid(), seen };
}

const T0 = "2024-06-01T12:00:00Z";
const T0_MS = Date.UTC(2024, 5, 1, 12);

function totals(extra: Partial<GridTotals> = {}): GridTotals {
  return {
    time: T0,
    totalProduction: 500,
    totalDemand: 450,
    prosumer_production_kw: 120,
    plant_production_kw: 380,
    consumer_demand_kw: 400,
    unserved_kw: 0,
    co2_kg_per_h: 60,
    ...extra,
  };
}

function priceReport(extra: Partial<PriceReport> = {}): PriceReport {
  return {
    price: 1.4,
    modelled_price: 1.1,
    override: null,
    time: T0,
    scarcity: false,
    stale: false,
    stale_cells: [],
    stats: { totalDemand: 450, totalProduction: 500 },
    note: null,
    ...extra,
  };
}

function online(extra: Partial<OnlineStatus> = {}): OnlineStatus {
  return { prosumer_id: "h1", clientid: "c1", username: "alice", online: true, last_login: T0, last_seen: T0, ...extra };
}

describe("grid store", () => {
  beforeEach(() => {
    setActivePinia(createPinia());
  });

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  describe("stream events feed the charts", () => {
    it("onPlants: total output, buffer discharge and CO₂ of all plants", () => {
      const { grid } = setup();
      grid.onPlants({
        time: T0,
        plants: [
          plant({ id: "p1", current: 100, buffer_discharge_kw: 10, co2_kg_per_h: 50 }),
          plant({ id: "p2", current: 40, buffer_discharge_kw: 5, co2_kg_per_h: 20 }),
        ],
      });
      expect(grid.plants.map((p) => p.id)).toEqual(["p1", "p2"]);
      expect(grid.charts.plantProduction.points).toEqual([{ t: T0_MS, y: 140 }]);
      expect(grid.charts.bufferDischarge.latest()).toBe(15);
      expect(grid.charts.co2.latest()).toBe(70);
      expect(grid.version).toBe(1);
    });

    it("onTotals: prosumer production and demand, at the event's time (ISO or unix s)", () => {
      const { grid } = setup();
      grid.onTotals(totals());
      grid.onTotals(totals({ time: T0_MS / 1000 + 60, totalDemand: 470, prosumer_production_kw: 130 }));
      expect(grid.totals?.totalDemand).toBe(470);
      expect(grid.charts.demand.points).toEqual([
        { t: T0_MS, y: 450 },
        { t: T0_MS + 60_000, y: 470 },
      ]);
      expect(grid.charts.prosumerProduction.latest()).toBe(130);
      expect(grid.version).toBe(2);
    });

    it("onPrice: the price in force and the modelled one", () => {
      const { grid } = setup();
      grid.onPrice(priceReport({ price: 2, modelled_price: 1.5, override: 2 }));
      expect(grid.price?.override).toBe(2);
      expect(grid.charts.price.latest()).toBe(2);
      expect(grid.charts.modelledPrice.latest()).toBe(1.5);
      expect(grid.version).toBe(1);
    });

    it("reads the member table again every few prosumer ticks, not every tick", async () => {
      const { grid, seen } = setup({
        "GET http://prosumer.test/api/members": [member()],
        "GET http://simulation.test/api/members/consumers": [],
      });
      const tick: ProsumerTotals = { time: T0, members: 1, production_kw: 3, load_kw: 2, sold_kw: 1, bought_kw: 0, blackouts: 0, blocked: 0 };
      for (let i = 1; i < TABLE_EVERY; i += 1) grid.onProsumerTotals(tick);
      await settle();
      expect(seen).toHaveLength(0);
      grid.onProsumerTotals(tick);
      await settle();
      expect(seen.map((r) => r.url).sort()).toEqual(["http://prosumer.test/api/members", "http://simulation.test/api/members/consumers"]);
      expect(grid.members.map((m) => m.id)).toEqual(["h1"]);
      expect(grid.prosumerTotals).toEqual(tick);
    });
  });

  describe("start and stop", () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ["Date"] }); // the history's from= is the clock's
      vi.setSystemTime(T0_MS);
    });

    afterEach(() => {
      vi.useRealTimers();
    });

    function deferredHistory() {
      const waiting: (() => void)[] = [];
      const reply = (body: unknown) => () =>
        new Promise<Response>((resolve) => waiting.push(() => resolve(jsonResponse(body))));
      const sse = () => new Response(new ReadableStream(), { headers: { "Content-Type": "text/event-stream" } });
      const routes: Record<string, Reply> = {
        "GET http://prosumer.test/api/members": () => jsonResponse([member()]),
        "GET http://auth.test/api/prosumers/status": () => jsonResponse([online()]),
        "GET http://simulation.test/api/members/consumers": () => jsonResponse([]),
        "GET http://manager.test/api/stream": sse,
        "GET http://simulation.test/api/stream": sse,
        "GET http://market.test/api/stream": sse,
        "GET http://prosumer.test/api/stream": sse,
      };
      return { routes, reply, release: () => waiting.splice(0).forEach((go) => go()) };
    }

    function withHistory(history: ReturnType<typeof deferredHistory>) {
      const { routes, reply } = history;
      return {
        ...routes,
        [`GET http://simulation.test/api/history?from=${Math.floor(Date.now() / 1000) - 3600}&step=10`]: reply({
          points: [{ ...totals(), plant_production_kw: 380 }],
        }),
        [`GET http://market.test/api/history?from=${Math.floor(Date.now() / 1000) - 3600}&step=10`]: reply({
          points: [{ time: T0, price: 1.4, modelled_price: 1.1 }],
        }),
      };
    }

    const streamsOpened = (seen: { url: string }[]) => seen.filter((r) => r.url.endsWith("/api/stream")).map((r) => r.url);

    it("loads the last hour, then opens the four streams", async () => {
      const history = deferredHistory();
      const { grid, seen } = setup(withHistory(history));
      grid.start();
      await settle();
      expect(streamsOpened(seen)).toEqual([]);
      history.release();
      await settle();
      expect(streamsOpened(seen).sort()).toEqual([
        "http://manager.test/api/stream",
        "http://market.test/api/stream",
        "http://prosumer.test/api/stream",
        "http://simulation.test/api/stream",
      ]);
      expect(grid.charts.demand.latest()).toBe(450);
      expect(grid.charts.price.latest()).toBe(1.4);
      expect(grid.members).toHaveLength(1);
      grid.stop();
    });

    it("opens no streams when stopped (the view left) before the last hour loaded", async () => {
      const history = deferredHistory();
      const { grid, seen } = setup(withHistory(history));
      grid.start();
      await settle();
      grid.stop();
      history.release();
      await settle();
      expect(streamsOpened(seen)).toEqual([]);
      expect(Object.values(grid.statuses)).toEqual(["closed", "closed", "closed", "closed"]);
      grid.stop();
    });

    it("opens one set of streams when left and opened again while loading", async () => {
      const history = deferredHistory();
      const { grid, seen } = setup(withHistory(history));
      grid.start();
      await settle();
      grid.stop();
      grid.start();
      await settle();
      history.release();
      await settle();
      expect(streamsOpened(seen)).toHaveLength(4);
      grid.stop();
      await settle();
      expect(Object.values(grid.statuses)).toEqual(["closed", "closed", "closed", "closed"]);
    });
  });

  it("rows join each member with who is online", () => {
    const { grid } = setup();
    grid.members = [member({ id: "h1" }), member({ id: "h2" }), member({ id: "h3" })];
    grid.online = [online({ prosumer_id: "h1", username: "alice", online: true }), online({ prosumer_id: "h2", username: "bob", online: false, last_login: null })];
    expect(grid.rows.map((r) => [r.id, r.username, r.online, r.last_login])).toEqual([
      ["h1", "alice", true, T0],
      ["h2", "bob", false, null],
      ["h3", null, false, null],
    ]);
    expect(grid.rows[0]!.production_kw).toBe(3); // the member's own fields stay
  });

  it("controlPlant PUTs the change and shows what the plant took", async () => {
    const { grid, seen } = setup({ "PUT http://manager.test/api/control/p1": { ratio: 0.2, status: false, buffer_ratio: 0.1 } });
    grid.plants = [plant({ id: "p1", status: true }), plant({ id: "p2", status: true })];
    await grid.controlPlant("p1", { status: false });
    expect(seen[0]).toMatchObject({ method: "PUT", body: { status: false }, headers: { Authorization: "Bearer manager-token" } });
    expect(grid.plants.map((p) => p.status)).toEqual([false, true]);
    expect(grid.error).toBeNull();
  });

  it("controlPlant shows a refusal and changes nothing", async () => {
    const { grid } = setup({
      "PUT http://manager.test/api/control/p1": jsonResponse({ error: "forbidden", detail: "not your plant" }, 403),
    });
    grid.plants = [plant({ id: "p1", status: true })];
    await grid.controlPlant("p1", { status: false });
    expect(grid.plants[0]!.status).toBe(true);
    expect(grid.error).toBe("The plant did not take the change: Not your plant");
  });

  it("controlPlant shows the new value at once and puts it back on refusal", async () => {
    let answer: (response: Response) => void = () => {};
    const pending = new Promise<Response>((resolve) => (answer = resolve));
    const { grid } = setup({ "PUT http://manager.test/api/control/p1": () => pending });
    grid.plants = [plant({ id: "p1", ratio: 0.5 })];
    const changing = grid.controlPlant("p1", { ratio: 0.9 });
    await Promise.resolve();
    expect(grid.plants[0]!.ratio).toBe(0.9);
    answer(jsonResponse({ error: "invalid_input", detail: "no" }, 422));
    await changing;
    expect(grid.plants[0]!.ratio).toBe(0.5);
  });

  describe("setOverride", () => {
    it("PUTs {price} to set one", async () => {
      const { grid, seen } = setup({ "PUT http://market.test/api/price/override": { price: 1.5 } });
      grid.onPrice(priceReport());
      await grid.setOverride(1.5);
      expect(seen[0]).toMatchObject({ method: "PUT", body: { price: 1.5 } });
      expect(grid.price?.override).toBe(1.5);
    });

    it("DELETEs to clear it", async () => {
      const { grid, seen } = setup({ "DELETE http://market.test/api/price/override": { price: null } });
      grid.onPrice(priceReport({ override: 2 }));
      await grid.setOverride(null);
      expect(seen[0]).toMatchObject({ method: "DELETE", url: "http://market.test/api/price/override" });
      expect(seen[0]!.body).toBeUndefined();
      expect(grid.price?.override).toBeNull();
    });

    it("shows why a price was refused", async () => {
      const { grid } = setup({
        "PUT http://market.test/api/price/override": jsonResponse(
          { error: "invalid_input", detail: [{ field: "price", message: "Input should be less than or equal to 10" }] },
          422,
        ),
      });
      await grid.setOverride(99);
      expect(grid.error).toBe("The price was not set: price: Input should be less than or equal to 10");
    });
  });

  it("block POSTs {seconds}, says so and reads the members again", async () => {
    const { grid, seen } = setup({
      "POST http://prosumer.test/api/members/h1/block": member({ blocked_until: T0 }),
      "GET http://prosumer.test/api/members": [member({ blocked_until: T0 })],
    });
    await grid.block("h1", 30);
    expect(seen[0]).toMatchObject({ method: "POST", body: { seconds: 30 } });
    expect(seen[1]).toMatchObject({ method: "GET", url: "http://prosumer.test/api/members" });
    expect(grid.notice).toBe("h1 may not sell for 30 s.");
    expect(grid.members[0]!.blocked_until).toBe(T0);
  });

  describe("remove", () => {
    it("drops the row when the service deleted it", async () => {
      const { grid, seen } = setup({ "DELETE http://prosumer.test/api/members/h1": member() });
      grid.members = [member({ id: "h1" }), member({ id: "h2" })];
      await grid.remove("h1");
      expect(seen[0]!.method).toBe("DELETE");
      expect(grid.rows.map((r) => r.id)).toEqual(["h2"]);
      expect(grid.notice).toBe("h1 was deleted.");
      expect(grid.error).toBeNull();
    });

    it("keeps the row and says why when it was not deleted", async () => {
      const { grid } = setup({
        "DELETE http://prosumer.test/api/members/h1": jsonResponse({ error: "not_found", detail: "no member h1" }, 404),
      });
      grid.members = [member({ id: "h1" }), member({ id: "h2" })];
      await grid.remove("h1");
      expect(grid.rows.map((r) => r.id)).toEqual(["h1", "h2"]);
      expect(grid.error).toBe("h1 was not deleted: No member h1");
      expect(grid.notice).toBeNull();
    });
  });
});
