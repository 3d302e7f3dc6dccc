import { RouterLinkStub, mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import { describe, expect, it, vi } from "vitest";
import ManagerView from "../src/views/ManagerView.vue";
import { useGrid } from "../src/stores/grid";
import { member, plant } from "./helpers";

/** The view over a grid store set by the test; its actions are stubs (no network, no streams). */
function mountView() {
  const pinia = createPinia();
  setActivePinia(pinia);
  const grid = useGrid();
  const start = vi.spyOn(grid, "start").mockReturnValue();
  const stop = vi.spyOn(grid, "stop").mockReturnValue();
  const controlPlant = vi.spyOn(grid, "controlPlant").mockResolvedValue();
  const setOverride = vi.spyOn(grid, "setOverride").mockResolvedValue();
  const block = vi.spyOn(grid, "block").mockResolvedValue();
  grid.plants = [plant({ id: "p1", status: true, state: "running" })];
  grid.members = [member({ id: "h1" }), member({ id: "h2" })];
  const wrapper = mount(ManagerView, {
    global: { plugins: [pinia], stubs: { LineChart: true, RouterLink: RouterLinkStub } },
  });
  return { wrapper, grid, start, stop, controlPlant, setOverride, block };
}

describe("ManagerView", () => {
  it("starts the grid's streams and stops them when it goes away", () => {
    const { wrapper, start, stop } = mountView();
    expect(start).toHaveBeenCalledTimes(1);
    wrapper.unmount();
    expect(stop).toHaveBeenCalledTimes(1);
  });

  it("stops a running plant with status false", async () => {
    const { wrapper, controlPlant } = mountView();
    const button = wrapper.get("[data-testid=plant-stop]");
    expect(button.text()).toBe("Stop the plant");
    await button.trigger("click");
    expect(controlPlant).toHaveBeenCalledWith("p1", { status: false });
  });

  it("starts a stopped plant with status true", async () => {
    const { wrapper, grid, controlPlant } = mountView();
    grid.plants = [plant({ id: "p1", status: false, state: "stopped" })];
    await wrapper.vm.$nextTick();
    await wrapper.get("[data-testid=plant-start]").trigger("click");
    expect(controlPlant).toHaveBeenCalledWith("p1", { status: true });
  });

  it.each(["abc", "", "-1", "1.5.2"])("refuses the override %j with a message", async (text) => {
    const { wrapper, grid, setOverride } = mountView();
    await wrapper.get("#override").setValue(text);
    await wrapper.get("form").trigger("submit");
    expect(setOverride).not.toHaveBeenCalled();
    expect(grid.error).toBe("Give the price as a number of SEK/kWh, 0 or more.");
    expect(wrapper.get("[role=alert]").text()).toContain("Give the price as a number");
  });

  it.each([
    ["1.5", 1.5],
    [" 2,25 ", 2.25],
    ["0", 0],
  ])("sends the override %j as %d", async (text, value) => {
    const { wrapper, setOverride } = mountView();
    await wrapper.get("#override").setValue(text);
    await wrapper.get("form").trigger("submit");
    expect(setOverride).toHaveBeenCalledWith(value);
  });

  it("labels the override input", () => {
    const { wrapper } = mountView();
    expect(wrapper.get("label[for=override]").text()).toContain("Set the price");
  });

  it("clears the override only when one is set", async () => {
    const { wrapper, grid, setOverride } = mountView();
    const clear = () => wrapper.findAll("button").find((b) => b.text() === "Clear")!;
    expect(clear().attributes()).toHaveProperty("disabled");
    grid.price = { price: 2, modelled_price: 1, override: 2, time: "", scarcity: false, stale: false, stale_cells: [], stats: { totalDemand: 0, totalProduction: 0 }, note: null };
    await wrapper.vm.$nextTick();
    expect(clear().attributes()).not.toHaveProperty("disabled");
    await clear().trigger("click");
    expect(setOverride).toHaveBeenCalledWith(null);
  });

  it("allows Block only for 10 to 100 seconds", async () => {
    const { wrapper, block } = mountView();
    const seconds = wrapper.get("input[type=number]");
    const blockButton = () => wrapper.get("button[aria-label^='Block h1']");
    for (const [value, enabled] of [
      ["9", false],
      ["10", true],
      ["55", true],
      ["100", true],
      ["101", false],
      ["", false],
    ] as const) {
      await seconds.setValue(value);
      expect((blockButton().element as HTMLButtonElement).disabled, `Block with ${JSON.stringify(value)} s`).toBe(!enabled);
    }
    await seconds.setValue("45");
    expect(blockButton().attributes("aria-label")).toBe("Block h1 from selling for 45 seconds");
    await blockButton().trigger("click");
    expect(block).toHaveBeenCalledWith("h1", 45);
  });

  it("lists every prosumer with a link to its household", () => {
    const { wrapper } = mountView();
    const rows = wrapper.findAll("tr[data-prosumer]");
    expect(rows.map((r) => r.attributes("data-prosumer"))).toEqual(["h1", "h2"]);
    expect(wrapper.findAllComponents(RouterLinkStub).map((l) => l.props("to"))).toContain("/prosumer/h2");
  });
});
