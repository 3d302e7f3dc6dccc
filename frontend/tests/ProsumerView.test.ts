import { mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import ProsumerView from "../src/views/ProsumerView.vue";
import { useProsumer } from "../src/stores/prosumer";
import type { ProsumerState } from "../src/lib/types";
import { member } from "./helpers";

const NOW = Date.UTC(2024, 5, 1, 12);

/** The view over a store whose state is set by the test; follow/stop/control are stubs (no network). */
function mountView(state: ProsumerState | null = member()) {
  const pinia = createPinia();
  setActivePinia(pinia);
  const house = useProsumer();
  const follow = vi.spyOn(house, "follow").mockResolvedValue();
  const stop = vi.spyOn(house, "stop").mockReturnValue();
  const control = vi.spyOn(house, "control").mockResolvedValue();
  house.id = state?.id ?? "h1";
  house.state = state;
  house.status = "open";
  const wrapper = mount(ProsumerView, {
    props: { id: "h1" },
    global: { plugins: [pinia], stubs: { LineChart: true } },
  });
  return { wrapper, house, follow, stop, control };
}

describe("ProsumerView", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(NOW);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("follows its household and stops when it goes away", () => {
    const { wrapper, follow, stop } = mountView();
    expect(follow).toHaveBeenCalledWith("h1");
    wrapper.unmount();
    expect(stop).toHaveBeenCalled();
  });

  it("shows the household's figures", () => {
    const { wrapper } = mountView(member({ production_kw: 3, load_kw: 2, net_kw: 1, sold_kw: 1, source: "own" }));
    expect(wrapper.get("h1").text()).toBe("h1");
    expect(wrapper.get("[data-testid=production]").text()).toContain("3.00 kW");
    expect(wrapper.get("[data-testid=net]").text()).toContain("selling 1.00 kW");
    expect(wrapper.get("[data-testid=source]").text()).toContain("own production");
    expect(wrapper.get("[role=meter]").attributes("aria-valuenow")).toBe("40");
    expect(wrapper.get(".live").attributes("data-status")).toBe("open");
  });

  it("says loading until the state is there", () => {
    const { wrapper } = mountView(null);
    expect(wrapper.text()).toContain("Loading…");
    expect(wrapper.find("input[type=range]").exists()).toBe(false);
  });

  it("warns of a blackout only during one", () => {
    expect(mountView(member({ blackout: false })).wrapper.find("[data-testid=blackout]").exists()).toBe(false);
    const warning = mountView(member({ blackout: true })).wrapper.get("[data-testid=blackout]");
    expect(warning.attributes("role")).toBe("alert");
    expect(warning.text()).toMatch(/Blackout/);
  });

  it("tells how many seconds sales stay blocked", () => {
    const blocked = mountView(member({ blocked_until: new Date(NOW + 42_000).toISOString() })).wrapper;
    expect(blocked.get("[data-testid=blocked]").text()).toContain("for 42 s more");
    const over = mountView(member({ blocked_until: new Date(NOW - 1000).toISOString() })).wrapper;
    expect(over.find("[data-testid=blocked]").exists()).toBe(false);
  });

  it("counts the block down as ticks arrive", async () => {
    const { wrapper, house } = mountView(member({ blocked_until: new Date(NOW + 30_000).toISOString() }));
    vi.setSystemTime(NOW + 10_500);
    house.version += 1; // a tick
    await wrapper.vm.$nextTick();
    expect(wrapper.get("[data-testid=blocked]").text()).toContain("for 20 s more");
  });

  it("sends the surplus ratio when its slider is let go", async () => {
    const { wrapper, control } = mountView(member({ input_ratio: 0.5 }));
    const slider = wrapper.get("input[name=input-ratio]");
    expect(wrapper.get(`label[for=${slider.attributes("id")}]`).text()).toContain("Surplus to the battery");
    (slider.element as HTMLInputElement).value = "0.4";
    await slider.trigger("input");
    await slider.trigger("change");
    expect(control).toHaveBeenCalledTimes(1);
    expect(control).toHaveBeenCalledWith({ input_ratio: 0.4 });
  });

  it("sends the deficit ratio and the turbine switch", async () => {
    const { wrapper, control } = mountView(member({ output_ratio: 0.5, status: true }));
    const slider = wrapper.get("input[name=output-ratio]");
    (slider.element as HTMLInputElement).value = "0.9";
    await slider.trigger("change");
    expect(control).toHaveBeenLastCalledWith({ output_ratio: 0.9 });
    const turbines = wrapper.get("input[role=switch]");
    await turbines.setValue(false);
    expect(control).toHaveBeenLastCalledWith({ status: false });
  });

  it("shows the store's error and dismisses it", async () => {
    const { wrapper, house } = mountView();
    house.error = "Household h1 is not yours";
    await wrapper.vm.$nextTick();
    expect(wrapper.get("[role=alert]").text()).toContain("Household h1 is not yours");
    await wrapper.get("button[aria-label='Dismiss message']").trigger("click");
    expect(house.error).toBeNull();
  });
});
