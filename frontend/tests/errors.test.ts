// @vitest-environment node
import { describe, expect, it } from "vitest";
import { ApiError, describeError, messageOf } from "../src/lib/errors";

describe("describeError", () => {
  it("uses a string detail, capitalised", () => {
    expect(describeError(404, { error: "not_found", detail: "no member h9" })).toBe("No member h9");
  });

  it("lists FastAPI's 422 field errors (loc/msg) without the 'body' prefix", () => {
    const body = {
      detail: [
        { loc: ["body", "price"], msg: "Input should be greater than or equal to 0", type: "greater_than_equal" },
        { loc: ["query", "step"], msg: "Field required" },
        { loc: ["body"], msg: "Expected an object" },
      ],
    };
    expect(describeError(422, body)).toBe(
      "price: Input should be greater than or equal to 0; query.step: Field required; Expected an object",
    );
  });

  it("lists the services' own 422 field errors (field/message)", () => {
    // services/common/errors.py and compat.py answer {"error", "detail": [{"field", "message"}]}
    const body = {
      error: "invalid_input",
      detail: [
        { field: "input_ratio", message: "Input should be less than or equal to 1" },
        { field: "body", message: "expected one object, got 2" },
      ],
    };
    expect(describeError(422, body)).toBe("input_ratio: Input should be less than or equal to 1; expected one object, got 2");
  });

  it("uses an OAuth error_description", () => {
    expect(describeError(400, { error: "invalid_grant", error_description: "code expired" })).toBe("Code expired");
  });

  it("falls back to words for the status when the body says nothing useful", () => {
    expect(describeError(403, null)).toBe("You are not allowed to do that.");
    expect(describeError(503, "<html>busy</html>")).toBe("The service is not ready; try again in a moment.");
    expect(describeError(401, { detail: "" })).toBe("Your session has ended; sign in again.");
    expect(describeError(422, { detail: [] })).toBe("That value is not accepted.");
    expect(describeError(418, {})).toBe("The service answered HTTP 418.");
  });
});

describe("messageOf", () => {
  it("keeps an ApiError's message", () => {
    expect(messageOf(new ApiError(409, "Already taken", "conflict"))).toBe("Already taken");
  });

  it("says an unreachable service for a TypeError (failed fetch)", () => {
    expect(messageOf(new TypeError("Failed to fetch"))).toBe("The service cannot be reached; is it running?");
  });

  it("keeps any other error's message and has words for the rest", () => {
    expect(messageOf(new Error("boom"))).toBe("boom");
    expect(messageOf(new Error(""))).toBe("Something went wrong.");
    expect(messageOf("a string")).toBe("Something went wrong.");
    expect(messageOf(undefined)).toBe("Something went wrong.");
  });
});
