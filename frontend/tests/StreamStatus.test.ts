import { mount } from "@vue/test-utils";
import { describe, expect, it } from "vitest";
import StreamStatus from "../src/components/StreamStatus.vue";
import type { StreamStatus as Status } from "../src/lib/stream";

const shown = (status: Status | Status[]) => {
  const el = mount(StreamStatus, { props: { status } }).get("[role=status]");
  return [el.attributes("data-status"), el.text()];
};

describe("StreamStatus", () => {
  it("shows one stream's status in words", () => {
    expect(shown("open")).toEqual(["open", "Live"]);
    expect(shown("connecting")).toEqual(["connecting", "Connecting…"]);
    expect(shown("reconnecting")).toEqual(["reconnecting", "Reconnecting…"]);
    expect(shown("closed")).toEqual(["closed", "Offline"]);
  });

  it.each<[Status[], string]>([
    [["open", "open", "open", "open"], "open"],
    [["open", "reconnecting", "open"], "reconnecting"],
    [["connecting", "open"], "connecting"],
    [["connecting", "reconnecting"], "reconnecting"],
    [["open", "closed"], "reconnecting"], // partly live is not live
    [["closed", "closed"], "closed"],
  ])("overall of %j is %s", (statuses, overall) => {
    expect(shown(statuses)[0]).toBe(overall);
  });
});
