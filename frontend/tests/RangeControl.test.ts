import { mount } from "@vue/test-utils";
import { describe, expect, it } from "vitest";
import RangeControl from "../src/components/RangeControl.vue";

function mountControl(props: Record<string, unknown> = {}) {
  return mount(RangeControl, {
    props: { label: "Surplus to the battery", name: "input-ratio", modelValue: 0.5, hint: "Share stored", ...props },
    attachTo: document.body,
  });
}

/** What a person does: drag (input events), then let go (change). */
async function drag(input: HTMLInputElement, ...values: string[]) {
  for (const value of values) {
    input.value = value;
    input.dispatchEvent(new Event("input"));
    await Promise.resolve();
  }
}

describe("RangeControl", () => {
  it("labels the slider: label for= the input's id, the hint as its description", () => {
    const wrapper = mountControl();
    const input = wrapper.get("input[type=range]");
    const label = wrapper.get("label");
    expect(label.attributes("for")).toBe(input.attributes("id"));
    expect(label.text()).toContain("Surplus to the battery");
    const hintId = input.attributes("aria-describedby")!;
    expect(wrapper.get(`#${hintId}`).text()).toBe("Share stored");
    expect((input.element as HTMLInputElement).labels?.[0]).toBe(label.element);
    wrapper.unmount();
  });

  it("shows the value as it moves, without emitting until let go", async () => {
    const wrapper = mountControl();
    const input = wrapper.get("input").element as HTMLInputElement;
    expect(wrapper.get("[data-testid=input-ratio-value]").text()).toBe("50 %");
    await drag(input, "0.6", "0.73");
    await wrapper.vm.$nextTick();
    expect(wrapper.get("[data-testid=input-ratio-value]").text()).toBe("73 %");
    expect(input.getAttribute("aria-valuetext")).toBe("73 %");
    expect(wrapper.emitted("change")).toBeUndefined();
    wrapper.unmount();
  });

  it("emits change with the number when let go at a new value", async () => {
    const wrapper = mountControl();
    const input = wrapper.get("input");
    await drag(input.element as HTMLInputElement, "0.6", "0.8");
    await input.trigger("change"); // let go
    expect(wrapper.emitted("change")).toEqual([[0.8]]);
    expect(typeof wrapper.emitted<[number]>("change")![0]![0]).toBe("number");
  });

  it("does not emit when let go at the value it already has", async () => {
    const wrapper = mountControl({ modelValue: 0.5 });
    const input = wrapper.get("input");
    await drag(input.element as HTMLInputElement, "0.7", "0.5"); // moved, then back
    await input.trigger("change");
    expect(wrapper.emitted("change")).toBeUndefined();
  });

  it("follows a new model value when not being moved, but not while it is", async () => {
    const wrapper = mountControl({ modelValue: 0.5 });
    await wrapper.setProps({ modelValue: 0.25 });
    expect(wrapper.get("output").text()).toBe("25 %");
    expect((wrapper.get("input").element as HTMLInputElement).value).toBe("0.25");
    await drag(wrapper.get("input").element as HTMLInputElement, "0.9");
    await wrapper.setProps({ modelValue: 0.3 }); // a stream tick while the thumb is held
    expect(wrapper.get("output").text()).toBe("90 %");
  });

  it("scales and labels the unit as asked, and can be disabled", () => {
    const wrapper = mountControl({ modelValue: 30, min: 10, max: 100, step: 1, scale: 1, unit: "s", disabled: true });
    const input = wrapper.get("input");
    expect(wrapper.get("output").text()).toBe("30 s");
    expect(input.attributes()).toMatchObject({ min: "10", max: "100", step: "1" });
    expect(input.element).toHaveProperty("disabled", true);
  });
});
