import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RouteLocationNormalized } from "vue-router";
import { createAppRouter, guard } from "../src/router";
import { useSession } from "../src/stores/session";
import type { Profile } from "../src/lib/types";
import { CONFIG, fakeFetch, fakeUser, fakeUserManager, jsonResponse, profile } from "./helpers";

/** The app's own routes (meta, names, params), resolved without navigating. */
const router = createAppRouter();
const to = (path: string) => router.resolve(path) as unknown as RouteLocationNormalized;

function setup(signedIn: Profile | "no profile" | null) {
  const { fake, manager } = fakeUserManager();
  const session = useSession();
  session.configure(CONFIG, manager);
  if (signedIn === "no profile") session.adopt(fakeUser());
  else if (signedIn) session.adopt(fakeUser(), signedIn);
  return { session, fake };
}

const prosumer = () => profile({ prosumers: [{ level: 1, id: "h1" }] });
const manager = () => profile({ managers: [{ level: 1, id: "p1" }], prosumers: [] });

describe("guard", () => {
  beforeEach(() => {
    setActivePinia(createPinia());
    sessionStorage.clear();
  });

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it.each(["/login", "/callback?code=1", "/no/such/page"])("lets anyone open the public %s", async (path) => {
    const { fake } = setup(null);
    await expect(guard(to(path))).resolves.toBe(true);
    expect(fake.signinRedirect).not.toHaveBeenCalled();
  });

  it("sends a signed-out visitor to the issuer once, silently, then to /login with returnTo", async () => {
    const { fake } = setup(null);
    await expect(guard(to("/prosumer/h1?tab=charts"))).resolves.toBe(false); // on the way to the issuer
    expect(fake.signinRedirect).toHaveBeenCalledWith({ state: { returnTo: "/prosumer/h1?tab=charts" }, prompt: "none" });
    await expect(guard(to("/manager"))).resolves.toEqual({ name: "login", query: { returnTo: "/manager" } });
    expect(fake.signinRedirect).toHaveBeenCalledTimes(1);
  });

  it("keeps a prosumer out of the grid view", async () => {
    setup(prosumer());
    await expect(guard(to("/manager"))).resolves.toMatchObject({ name: "forbidden" });
  });

  it("keeps a prosumer out of another household, and lets it into its own", async () => {
    setup(prosumer());
    const refused = await guard(to("/prosumer/h2"));
    expect(refused).toMatchObject({ name: "forbidden" });
    expect(JSON.stringify(refused)).toContain("h2");
    await expect(guard(to("/prosumer/h1"))).resolves.toBe(true);
  });

  it("lets a manager open the grid and any household", async () => {
    setup(manager());
    await expect(guard(to("/manager"))).resolves.toBe(true);
    await expect(guard(to("/prosumer/h1"))).resolves.toBe(true);
    await expect(guard(to("/prosumer/h42"))).resolves.toBe(true);
  });

  it("reads a missing profile first, and decides on it", async () => {
    const { session } = setup("no profile");
    vi.stubGlobal("fetch", fakeFetch({ "GET http://auth.test/api/login": prosumer() }).fetcher);
    await expect(guard(to("/manager"))).resolves.toMatchObject({ name: "forbidden" });
    expect(session.houses).toEqual(["h1"]);
  });

  it("sends to /login with the reason when the profile cannot be read", async () => {
    const { session } = setup("no profile");
    vi.stubGlobal("fetch", fakeFetch({ "GET http://auth.test/api/login": jsonResponse({ detail: "token revoked" }, 401) }).fetcher);
    await expect(guard(to("/profile"))).resolves.toEqual({ name: "login" });
    expect(session.error).toBe("Your profile could not be read: Token revoked");
  });
});
