// @vitest-environment node
import { describe, expect, it, vi } from "vitest";
import { ConfigError, SERVICE_NAMES, loadConfig, parseConfig } from "../src/lib/config";

function raw(): Record<string, unknown> {
  return {
    clientId: "dashboard",
    environment: "dev",
    services: Object.fromEntries(SERVICE_NAMES.map((name) => [name, `http://127.0.0.1:80${SERVICE_NAMES.indexOf(name)}`])),
  };
}

describe("parseConfig", () => {
  it("accepts a valid config", () => {
    const config = parseConfig(raw());
    expect(config.clientId).toBe("dashboard");
    expect(config.environment).toBe("dev");
    expect(config.services.auth).toBe("http://127.0.0.1:800");
    expect(Object.keys(config.services).sort()).toEqual([...SERVICE_NAMES].sort());
  });

  it("trims trailing slashes from the service URLs", () => {
    const value = raw();
    (value.services as Record<string, string>).market = "https://market.example/base///";
    expect(parseConfig(value).services.market).toBe("https://market.example/base");
  });

  it("defaults the environment to production", () => {
    const value = raw();
    delete value.environment;
    expect(parseConfig(value).environment).toBe("production");
  });

  it("refuses something that is not an object", () => {
    expect(() => parseConfig(null)).toThrow(ConfigError);
    expect(() => parseConfig("config")).toThrow(/not an object/);
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["not text", 42],
  ])("names clientId when it is %s", (_case, clientId) => {
    const value = raw();
    value.clientId = clientId;
    expect(() => parseConfig(value)).toThrow(/clientId/);
  });

  it("names services when they are missing", () => {
    const value = raw();
    delete value.services;
    expect(() => parseConfig(value)).toThrow(/services is missing/);
  });

  it.each(SERVICE_NAMES.map((name) => [name]))("names services.%s when it is missing", (name) => {
    const value = raw();
    delete (value.services as Record<string, string>)[name];
    expect(() => parseConfig(value)).toThrow(new ConfigError(`config.json: services.${name} is not an http(s) URL`));
  });

  it("names a service whose URL is not http(s)", () => {
    const value = raw();
    (value.services as Record<string, string>).weather = "ftp://weather.example";
    expect(() => parseConfig(value)).toThrow(/services\.weather/);
  });
});

describe("loadConfig", () => {
  it("reads /config.json without the cache and reports an HTTP error", async () => {
    const ok = vi.fn(async () => new Response(JSON.stringify(raw())));
    await expect(loadConfig(ok as unknown as typeof fetch)).resolves.toMatchObject({ clientId: "dashboard" });
    expect(ok).toHaveBeenCalledWith("/config.json", { cache: "no-store" });
    const missing = vi.fn(async () => new Response("", { status: 404 }));
    await expect(loadConfig(missing as unknown as typeof fetch)).rejects.toThrow("config.json: HTTP 404");
  });
});
