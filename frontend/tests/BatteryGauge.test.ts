import { mount } from "@vue/test-utils";
import { describe, expect, it } from "vitest";
import BatteryGauge from "../src/components/BatteryGauge.vue";

const meter = (stored: number, capacity: number) => mount(BatteryGauge, { props: { stored, capacity } }).get("[role=meter]");

describe("BatteryGauge", () => {
  it("is a meter from 0 to 100 with its label", () => {
    const m = meter(5, 10);
    expect(m.attributes()).toMatchObject({ "aria-label": "Battery level", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "50" });
    expect(m.text()).toContain("50 %");
  });

  it("rounds the value", () => {
    expect(meter(2, 3).attributes("aria-valuenow")).toBe("67");
    expect(meter(1, 3).attributes("aria-valuetext")).toMatch(/^33 %, 1\.00 of 3\.00 kWh$/);
  });

  it("clamps to 0..100", () => {
    expect(meter(12, 10).attributes("aria-valuenow")).toBe("100");
    expect(meter(-1, 10).attributes("aria-valuenow")).toBe("0");
  });

  it("shows 0 for a house without a battery (capacity 0)", () => {
    const m = meter(0, 0);
    expect(m.attributes("aria-valuenow")).toBe("0");
    expect(m.text()).toContain("0 %");
    expect(m.text()).not.toMatch(/NaN|Infinity/);
  });

  it("colours the arc by level", () => {
    const tone = (stored: number) => mount(BatteryGauge, { props: { stored, capacity: 100 } }).get(".gauge-fill").classes();
    expect(tone(10)).toContain("low");
    expect(tone(30)).toContain("mid");
    expect(tone(80)).toContain("high");
  });
});
