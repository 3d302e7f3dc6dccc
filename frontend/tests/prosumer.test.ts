// @vitest-environment node
import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useProsumer } from "../src/stores/prosumer";
import { useSession } from "../src/stores/session";
import { CONFIG, fakeFetch, fakeUser, fakeUserManager, jsonResponse, member, settle, type Reply } from "./helpers";

const CONTROL = "PUT http://prosumer.test/api/control/h1";
const NOW = Date.UTC(2024, 5, 1, 12);

function setup(routes: Record<string, Reply | Response | unknown> = {}) {
  const session = useSession();
  session.configure(CONFIG, fakeUserManager().manager);
  session.adopt(fakeUser("tok"));
  const { fetcher, seen } = fakeFetch(routes);
  vi.stubGlobal("fetch", fetcher);
  const house = useProsumer();
  return { house, seen };
}

/** The store following h1 with `state`, as after follow() without its stream. */
function following(house: ReturnType<typeof useProsumer>, state = member()) {
  house.id = "h1";
  house.apply(state);
}

describe("prosumer store", () => {
  beforeEach(() => {
    setActivePinia(createPinia());
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(NOW);
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  describe("apply", () => {
    it("sets the state, pushes every chart and bumps the version", () => {
      const { house } = setup();
      const before = house.version;
      house.apply(member({ production_kw: 3, load_kw: 2, stored_kwh: 4, capacity_kwh: 10, price_sek_per_kwh: 1.2 }), NOW);
      expect(house.state?.production_kw).toBe(3);
      expect(house.version).toBe(before + 1);
      expect(house.charts.production.points).toEqual([{ t: NOW, y: 3 }]);
      expect(house.charts.load.latest()).toBe(2);
      expect(house.charts.battery.latest()).toBe(40); // percent full
      expect(house.charts.price.latest()).toBe(1.2);
    });

    it("charts an empty battery for a house without one", () => {
      const { house } = setup();
      house.apply(member({ stored_kwh: 0, capacity_kwh: 0 }), NOW);
      expect(house.charts.battery.latest()).toBe(0);
    });
  });

  describe("control", () => {
    it("shows the new value at once, sends the PUT and keeps the server's answer", async () => {
      let answer!: (response: Response) => void;
      const { house, seen } = setup({
        [CONTROL]: () => new Promise<Response>((resolve) => (answer = resolve)),
      });
      following(house);
      const done = house.control({ input_ratio: 0.8 });
      expect(house.state?.input_ratio).toBe(0.8); // optimistic
      expect(house.saving).toBe(true);
      await vi.waitFor(() => expect(seen).toHaveLength(1));
      expect(seen[0]).toMatchObject({ method: "PUT", body: { input_ratio: 0.8 }, headers: { Authorization: "Bearer tok" } });
      answer(jsonResponse({ input_ratio: 0.75, output_ratio: 0.5, status: true })); // e.g. rounded by the service
      await done;
      expect(house.state?.input_ratio).toBe(0.75);
      expect(house.saving).toBe(false);
      expect(house.error).toBeNull();
    });

    it.each([
      [403, { error: "forbidden", detail: "household h1 is not yours" }, "Household h1 is not yours"],
      [422, { error: "invalid_input", detail: [{ field: "input_ratio", message: "Input should be less than or equal to 1" }] }, "input_ratio: Input should be less than or equal to 1"],
    ])("puts the old value back and shows why on a %i", async (status, body, words) => {
      const { house } = setup({ [CONTROL]: jsonResponse(body, status) });
      following(house, member({ input_ratio: 0.5, output_ratio: 0.3, status: true }));
      await house.control({ input_ratio: 0.9 });
      expect(house.state).toMatchObject({ input_ratio: 0.5, output_ratio: 0.3, status: true });
      expect(house.error).toBe(words);
      expect(house.saving).toBe(false);
      // and a refused change does not hold back the stream
      house.apply(member({ input_ratio: 0.55 }));
      expect(house.state?.input_ratio).toBe(0.55);
    });

    it("keeps a just-set ratio against stream ticks for 3 s, then follows the stream again", async () => {
      const { house } = setup({ [CONTROL]: { input_ratio: 0.9, output_ratio: 0.5, status: true } });
      following(house, member({ input_ratio: 0.5 }));
      await house.control({ input_ratio: 0.9 });
      // ticks computed before the change arrive with the old value
      vi.setSystemTime(NOW + 1000);
      house.apply(member({ input_ratio: 0.5, production_kw: 4 }));
      expect(house.state).toMatchObject({ input_ratio: 0.9, production_kw: 4 });
      vi.setSystemTime(NOW + 2999);
      house.apply(member({ input_ratio: 0.5 }));
      expect(house.state?.input_ratio).toBe(0.9);
      vi.setSystemTime(NOW + 3001);
      house.apply(member({ input_ratio: 0.5 }));
      expect(house.state?.input_ratio).toBe(0.5); // the stream is the truth again
    });

    it("does nothing without a household", async () => {
      const { house, seen } = setup();
      await house.control({ status: false });
      expect(seen).toHaveLength(0);
    });
  });

  describe("follow", () => {
    it("does not carry a change just made on one household over to the next", async () => {
      const { house } = setup({
        [CONTROL]: { input_ratio: 0.9, output_ratio: 0.5, status: true },
        "GET http://prosumer.test/api/members/h2": member({ id: "h2", input_ratio: 0.2 }),
        "GET http://prosumer.test/api/members/h2/picture": jsonResponse({ error: "not_found", detail: "no picture" }, 404),
        "GET http://prosumer.test/api/stream?id=h2": new Response(new ReadableStream(), {
          headers: { "Content-Type": "text/event-stream" },
        }),
      });
      following(house, member({ input_ratio: 0.5 }));
      await house.control({ input_ratio: 0.9 });
      vi.setSystemTime(NOW + 500); // a manager opens the next house at once
      await house.follow("h2");
      expect(house.state).toMatchObject({ id: "h2", input_ratio: 0.2 });
      house.stop();
    });


    /** A reply the test releases when it wants, to order answers that race. */
    function later(body: unknown) {
      let release!: () => void;
      const reply = () => new Promise<Response>((resolve) => (release = () => resolve(jsonResponse(body))));
      return { reply, release: () => release() };
    }

    const STREAM_OPEN = () =>
      new Response(new ReadableStream(), { headers: { "Content-Type": "text/event-stream" } });

    it("opens no stream when stopped (the view left) while the household was loading", async () => {
      const h1 = later(member({ id: "h1" }));
      const { house, seen } = setup({
        "GET http://prosumer.test/api/members/h1": h1.reply,
        "GET http://prosumer.test/api/stream?id=h1": STREAM_OPEN,
      });
      const following = house.follow("h1");
      await settle();
      house.stop();
      h1.release();
      await expect(following).resolves.toBeUndefined(); // no TypeError from a stream that is gone
      await settle();
      expect(seen.map((r) => r.url)).not.toContain("http://prosumer.test/api/stream?id=h1");
      expect(house.status).toBe("closed");
    });

    it("shows the household followed last when an earlier one answers late", async () => {
      const h1 = later(member({ id: "h1", production_kw: 1 }));
      const { house, seen } = setup({
        "GET http://prosumer.test/api/members/h1": h1.reply,
        "GET http://prosumer.test/api/members/h2": member({ id: "h2", production_kw: 2 }),
        "GET http://prosumer.test/api/members/h2/picture": jsonResponse({ error: "not_found", detail: "none" }, 404),
        "GET http://prosumer.test/api/stream?id=h1": STREAM_OPEN,
        "GET http://prosumer.test/api/stream?id=h2": STREAM_OPEN,
      });
      const first = house.follow("h1");
      await settle();
      await house.follow("h2"); // the route changed before h1 answered
      h1.release();
      await first;
      await settle();
      expect(house.id).toBe("h2");
      expect(house.state).toMatchObject({ id: "h2", production_kw: 2 });
      expect(house.charts.production.points.map((p) => p.y)).toEqual([2]);
      expect(seen.filter((r) => r.url.includes("/api/stream")).map((r) => r.url)).toEqual([
        "http://prosumer.test/api/stream?id=h2",
      ]);
      house.stop();
    });

    it("shows why when the household cannot be read, and opens no stream", async () => {
      const { house, seen } = setup({
        "GET http://prosumer.test/api/members/h9": jsonResponse({ error: "not_found", detail: "no member h9" }, 404),
      });
      await house.follow("h9");
      expect(house.id).toBe("h9");
      expect(house.state).toBeNull();
      expect(house.error).toBe("No member h9");
      expect(house.status).toBe("closed");
      expect(seen.map((r) => r.url)).toEqual(["http://prosumer.test/api/members/h9"]);
    });
  });
});
