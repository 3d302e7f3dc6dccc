/**
 * jsdom has no 2D canvas (getContext answers null), so Chart.js cannot draw here. Rather than
 * fake a CanvasRenderingContext2D for Chart.js's internals, chart.js is replaced by a recorder:
 * the tests check what this component owns — the figure's text and data attributes, the datasets
 * it hands over, that it redraws when `version` changes and lets go of the chart when unmounted.
 * Chart.js's own drawing is covered by the end-to-end tests in a real browser.
 */
import { mount } from "@vue/test-utils";
import { describe, expect, it, vi } from "vitest";
import LineChart, { type ChartLine } from "../src/components/LineChart.vue";
import { Series } from "../src/lib/series";

interface Recorded {
  canvas: unknown;
  config: { type: string; data: { datasets: { label: string; data: { x: number; y: number }[] }[] }; options: Record<string, any> };
  data: Recorded["config"]["data"];
  options: Recorded["config"]["options"];
  update: ReturnType<typeof vi.fn>;
  destroy: ReturnType<typeof vi.fn>;
}

const charts = vi.hoisted(() => [] as Recorded[]);

vi.mock("chart.js", () => {
  class Chart {
    static register = vi.fn();
    data: unknown;
    options: unknown;
    update = vi.fn();
    destroy = vi.fn();
    constructor(
      readonly canvas: unknown,
      readonly config: { data: unknown; options: unknown },
    ) {
      this.data = config.data;
      this.options = config.options;
      charts.push(this as unknown as Recorded);
    }
  }
  const part = {};
  return { Chart, Filler: part, Legend: part, LineController: part, LineElement: part, LinearScale: part, PointElement: part, Tooltip: part };
});

const T = Date.UTC(2024, 5, 1, 12);

function lines(): ChartLine[] {
  const production = new Series();
  const load = new Series();
  production.push(T, 1.5);
  production.push(T + 60_000, 2.5);
  load.push(T, 4);
  return [
    { label: "Production", series: production, color: "#0f766e" },
    { label: "Consumption", series: load, color: "#b45309", dashed: true },
  ];
}

function mountChart(chartLines = lines()) {
  charts.length = 0;
  const wrapper = mount(LineChart, { props: { title: "Power", unit: "kW", lines: chartLines, version: 1, testId: "chart-power" } });
  return { wrapper, chart: charts[0]!, chartLines };
}

describe("LineChart", () => {
  it("writes each series' latest value and maximum into the caption", () => {
    const { wrapper } = mountChart();
    const figure = wrapper.get("figure[data-testid=chart-power]");
    expect(figure.get("figcaption").text()).toContain("Power");
    const production = figure.get("[data-series=Production]");
    expect(production.text()).toBe("Production: 2.50 kW");
    expect(production.attributes()).toMatchObject({ "data-latest": "2.5", "data-max": "2.5" });
    expect(figure.get("[data-series=Consumption]").attributes()).toMatchObject({ "data-latest": "4", "data-max": "4" });
    expect(figure.get("canvas").attributes()).toMatchObject({ role: "img", "aria-label": "Power, last hour" });
  });

  it("shows a dash for a series without data", () => {
    const { wrapper } = mountChart([{ label: "Price", series: new Series(), color: "#7c3aed" }]);
    const price = wrapper.get("[data-series=Price]");
    expect(price.text()).toBe("Price: –");
    expect(price.attributes("data-latest")).toBe("");
    expect(price.attributes("data-max")).toBe("0");
  });

  it("hands Chart.js the points on its canvas", () => {
    const { wrapper, chart } = mountChart();
    expect(chart.canvas).toBe(wrapper.get("canvas").element);
    expect(chart.config.type).toBe("line");
    const [production, consumption] = chart.data.datasets as (Record<string, unknown> & { data: unknown })[];
    expect(production).toMatchObject({ label: "Production", borderDash: [] });
    expect(production!.data).toEqual([
      { x: T, y: 1.5 },
      { x: T + 60_000, y: 2.5 },
    ]);
    expect(consumption).toMatchObject({ label: "Consumption", borderDash: [6, 4] });
    expect(chart.options.scales.x.max).toBe(T + 60_000); // the axis ends at the newest point
  });

  it("redraws, without animation, when the version changes", async () => {
    const { wrapper, chart, chartLines } = mountChart();
    chartLines[0]!.series.push(T + 120_000, 7);
    expect(chart.update).not.toHaveBeenCalled();
    await wrapper.setProps({ version: 2 });
    expect(chart.update).toHaveBeenCalledWith("none");
    expect(chart.data.datasets[0]!.data.at(-1)).toEqual({ x: T + 120_000, y: 7 });
    expect(chart.options.scales.x.max).toBe(T + 120_000);
    const production = wrapper.get("[data-series=Production]");
    expect(production.attributes()).toMatchObject({ "data-latest": "7", "data-max": "7" });
    expect(production.text()).toBe("Production: 7.00 kW");
  });

  it("destroys the chart when it goes away", () => {
    const { wrapper, chart } = mountChart();
    wrapper.unmount();
    expect(chart.destroy).toHaveBeenCalledTimes(1);
  });
});
