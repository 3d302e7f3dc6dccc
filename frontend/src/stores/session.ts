/**
 * Who is signed in, what they may see, and the API client that acts for them.
 */
import { defineStore } from "pinia";
import { computed, markRaw, ref, shallowRef } from "vue";
import type { User, UserManager } from "oidc-client-ts";
import { Api } from "../lib/api";
import { createUserManager, safeReturnPath } from "../lib/auth";
import type { RuntimeConfig } from "../lib/config";
import { messageOf } from "../lib/errors";
import type { Profile } from "../lib/types";

const SILENT_TRIED = "gridmarket.silent-sign-in";

export const useSession = defineStore("session", () => {
  const config = shallowRef<RuntimeConfig | null>(null);
  const manager = shallowRef<UserManager | null>(null);
  const user = shallowRef<User | null>(null);
  const profile = ref<Profile | null>(null);
  const error = ref<string | null>(null);
  /** Counts sessions that ended without the user signing out. */
  const expired = ref(0);
  let api: Api | null = null;

  const signedIn = computed(() => user.value !== null && !user.value.expired);
  const isManager = computed(() => (profile.value?.managers.length ?? 0) > 0);
  const houses = computed(() => profile.value?.prosumers.map((p) => p.id) ?? []);
  const plants = computed(() => profile.value?.managers.map((p) => p.id) ?? []);

  /** Set up from the runtime config; `userManager` is for tests. */
  function configure(runtime: RuntimeConfig, userManager?: UserManager): void {
    config.value = runtime;
    const um = userManager ?? createUserManager(runtime);
    manager.value = markRaw(um);
    api = markRaw(new Api(runtime, accessToken));
    um.events.addUserLoaded((loaded) => {
      user.value = loaded;
    });
    um.events.addUserUnloaded(() => {
      user.value = null;
    });
    um.events.addSilentRenewError(() => expire());
  }

  /** Signed out without asking: the renewal was refused (password changed elsewhere, account gone). */
  function expire(): void {
    error.value = "Your session has ended; sign in again.";
    user.value = null;
    profile.value = null;
    expired.value += 1;
  }

  function client(): Api {
    if (!api) throw new Error("the session is not configured");
    return api;
  }

  async function accessToken(): Promise<string | null> {
    const current = user.value;
    if (!current) return null;
    if (current.expired && manager.value) {
      try {
        user.value = await manager.value.signinSilent();
      } catch {
        expire();
        return null;
      }
    }
    return user.value?.access_token ?? null;
  }

  async function loadProfile(): Promise<Profile> {
    profile.value = await client().json<Profile>("auth", "/api/login");
    return profile.value;
  }

  /** To the issuer's login page; back at `returnTo` afterwards. */
  async function signIn(returnTo = "/", prompt?: "none" | "login"): Promise<void> {
    if (!manager.value) throw new Error("the session is not configured");
    await manager.value.signinRedirect({ state: { returnTo: safeReturnPath(returnTo) }, prompt });
  }

  /**
   * After a reload the tokens are gone: ask the issuer once, without a form, whether
   * its login session is still alive. Answers false if that was already tried.
   */
  async function trySilentSignIn(returnTo: string): Promise<boolean> {
    if (sessionStorage.getItem(SILENT_TRIED)) return false;
    sessionStorage.setItem(SILENT_TRIED, String(Date.now()));
    await signIn(returnTo, "none");
    return true;
  }

  /** The issuer's answer at /callback: the user and where to go, or an error in words. */
  async function completeSignIn(url = window.location.href): Promise<string> {
    if (!manager.value) throw new Error("the session is not configured");
    try {
      const signedInUser = await manager.value.signinRedirectCallback(url);
      user.value = signedInUser;
      sessionStorage.removeItem(SILENT_TRIED);
      error.value = null;
      await loadProfile();
      return safeReturnPath((signedInUser.state as { returnTo?: string } | undefined)?.returnTo);
    } catch (exc) {
      const code = (exc as { error?: string }).error;
      if (code === "login_required" || code === "interaction_required") {
        const state = (exc as { state?: { returnTo?: string } }).state;
        return `/login?returnTo=${encodeURIComponent(safeReturnPath(state?.returnTo))}`;
      }
      error.value = `Sign-in failed: ${messageOf(exc)}`;
      return "/login";
    }
  }

  async function signOut(): Promise<void> {
    const um = manager.value;
    const current = user.value;
    user.value = null;
    profile.value = null;
    sessionStorage.setItem(SILENT_TRIED, String(Date.now()));
    if (!um) return;
    await um.removeUser();
    await um.signoutRedirect({ id_token_hint: current?.id_token });
  }

  /** Signed out here, e.g. after the account was deleted or the password changed. */
  async function forget(): Promise<void> {
    user.value = null;
    profile.value = null;
    sessionStorage.setItem(SILENT_TRIED, String(Date.now()));
    await manager.value?.removeUser();
  }

  /** For tests: a user without the redirect. */
  function adopt(loaded: User | null, loadedProfile: Profile | null = null): void {
    user.value = loaded;
    profile.value = loadedProfile;
  }

  return {
    config,
    user,
    profile,
    error,
    expired,
    signedIn,
    isManager,
    houses,
    plants,
    configure,
    client,
    accessToken,
    loadProfile,
    signIn,
    trySilentSignIn,
    completeSignIn,
    signOut,
    forget,
    adopt,
  };
});
