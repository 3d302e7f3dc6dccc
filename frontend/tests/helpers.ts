/** Shared fakes for the unit tests (not a test file itself). */
import type { User, UserManager } from "oidc-client-ts";
import { vi } from "vitest";
import type { RuntimeConfig } from "../src/lib/config";
import type { Plant, Profile, ProsumerState } from "../src/lib/types";

export const CONFIG: RuntimeConfig = {
  clientId: "dashboard",
  environment: "test",
  services: {
    auth: "http://auth.test",
    manager: "http://manager.test",
    prosumer: "http://prosumer.test",
    market: "http://market.test",
    simulation: "http://simulation.test",
    weather: "http://weather.test",
  },
};

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** One request as the fake fetch saw it. */
export interface SeenRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

export type Reply = (request: SeenRequest) => Response | Promise<Response>;

/**
 * A fetch that answers from `routes` ("METHOD url" → reply) and records every request.
 * An unknown route answers 599, so a test that forgot one fails loudly.
 */
export function fakeFetch(routes: Record<string, Reply | Response | unknown> = {}) {
  const seen: SeenRequest[] = [];
  const fetcher = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    const method = init.method ?? "GET";
    const headers = { ...(init.headers as Record<string, string> | undefined) };
    const raw = init.body;
    const body = typeof raw === "string" ? JSON.parse(raw) : raw;
    const request = { url, method, headers, body };
    seen.push(request);
    const route = routes[`${method} ${url}`];
    if (route === undefined) return jsonResponse({ error: "test", detail: `no fake route for ${method} ${url}` }, 599);
    if (typeof route === "function") return (route as Reply)(request);
    if (route instanceof Response) return route.clone();
    return jsonResponse(route);
  });
  return { fetcher: fetcher as unknown as typeof fetch & typeof fetcher, seen };
}

export function fakeUser(token = "token-1", extra: Record<string, unknown> = {}): User {
  return { access_token: token, id_token: "id-token", expired: false, ...extra } as unknown as User;
}

export function fakeUserManager(overrides: Record<string, unknown> = {}) {
  const fake = {
    events: { addUserLoaded: vi.fn(), addUserUnloaded: vi.fn(), addSilentRenewError: vi.fn() },
    signinRedirect: vi.fn(async () => undefined),
    signinRedirectCallback: vi.fn(async (): Promise<User> => fakeUser()),
    signinSilent: vi.fn(async (): Promise<User | null> => fakeUser("token-renewed")),
    removeUser: vi.fn(async () => undefined),
    signoutRedirect: vi.fn(async () => undefined),
    ...overrides,
  };
  return { fake, manager: fake as unknown as UserManager };
}

export function profile(extra: Partial<Profile> = {}): Profile {
  return {
    username: "alice",
    clientid: "c1",
    managers: [],
    prosumers: [{ level: 1, id: "h1" }],
    consumers: [],
    last_login: null,
    ...extra,
  };
}

export function member(extra: Partial<ProsumerState> = {}): ProsumerState {
  return {
    id: "h1",
    name: "House 1",
    turbines: [5],
    batteries: [{ capacity: 10, maxOutput: 5, maxCharge: 5, current: 4 }],
    input_ratio: 0.5,
    output_ratio: 0.5,
    status: true,
    lat: null,
    lon: null,
    blocked_until: null,
    wind_speed_ms: 6,
    production_kw: 3,
    load_kw: 2,
    net_kw: 1,
    battery_charge_kw: 0.5,
    battery_discharge_kw: 0,
    sold_kw: 0.5,
    bought_kw: 0,
    curtailed_kw: 0,
    stored_kwh: 4,
    capacity_kwh: 10,
    source: "own",
    blackout: false,
    broken: false,
    price_sek_per_kwh: 1.2,
    ...extra,
  };
}

export function plant(extra: Partial<Plant> = {}): Plant {
  return {
    id: "p1",
    name: "Plant 1",
    current: 100,
    maxProduction: 500,
    status: true,
    state: "running",
    state_seconds: 100,
    ratio: 0.2,
    buffer: { capacity: 100, maxOutput: 50, maxCharge: 50, current: 40 },
    buffer_ratio: 0.1,
    startup_seconds: 30,
    offered_kw: 100,
    accepted_kw: 90,
    buffer_charge_kw: 5,
    buffer_discharge_kw: 10,
    co2_kg_per_h: 50,
    co2_total_kg: 1000,
    marginal_cost_sek_per_kwh: 0.8,
    stale: false,
    ...extra,
  };
}

/** Node's setImmediate (no @types/node here): a real macrotask turn, never faked by the tests' fake timers. */
const nextTurn = (globalThis as unknown as { setImmediate: (callback: () => void) => void }).setImmediate;

/** Lets pending promises, stream reads and fetches settle (real macrotask turns). */
export async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i += 1) await new Promise<void>((resolve) => nextTurn(resolve));
}
