/** Calls to the services with the signed-in user's bearer token; errors become ApiError. */
import type { RuntimeConfig, ServiceName } from "./config";
import { ApiError, describeError } from "./errors";

export type TokenSource = () => Promise<string | null>;

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  json?: unknown;
  body?: Blob;
  signal?: AbortSignal;
}

export class Api {
  constructor(
    private readonly config: RuntimeConfig,
    private readonly token: TokenSource,
    private readonly fetcher: typeof fetch = (...args) => fetch(...args),
  ) {}

  url(service: ServiceName, path: string): string {
    return `${this.config.services[service]}${path}`;
  }

  async response(service: ServiceName, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = await this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: BodyInit | undefined;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      headers["Content-Type"] = options.body.type || "application/octet-stream";
      body = options.body;
    }
    const response = await this.fetcher(this.url(service, path), {
      method: options.method ?? "GET",
      headers,
      body,
      signal: options.signal,
    });
    if (!response.ok) {
      let payload: unknown = null;
      try {
        payload = await response.json();
      } catch {
        // not JSON: the status says enough
      }
      const code = (payload as { error?: string } | null)?.error ?? "error";
      throw new ApiError(response.status, describeError(response.status, payload), code);
    }
    return response;
  }

  async json<T>(service: ServiceName, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.response(service, path, options);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** An image as an object URL for <img> (which cannot send a bearer token); null if none. */
  async picture(service: ServiceName, path: string): Promise<string | null> {
    try {
      const response = await this.response(service, path, {});
      return URL.createObjectURL(await response.blob());
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }
}
