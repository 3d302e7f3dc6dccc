import { describe, expect, it } from "vitest";
import { SCOPES, createUserManager, safeReturnPath } from "../src/lib/auth";
import { CONFIG } from "./helpers";

describe("safeReturnPath", () => {
  it.each([
    ["//evil.example", "a protocol-relative URL"],
    ["//evil.example/manager", "a protocol-relative URL with a path"],
    ["http://evil.example/", "an absolute http URL"],
    ["https://evil.example/manager", "an absolute https URL"],
    ["javascript:alert(1)", "a script URL"],
    ["manager", "a relative path"],
    ["/callback?code=1&state=2", "the callback itself (a loop)"],
    ["/login?returnTo=/manager", "the login page (a loop)"],
    ["", "empty text"],
  ])("refuses %s (%s)", (value) => {
    expect(safeReturnPath(value)).toBe("/");
  });

  it("refuses what is not text", () => {
    expect(safeReturnPath(undefined)).toBe("/");
    expect(safeReturnPath(["/manager"])).toBe("/");
    expect(safeReturnPath({ path: "/manager" })).toBe("/");
  });

  it("keeps a path of this dashboard, with its query", () => {
    expect(safeReturnPath("/manager")).toBe("/manager");
    expect(safeReturnPath("/prosumer/h1?tab=charts")).toBe("/prosumer/h1?tab=charts");
  });
});

describe("createUserManager", () => {
  it("uses the issuer from the config and redirects back to this origin", () => {
    const um = createUserManager(CONFIG, "https://dash.example");
    expect(um.settings).toMatchObject({
      authority: "http://auth.test",
      client_id: "dashboard",
      redirect_uri: "https://dash.example/callback",
      response_type: "code",
      scope: SCOPES,
    });
  });
});
