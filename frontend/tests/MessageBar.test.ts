import { mount } from "@vue/test-utils";
import { describe, expect, it } from "vitest";
import MessageBar from "../src/components/MessageBar.vue";

describe("MessageBar", () => {
  it("shows an error as an alert", () => {
    const wrapper = mount(MessageBar, { props: { message: "The plant did not start" } });
    expect(wrapper.get("[role=alert]").text()).toContain("The plant did not start");
    expect(wrapper.find("[role=status]").exists()).toBe(false);
  });

  it("shows a notice as a status", () => {
    const wrapper = mount(MessageBar, { props: { message: "Picture saved.", kind: "notice" } });
    expect(wrapper.get("[role=status]").text()).toContain("Picture saved.");
    expect(wrapper.find("[role=alert]").exists()).toBe(false);
  });

  it("shows nothing without a message", () => {
    expect(mount(MessageBar, { props: { message: null } }).find("[role]").exists()).toBe(false);
    expect(mount(MessageBar, { props: { message: "" } }).find("[role]").exists()).toBe(false);
  });

  it("emits dismiss from its labelled button", async () => {
    const wrapper = mount(MessageBar, { props: { message: "Oops" } });
    const button = wrapper.get("button[aria-label='Dismiss message']");
    await button.trigger("click");
    expect(wrapper.emitted("dismiss")).toHaveLength(1);
  });
});
