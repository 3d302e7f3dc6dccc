/**
 * The manager's view of the grid: plants, totals, price, prosumers and clusters.
 *
 * Plants, grid totals, prices and prosumer totals arrive every tick on four
 * streams. The prosumer table and the clusters are lists that can hold
 * thousands of rows; they are read again every `TABLE_EVERY` ticks of the
 * prosumer stream rather than sent whole every second.
 */
import { defineStore } from "pinia";
import { computed, markRaw, ref, shallowRef } from "vue";
import { messageOf } from "../lib/errors";
import { Series, parseTime } from "../lib/series";
import { LiveStream, type StreamStatus } from "../lib/stream";
import type {
  Cluster,
  GridTotals,
  OnlineStatus,
  Plant,
  PlantsEvent,
  PriceReport,
  ProsumerState,
  ProsumerTotals,
} from "../lib/types";
import { useSession } from "./session";

export const TABLE_EVERY = 5;
export const STATUS_EVERY = 30;

export interface GridCharts {
  plantProduction: Series;
  bufferDischarge: Series;
  prosumerProduction: Series;
  demand: Series;
  price: Series;
  modelledPrice: Series;
  co2: Series;
}

export interface ProsumerRow extends ProsumerState {
  username: string | null;
  online: boolean;
  last_login: string | null;
}

export interface PlantChange {
  ratio?: number;
  status?: boolean;
  buffer_ratio?: number;
}

function newCharts(): GridCharts {
  return markRaw({
    plantProduction: new Series(),
    bufferDischarge: new Series(),
    prosumerProduction: new Series(),
    demand: new Series(),
    price: new Series(),
    modelledPrice: new Series(),
    co2: new Series(),
  });
}

type StreamName = "manager" | "simulation" | "market" | "prosumer";

