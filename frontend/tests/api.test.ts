// @vitest-environment node
import { afterEach, describe, expect, it, vi } from "vitest";
import { Api } from "../src/lib/api";
import { ApiError } from "../src/lib/errors";
import { CONFIG, fakeFetch, jsonResponse } from "./helpers";

describe("Api", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("sends the bearer token from the token source and reads JSON", async () => {
    const { fetcher, seen } = fakeFetch({ "GET http://auth.test/api/login": { username: "alice" } });
    const token = vi.fn(async () => "tok-1");
    const api = new Api(CONFIG, token, fetcher);
    await expect(api.json("auth", "/api/login")).resolves.toEqual({ username: "alice" });
    expect(token).toHaveBeenCalledTimes(1);
    expect(seen[0]!.headers).toMatchObject({ Authorization: "Bearer tok-1", Accept: "application/json" });
  });

  it("sends no Authorization header without a token", async () => {
    const { fetcher, seen } = fakeFetch({ "POST http://auth.test/api/register": {} });
    await new Api(CONFIG, async () => null, fetcher).json("auth", "/api/register", { method: "POST", json: {} });
    expect(seen[0]!.headers).not.toHaveProperty("Authorization");
  });

  it("sends a JSON body with its content type", async () => {
    const { fetcher, seen } = fakeFetch({ "PUT http://market.test/api/price/override": { price: 1.5 } });
    const api = new Api(CONFIG, async () => "t", fetcher);
    await api.json("market", "/api/price/override", { method: "PUT", json: { price: 1.5 } });
    expect(seen[0]).toMatchObject({
      url: "http://market.test/api/price/override",
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: { price: 1.5 },
    });
  });

  it("sends a Blob body with the blob's type, or octet-stream", async () => {
    const { fetcher, seen } = fakeFetch({ "PUT http://prosumer.test/api/members/h1/picture": { size: 3 } });
    const api = new Api(CONFIG, async () => "t", fetcher);
    const png = new Blob(["png"], { type: "image/png" });
    await api.json("prosumer", "/api/members/h1/picture", { method: "PUT", body: png });
    expect(seen[0]!.body).toBe(png);
    expect(seen[0]!.headers["Content-Type"]).toBe("image/png");
    await api.json("prosumer", "/api/members/h1/picture", { method: "PUT", body: new Blob(["x"]) });
    expect(seen[1]!.headers["Content-Type"]).toBe("application/octet-stream");
  });

  it("throws an ApiError with the server's words and code on a 4xx", async () => {
    const { fetcher } = fakeFetch({
      "PUT http://prosumer.test/api/control/h2": jsonResponse({ error: "forbidden", detail: "household h2 is not yours" }, 403),
    });
    const api = new Api(CONFIG, async () => "t", fetcher);
    const error = await api.json("prosumer", "/api/control/h2", { method: "PUT", json: {} }).catch((exc: unknown) => exc);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 403, code: "forbidden", message: "Household h2 is not yours" });
  });

  it("uses words for the status when the error body is not JSON", async () => {
    const { fetcher } = fakeFetch({ "GET http://market.test/api/price": new Response("<h1>Bad gateway</h1>", { status: 503 }) });
    const error = await new Api(CONFIG, async () => null, fetcher).json("market", "/api/price").catch((exc: unknown) => exc);
    expect(error).toMatchObject({ status: 503, code: "error", message: "The service is not ready; try again in a moment." });
  });

  it("answers undefined for 204 No Content", async () => {
    const { fetcher } = fakeFetch({ "DELETE http://auth.test/api/account/picture": new Response(null, { status: 204 }) });
    await expect(
      new Api(CONFIG, async () => "t", fetcher).json("auth", "/api/account/picture", { method: "DELETE" }),
    ).resolves.toBeUndefined();
  });

  it("uses the global fetch when none is given", async () => {
    const { fetcher, seen } = fakeFetch({ "GET http://weather.test/api/now": { wind: 3 } });
    vi.stubGlobal("fetch", fetcher);
    await expect(new Api(CONFIG, async () => null).json("weather", "/api/now")).resolves.toEqual({ wind: 3 });
    expect(seen).toHaveLength(1);
  });

  describe("picture", () => {
    // A fake object URL that names the blob it was made from (restored after each test: restoreMocks).
    function stubObjectUrl(make: (blob: Blob) => string) {
      return vi.spyOn(URL, "createObjectURL").mockImplementation(make as (obj: Blob | MediaSource) => string);
    }

    it("answers an object URL of the image", async () => {
      const createObjectURL = stubObjectUrl((blob) => `blob:picture-${blob.size}-${blob.type}`);
      const { fetcher, seen } = fakeFetch({
        "GET http://prosumer.test/api/members/h1/picture": new Response(new TextEncoder().encode("jpegdata"), {
          headers: { "Content-Type": "image/jpeg" },
        }),
      });
      const url = await new Api(CONFIG, async () => "t", fetcher).picture("prosumer", "/api/members/h1/picture");
      expect(url).toBe("blob:picture-8-image/jpeg");
      expect(createObjectURL).toHaveBeenCalledTimes(1);
      expect(seen[0]!.headers.Authorization).toBe("Bearer t");
    });

    it("answers null when there is no picture (404)", async () => {
      const createObjectURL = stubObjectUrl(() => "blob:x");
      const { fetcher } = fakeFetch({
        "GET http://auth.test/api/account/picture": jsonResponse({ error: "not_found", detail: "no picture" }, 404),
      });
      await expect(new Api(CONFIG, async () => "t", fetcher).picture("auth", "/api/account/picture")).resolves.toBeNull();
      expect(createObjectURL).not.toHaveBeenCalled();
    });

    it("throws other errors", async () => {
      const { fetcher } = fakeFetch({
        "GET http://auth.test/api/account/picture": jsonResponse({ error: "forbidden", detail: "no" }, 403),
      });
      await expect(new Api(CONFIG, async () => "t", fetcher).picture("auth", "/api/account/picture")).rejects.toMatchObject({
        status: 403,
      });
    });
  });
});
