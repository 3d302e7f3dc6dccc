/**
 * One household's live state, its controls, its charts and its picture.
 */
import { defineStore } from "pinia";
import { markRaw, ref, shallowRef } from "vue";
import { messageOf } from "../lib/errors";
import { Series } from "../lib/series";
import { LiveStream, type StreamStatus } from "../lib/stream";
import type { ProsumerControl, ProsumerState } from "../lib/types";
import { useSession } from "./session";

export interface ProsumerCharts {
  production: Series;
  load: Series;
  battery: Series;
  price: Series;
}

function newCharts(): ProsumerCharts {
  return markRaw({ production: new Series(), load: new Series(), battery: new Series(), price: new Series() });
}

export const useProsumer = defineStore("prosumer", () => {
  const id = ref<string | null>(null);
  const state = ref<ProsumerState | null>(null);
  const error = ref<string | null>(null);
  const saving = ref(false);
  const status = ref<StreamStatus>("closed");
  const charts = shallowRef<ProsumerCharts>(newCharts());
  /** Bumped on every point added, for the charts to redraw. */
  const version = ref(0);
  const picture = ref<string | null>(null);
  let stream: LiveStream | null = null;
  /** Controls just set win over the next few ticks, which may still carry the old ones. */
  let recent: { change: Partial<ProsumerControl>; until: number } | null = null;

  function apply(member: ProsumerState, at = Date.now()): void {
    state.value = recent && at < recent.until ? { ...member, ...recent.change } : member;
    const c = charts.value;
    c.production.push(at, member.production_kw);
    c.load.push(at, member.load_kw);
    c.battery.push(at, member.capacity_kwh > 0 ? (100 * member.stored_kwh) / member.capacity_kwh : 0);
    c.price.push(at, member.price_sek_per_kwh);
    version.value += 1;
  }

  /** Follow `memberId`: its state now, then every tick from the stream. */
  async function follow(memberId: string): Promise<void> {
    if (id.value === memberId && stream) return;
    stop();
    id.value = memberId;
    recent = null; // a change just made belongs to the household it was made on
    state.value = null;
    error.value = null;
    charts.value = newCharts();
    const session = useSession();
    const api = session.client();
    const path = `/api/stream?id=${encodeURIComponent(memberId)}`;
    const live = markRaw(
      new LiveStream(
        api.url("prosumer", path),
        {
          prosumers: (data) => {
            if (id.value === memberId) apply(data as ProsumerState);
          },
        },
        session.accessToken,
        { onStatus: (value) => (status.value = value) },
      ),
    );
    stream = live;
    try {
      const member = await api.json<ProsumerState>("prosumer", `/api/members/${encodeURIComponent(memberId)}`);
      if (stream !== live) return; // stopped, or following another household, while this loaded
      apply(member);
    } catch (exc) {
      if (stream !== live) return;
      error.value = messageOf(exc);
      stop();
      return;
    }
    live.start();
    void loadPicture();
  }

  function stop(): void {
    stream?.stop();
    stream = null;
    if (picture.value) URL.revokeObjectURL(picture.value);
    picture.value = null;
  }

  /** Change controls at once; on refusal the previous values come back and the reason shows. */
  async function control(change: Partial<ProsumerControl>): Promise<void> {
    const memberId = id.value;
    const current = state.value;
    if (!memberId || !current) return;
    const previous = { input_ratio: current.input_ratio, output_ratio: current.output_ratio, status: current.status };
    state.value = { ...current, ...change };
    recent = { change, until: Date.now() + 3000 };
    saving.value = true;
    try {
      const applied = await useSession()
        .client()
        .json<ProsumerControl>("prosumer", `/api/control/${encodeURIComponent(memberId)}`, {
          method: "PUT",
          json: change,
        });
      if (state.value && id.value === memberId) state.value = { ...state.value, ...applied };
      error.value = null;
    } catch (exc) {
      recent = null;
      if (state.value && id.value === memberId) state.value = { ...state.value, ...previous };
      error.value = messageOf(exc);
    } finally {
      saving.value = false;
    }
  }

  async function loadPicture(): Promise<void> {
    const memberId = id.value;
    if (!memberId) return;
    try {
      const url = await useSession()
        .client()
        .picture("prosumer", `/api/members/${encodeURIComponent(memberId)}/picture`);
      if (picture.value) URL.revokeObjectURL(picture.value);
      picture.value = id.value === memberId ? url : null;
    } catch (exc) {
      error.value = `The house picture could not be loaded: ${messageOf(exc)}`;
    }
  }

  async function uploadPicture(file: Blob): Promise<void> {
    const memberId = id.value;
    if (!memberId) return;
    try {
      await useSession()
        .client()
        .json("prosumer", `/api/members/${encodeURIComponent(memberId)}/picture`, { method: "PUT", body: file });
      error.value = null;
      await loadPicture();
    } catch (exc) {
      error.value = `The picture was not saved: ${messageOf(exc)}`;
    }
  }

  return { id, state, error, saving, status, charts, version, picture, apply, follow, stop, control, loadPicture, uploadPicture };
});
