// JSON over the platform's REST API with the session cookie; writes carry Django's CSRF token.
import type { Bootstrap } from "./types";

export class ApiError extends Error {
  constructor(public status: number, public body: unknown) {
    super(describeError(status, body));
  }
}

/** A readable sentence from DRF's error bodies ({"detail": …} or {"field": ["…"]}). */
export function describeError(status: number, body: unknown): string {
  if (body && typeof body === "object") {
    const record = body as Record<string, unknown>;
    if (typeof record.detail === "string") return record.detail;
    const parts = Object.entries(record).map(([key, value]) => `${key}: ${flatten(value)}`);
    if (parts.length) return parts.join("; ");
  }
  if (typeof body === "string" && body) return body.slice(0, 300);
  return `The server answered ${status}.`;
}

function flatten(value: unknown): string {
  if (Array.isArray(value)) return value.map(flatten).join(" ");
  if (value && typeof value === "object") {
    return Object.entries(value as Record<string, unknown>).map(([key, inner]) => `${key}: ${flatten(inner)}`).join("; ");
  }
  return String(value);
}

let bootstrap: Bootstrap | null = null;

export function getBootstrap(): Bootstrap {
  if (!bootstrap) {
    const element = document.getElementById("cardiocrowd-bootstrap");
    bootstrap = element ? (JSON.parse(element.textContent ?? "{}") as Bootstrap)
      : { user: { username: "", is_staff: false }, projects: [], csrf_token: "" };
  }
  return bootstrap;
}

function csrfToken(): string {
  const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : getBootstrap().csrf_token;
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  body?: unknown;
  form?: FormData;
  signal?: AbortSignal;
}

/** The parsed JSON of a response; null for 204. Throws ApiError for 4xx/5xx. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? (options.body !== undefined || options.form ? "POST" : "GET");
  const headers: Record<string, string> = { Accept: "application/json" };
  let body: BodyInit | undefined;
  if (options.form) {
    body = options.form;
  } else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(path, { method, headers, body, credentials: "same-origin", signal: options.signal });
  if (response.status === 204) return null as T;
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text for the error message
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed as T;
}

/** An upload with progress (fetch has none): resolves with the parsed JSON. */
export function upload<T>(path: string, form: FormData, onProgress: (share: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    request.onload = () => {
      let parsed: unknown = request.responseText;
      try {
        parsed = JSON.parse(request.responseText);
      } catch {
        // keep the text
      }
      if (request.status >= 400) reject(new ApiError(request.status, parsed));
      else resolve(parsed as T);
    };
    request.onerror = () => reject(new ApiError(0, "The upload did not reach the server."));
    request.send(form);
  });
}