export const useGrid = defineStore("grid", () => {
  const plants = ref<Plant[]>([]);
  const totals = ref<GridTotals | null>(null);
  const price = ref<PriceReport | null>(null);
  const prosumerTotals = ref<ProsumerTotals | null>(null);
  const members = ref<ProsumerState[]>([]);
  const online = ref<OnlineStatus[]>([]);
  const clusters = ref<Cluster[]>([]);
  const charts = shallowRef<GridCharts>(newCharts());
  const version = ref(0);
  const error = ref<string | null>(null);
  const notice = ref<string | null>(null);
  const statuses = ref<Record<StreamName, StreamStatus>>({
    manager: "closed",
    simulation: "closed",
    market: "closed",
    prosumer: "closed",
  });
  let streams: LiveStream[] = [];
  /** The start() now in force, null once stopped: history that answers after a stop opens no streams. */
  let running: object | null = null;
  let ticks = 0;

  const rows = computed<ProsumerRow[]>(() => {
    const byHouse = new Map(online.value.map((entry) => [entry.prosumer_id, entry]));
    return members.value.map((member) => {
      const status = byHouse.get(member.id);
      return {
        ...member,
        username: status?.username ?? null,
        online: status?.online ?? false,
        last_login: status?.last_login ?? null,
      };
    });
  });

  function onPlants(event: PlantsEvent): void {
    plants.value = event.plants;
    const t = parseTime(event.time);
    charts.value.plantProduction.push(
      t,
      event.plants.reduce((sum, plant) => sum + plant.current, 0),
    );
    charts.value.bufferDischarge.push(
      t,
      event.plants.reduce((sum, plant) => sum + plant.buffer_discharge_kw, 0),
    );
    charts.value.co2.push(
      t,
      event.plants.reduce((sum, plant) => sum + plant.co2_kg_per_h, 0),
    );
    version.value += 1;
  }

  function onTotals(event: GridTotals): void {
    totals.value = event;
    const t = parseTime(event.time);
    charts.value.prosumerProduction.push(t, event.prosumer_production_kw);
    charts.value.demand.push(t, event.totalDemand);
    version.value += 1;
  }

  function onPrice(event: PriceReport): void {
    price.value = event;
    const t = parseTime(event.time);
    charts.value.price.push(t, event.price);
    charts.value.modelledPrice.push(t, event.modelled_price);
    version.value += 1;
  }

  function onProsumerTotals(event: ProsumerTotals): void {
    prosumerTotals.value = event;
    ticks += 1;
    if (ticks % TABLE_EVERY === 0) {
      void refreshMembers();
      void refreshClusters();
    }
    if (ticks % STATUS_EVERY === 0) void refreshOnline();
  }

  /** The last hour from the services' histories, so the charts are full from the start. */
  async function loadHistory(): Promise<void> {
    const api = useSession().client();
    const from = Math.floor(Date.now() / 1000) - 3600;
    const c = charts.value;
    try {
      const [grid, market] = await Promise.all([
        api.json<{ points: (GridTotals & { plant_production_kw: number })[] }>(
          "simulation",
          `/api/history?from=${from}&step=10`,
        ),
        api.json<{ points: { time: string; price: number; modelled_price: number }[] }>(
          "market",
          `/api/history?from=${from}&step=10`,
        ),
      ]);
      for (const point of grid.points) {
        const t = parseTime(point.time);
        c.plantProduction.push(t, point.plant_production_kw);
        c.prosumerProduction.push(t, point.prosumer_production_kw);
        c.demand.push(t, point.totalDemand);
        c.co2.push(t, point.co2_kg_per_h);
      }
      for (const point of market.points) {
        const t = parseTime(point.time);
        c.price.push(t, point.price);
        c.modelledPrice.push(t, point.modelled_price);
      }
      version.value += 1;
    } catch (exc) {
      notice.value = `The last hour could not be loaded: ${messageOf(exc)}`;
    }
  }

  function start(): void {
    if (running) return;
    const run = {};
    running = run;
    const session = useSession();
    const api = session.client();
    const make = (name: StreamName, path: string, event: string, handler: (data: never) => void) =>
      markRaw(
        new LiveStream(api.url(name, path), { [event]: handler as (data: unknown) => void }, session.accessToken, {
          onStatus: (value) => (statuses.value = { ...statuses.value, [name]: value }),
        }),
      );
    charts.value = newCharts();
    void loadHistory().then(() => {
      if (running !== run) return;
      streams = [
        make("manager", "/api/stream", "plants", onPlants),
        make("simulation", "/api/stream", "totals", onTotals),
        make("market", "/api/stream", "price", onPrice),
        make("prosumer", "/api/stream", "prosumers", onProsumerTotals),
      ];
      for (const stream of streams) stream.start();
    });
    void refreshMembers();
    void refreshOnline();
    void refreshClusters();
  }

  function stop(): void {
    running = null;
    for (const stream of streams) stream.stop();
    streams = [];
  }

  async function act<T>(what: string, action: () => Promise<T>): Promise<T | undefined> {
    try {
      const result = await action();
      error.value = null;
      return result;
    } catch (exc) {
      error.value = `${what}: ${messageOf(exc)}`;
      return undefined;
    }
  }

  async function refreshMembers(): Promise<void> {
    const list = await act("The prosumers could not be read", () =>
      useSession().client().json<ProsumerState[]>("prosumer", "/api/members"),
    );
    if (list) members.value = list;
  }

  async function refreshOnline(): Promise<void> {
    const list = await act("Who is online could not be read", () =>
      useSession().client().json<OnlineStatus[]>("auth", "/api/prosumers/status"),
    );
    if (list) online.value = list;
  }

  async function refreshClusters(): Promise<void> {
    const list = await act("The clusters could not be read", () =>
      useSession().client().json<Cluster[]>("simulation", "/api/members/consumers"),
    );
    if (list) clusters.value = list;
  }

  /** Change a plant's controls at once; on refusal the sliders go back to the plant's values. */
  async function controlPlant(plantId: string, change: PlantChange): Promise<void> {
    const before = plants.value.find((plant) => plant.id === plantId);
    const patch = (values: Partial<Plant>) => {
      plants.value = plants.value.map((plant) => (plant.id === plantId ? { ...plant, ...values } : plant));
    };
    patch(change);
    const applied = await act("The plant did not take the change", () =>
      useSession()
        .client()
        .json<PlantChange>("manager", `/api/control/${encodeURIComponent(plantId)}`, { method: "PUT", json: change }),
    );
    if (applied) patch(applied);
    else if (before) patch({ ratio: before.ratio, status: before.status, buffer_ratio: before.buffer_ratio });
  }

  async function setOverride(value: number | null): Promise<void> {
    const api = useSession().client();
    const result = await act(value === null ? "The override was not cleared" : "The price was not set", () =>
      value === null
        ? api.json<{ price: number | null }>("market", "/api/price/override", { method: "DELETE" })
        : api.json<{ price: number | null }>("market", "/api/price/override", { method: "PUT", json: { price: value } }),
    );
    if (result && price.value) price.value = { ...price.value, override: result.price };
  }

  async function block(memberId: string, seconds: number): Promise<void> {
    const result = await act(`${memberId} was not blocked`, () =>
      useSession()
        .client()
        .json<ProsumerState>("prosumer", `/api/members/${encodeURIComponent(memberId)}/block`, {
          method: "POST",
          json: { seconds },
        }),
    );
    if (result) {
      notice.value = `${memberId} may not sell for ${seconds} s.`;
      await refreshMembers();
    }
  }

  async function remove(memberId: string): Promise<void> {
    const result = await act(`${memberId} was not deleted`, () =>
      useSession().client().json("prosumer", `/api/members/${encodeURIComponent(memberId)}`, { method: "DELETE" }),
    );
    if (result !== undefined) {
      members.value = members.value.filter((member) => member.id !== memberId);
      notice.value = `${memberId} was deleted.`;
    }
  }

  return {
    plants,
    totals,
    price,
    prosumerTotals,
    members,
    online,
    clusters,
    rows,
    charts,
    version,
    error,
    notice,
    statuses,
    onPlants,
    onTotals,
    onPrice,
    onProsumerTotals,
    start,
    stop,
    refreshMembers,
    refreshOnline,
    refreshClusters,
    controlPlant,
    setOverride,
    block,
    remove,
  };
});
