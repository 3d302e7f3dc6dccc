/**
 * Sign-in with the suite's OpenID Connect issuer: authorization code with PKCE.
 *
 * Tokens live in memory only; the refresh token renews the access token before it
 * expires. After a reload the dashboard asks the issuer again with `prompt=none`:
 * a live login session there answers at once, without a form.
 */
import { InMemoryWebStorage, UserManager, WebStorageStateStore } from "oidc-client-ts";
import type { RuntimeConfig } from "./config";

export const SCOPES = "openid profile gridmarket";

export function createUserManager(config: RuntimeConfig, origin = window.location.origin): UserManager {
  return new UserManager({
    authority: config.services.auth,
    client_id: config.clientId,
    redirect_uri: `${origin}/callback`,
    post_logout_redirect_uri: `${origin}/`,
    response_type: "code",
    scope: SCOPES,
    // The user (and its tokens) in memory; only the short-lived PKCE state crosses the redirect.
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
    automaticSilentRenew: true,
    accessTokenExpiringNotificationTimeInSeconds: 60,
    loadUserInfo: false,
    monitorSession: false,
  });
}

/** Where to go after signing in: a path of this dashboard, never another site. */
export function safeReturnPath(value: unknown): string {
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//")) return "/";
  if (value.startsWith("/callback") || value.startsWith("/login")) return "/";
  return value;
}
