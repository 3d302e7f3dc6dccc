/** Errors from the services, in words a person can act on. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string = "error",
  ) {
    super(message);
  }
}

const STATUS_WORDS: Record<number, string> = {
  401: "Your session has ended; sign in again.",
  403: "You are not allowed to do that.",
  404: "Not found.",
  409: "That conflicts with the current state.",
  413: "That is too large.",
  422: "That value is not accepted.",
  429: "Too many attempts; wait a moment and try again.",
  503: "The service is not ready; try again in a moment.",
};

/** The services answer `{"error", "detail"}`; detail is a sentence or a list of field errors. */
export function describeError(status: number, body: unknown): string {
  if (typeof body === "object" && body !== null) {
    const detail = (body as { detail?: unknown }).detail;
    if (typeof detail === "string" && detail) return capitalise(detail);
    if (Array.isArray(detail) && detail.length) {
      return detail
        .map((item) => {
          // The services say {field, message}; FastAPI's own validation says {loc, msg}.
          const entry = (item ?? {}) as { loc?: unknown; msg?: string; field?: string; message?: string };
          const path = typeof entry.field === "string" ? [entry.field] : Array.isArray(entry.loc) ? entry.loc : [];
          const field = path.filter((part) => part !== "body").join(".");
          const message = entry.message ?? entry.msg ?? "invalid";
          return field ? `${field}: ${message}` : message;
        })
        .join("; ");
    }
    const description = (body as { error_description?: unknown }).error_description;
    if (typeof description === "string" && description) return capitalise(description);
  }
  return STATUS_WORDS[status] ?? `The service answered HTTP ${status}.`;
}

/** Anything thrown, as a sentence. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return "The service cannot be reached; is it running?";
  if (error instanceof Error && error.message) return error.message;
  return "Something went wrong.";
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
