/**
 * The runtime configuration: where each service is, read from /config.json at start.
 *
 * The dashboard server writes it from its environment, so one build runs on a laptop
 * (`gridmarket up`) and under docker-compose alike.
 */
export const SERVICE_NAMES = ["auth", "manager", "prosumer", "market", "simulation", "weather"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface RuntimeConfig {
  clientId: string;
  environment: string;
  services: Record<ServiceName, string>;
}

export class ConfigError extends Error {}

/** The config checked field by field: a wrong one names what is wrong instead of failing later. */
export function parseConfig(raw: unknown): RuntimeConfig {
  if (typeof raw !== "object" || raw === null) throw new ConfigError("config.json is not an object");
  const value = raw as Record<string, unknown>;
  const services = value.services as Record<string, unknown> | undefined;
  if (typeof value.clientId !== "string" || !value.clientId) {
    throw new ConfigError("config.json: clientId is missing");
  }
  if (typeof services !== "object" || services === null) {
    throw new ConfigError("config.json: services is missing");
  }
  const urls = {} as Record<ServiceName, string>;
  for (const name of SERVICE_NAMES) {
    const url = services[name];
    if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
      throw new ConfigError(`config.json: services.${name} is not an http(s) URL`);
    }
    urls[name] = url.replace(/\/+$/, "");
  }
  return {
    clientId: value.clientId,
    environment: typeof value.environment === "string" ? value.environment : "production",
    services: urls,
  };
}

export async function loadConfig(fetcher: typeof fetch = fetch): Promise<RuntimeConfig> {
  const response = await fetcher("/config.json", { cache: "no-store" });
  if (!response.ok) throw new ConfigError(`config.json: HTTP ${response.status}`);
  return parseConfig(await response.json());
}
