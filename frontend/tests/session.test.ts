import { createPinia, setActivePinia } from "pinia";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useSession } from "../src/stores/session";
import { CONFIG, fakeFetch, fakeUser, fakeUserManager, jsonResponse, profile } from "./helpers";

function setup() {
  const { fake, manager } = fakeUserManager();
  const session = useSession();
  session.configure(CONFIG, manager);
  return { session, fake };
}

describe("session store", () => {
  beforeEach(() => {
    setActivePinia(createPinia());
    sessionStorage.clear();
  });

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  describe("completeSignIn", () => {
    it("signs in, loads the profile with the new token and answers the state's returnTo", async () => {
      const { session, fake } = setup();
      fake.signinRedirectCallback.mockResolvedValue(fakeUser("fresh", { state: { returnTo: "/prosumer/h1" } }));
      const { fetcher, seen } = fakeFetch({ "GET http://auth.test/api/login": profile() });
      vi.stubGlobal("fetch", fetcher);

      const next = await session.completeSignIn("http://localhost/callback?code=c&state=s");

      expect(fake.signinRedirectCallback).toHaveBeenCalledWith("http://localhost/callback?code=c&state=s");
      expect(next).toBe("/prosumer/h1");
      expect(session.signedIn).toBe(true);
      expect(session.profile?.username).toBe("alice");
      expect(seen).toHaveLength(1);
      expect(seen[0]!.headers.Authorization).toBe("Bearer fresh");
      expect(session.error).toBeNull();
    });

    it("never answers another site as the place to go", async () => {
      const { session, fake } = setup();
      fake.signinRedirectCallback.mockResolvedValue(fakeUser("t", { state: { returnTo: "//evil.example" } }));
      vi.stubGlobal("fetch", fakeFetch({ "GET http://auth.test/api/login": profile() }).fetcher);
      await expect(session.completeSignIn("http://localhost/callback")).resolves.toBe("/");
    });

    it.each(["login_required", "interaction_required"])(
      "sends a %s answer (silent try failed) to the login page with returnTo",
      async (code) => {
        const { session, fake } = setup();
        fake.signinRedirectCallback.mockRejectedValue(
          Object.assign(new Error(code), { error: code, state: { returnTo: "/manager?x=1" } }),
        );
        const next = await session.completeSignIn("http://localhost/callback?error=" + code);
        expect(next).toBe(`/login?returnTo=${encodeURIComponent("/manager?x=1")}`);
        expect(session.signedIn).toBe(false);
        expect(session.error).toBeNull(); // not an error worth showing: the user just signs in
      },
    );

    it("shows any other failure as an error and goes to /login", async () => {
      const { session, fake } = setup();
      fake.signinRedirectCallback.mockRejectedValue(
        Object.assign(new Error("No matching state found in storage"), { error: undefined }),
      );
      await expect(session.completeSignIn("http://localhost/callback")).resolves.toBe("/login");
      expect(session.error).toBe("Sign-in failed: No matching state found in storage");
    });

    it("reports a profile that cannot be read", async () => {
      const { session, fake } = setup();
      fake.signinRedirectCallback.mockResolvedValue(fakeUser("t"));
      vi.stubGlobal("fetch", fakeFetch({ "GET http://auth.test/api/login": jsonResponse({ detail: "auth is down" }, 503) }).fetcher);
      await expect(session.completeSignIn("http://localhost/callback")).resolves.toBe("/login");
      expect(session.error).toBe("Sign-in failed: Auth is down");
    });
  });

  describe("what the profile allows", () => {
    it("a prosumer: its houses, not a manager", () => {
      const { session } = setup();
      session.adopt(fakeUser(), profile({ prosumers: [{ level: 1, id: "h1" }, { level: 1, id: "h7" }] }));
      expect(session.isManager).toBe(false);
      expect(session.houses).toEqual(["h1", "h7"]);
      expect(session.plants).toEqual([]);
    });

    it("a manager: its plants", () => {
      const { session } = setup();
      session.adopt(fakeUser(), profile({ managers: [{ level: 1, id: "p1" }], prosumers: [] }));
      expect(session.isManager).toBe(true);
      expect(session.houses).toEqual([]);
      expect(session.plants).toEqual(["p1"]);
    });

    it("nobody signed in: nothing", () => {
      const { session } = setup();
      expect(session.signedIn).toBe(false);
      expect(session.isManager).toBe(false);
      expect(session.houses).toEqual([]);
    });

    it("an expired user is not signed in", () => {
      const { session } = setup();
      session.adopt(fakeUser("t", { expired: true }));
      expect(session.signedIn).toBe(false);
    });
  });

  describe("trySilentSignIn", () => {
    it("asks the issuer without a form once per tab", async () => {
      const { session, fake } = setup();
      await expect(session.trySilentSignIn("/manager")).resolves.toBe(true);
      expect(fake.signinRedirect).toHaveBeenCalledWith({ state: { returnTo: "/manager" }, prompt: "none" });
      await expect(session.trySilentSignIn("/manager")).resolves.toBe(false);
      expect(fake.signinRedirect).toHaveBeenCalledTimes(1);
    });

    it("may try again after a completed sign-in, but not after signing out", async () => {
      const { session, fake } = setup();
      await session.trySilentSignIn("/");
      fake.signinRedirectCallback.mockResolvedValue(fakeUser("t"));
      vi.stubGlobal("fetch", fakeFetch({ "GET http://auth.test/api/login": profile() }).fetcher);
      await session.completeSignIn("http://localhost/callback");
      await expect(session.trySilentSignIn("/")).resolves.toBe(true);
      await session.signOut();
      expect(fake.signoutRedirect).toHaveBeenCalledWith({ id_token_hint: "id-token" });
      await expect(session.trySilentSignIn("/")).resolves.toBe(false);
    });
  });

  describe("accessToken", () => {
    it("answers the user's token, renewing an expired one silently", async () => {
      const { session, fake } = setup();
      await expect(session.accessToken()).resolves.toBeNull();
      session.adopt(fakeUser("live"));
      await expect(session.accessToken()).resolves.toBe("live");
      session.adopt(fakeUser("old", { expired: true }));
      await expect(session.accessToken()).resolves.toBe("token-renewed");
      expect(fake.signinSilent).toHaveBeenCalledTimes(1);
    });

    it("signs out when the silent renewal fails", async () => {
      const { session, fake } = setup();
      fake.signinSilent.mockRejectedValue(new Error("login_required"));
      session.adopt(fakeUser("old", { expired: true }));
      await expect(session.accessToken()).resolves.toBeNull();
      expect(session.user).toBeNull();
    });
  });

  it("signIn redirects with a safe returnTo", async () => {
    const { session, fake } = setup();
    await session.signIn("https://evil.example", "login");
    expect(fake.signinRedirect).toHaveBeenCalledWith({ state: { returnTo: "/" }, prompt: "login" });
  });

  it("follows the user manager's events", () => {
    const { session, fake } = setup();
    const loaded = fake.events.addUserLoaded.mock.calls[0]![0] as (user: unknown) => void;
    const renewFailed = fake.events.addSilentRenewError.mock.calls[0]![0] as () => void;
    loaded(fakeUser("renewed"));
    expect(session.signedIn).toBe(true);
    renewFailed();
    expect(session.signedIn).toBe(false);
    expect(session.error).toMatch(/sign in again/);
  });
});
