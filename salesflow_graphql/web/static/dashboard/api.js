// The gateway's GraphQL API over HTTP: the token, queries, multipart uploads, and errors in words.

import { extractToken, readClaims } from "../shared/token.js";

// Shared with the self-hosted GraphiQL page: a token pasted in one works in the other.
const TOKEN_KEY = "salesflow.token";
const ENDPOINT = "/graphql";

/** Events: "unauthenticated" (token refused), "upstream" (detail: {up: bool, at: Date}). */
export const apiEvents = new EventTarget();

export class ApiError extends Error {
  constructor(message, { code = "INTERNAL", status = 0, extensions = {}, data = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.extensions = extensions;
    this.data = data;
  }
}

// --- the token: pasted once, kept for the browser session (sessionStorage) ---

export { extractToken, readClaims };

export const getToken = () => extractToken(sessionStorage.getItem(TOKEN_KEY)) || null;
export const setToken = (token) => sessionStorage.setItem(TOKEN_KEY, token);
export const clearToken = () => sessionStorage.removeItem(TOKEN_KEY);

export function currentRole() {
  const token = getToken();
  const role = token ? readClaims(token)?.role : null;
  return role === "ADMIN" ? "ADMIN" : role === "USER" ? "USER" : null;
}

export const isAdmin = () => currentRole() === "ADMIN";

// --- requests ---

function httpCode(status) {
  if (status === 401) return "UNAUTHENTICATED";
  if (status === 403) return "FORBIDDEN";
  if (status === 413) return "BAD_USER_INPUT";
  if (status === 429) return "RATE_LIMITED";
  if (status === 502) return "UPSTREAM_ERROR";
  if (status === 503 || status === 504) return "UPSTREAM_UNAVAILABLE";
  return "INTERNAL";
}

async function send(init, { java = false, signal } = {}) {
  let response;
  try {
    response = await fetch(ENDPOINT, { ...init, signal, credentials: "omit", cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("The gateway did not answer. Check that it is running.", { code: "NETWORK" });
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON: handled below */
  }
  const errors = body?.errors;
  if (errors?.length) {
    const first = errors[0];
    const error = new ApiError(first.message || "Request failed.", {
      code: first.extensions?.code || httpCode(response.status),
      status: response.status,
      extensions: first.extensions || {},
      data: body.data ?? null,
    });
    announce(error);
    throw error;
  }
  if (!response.ok || !body || !body.data) {
    const error = new ApiError(`The gateway answered HTTP ${response.status}.`, {
      code: httpCode(response.status),
      status: response.status,
    });
    announce(error);
    throw error;
  }
  if (java) apiEvents.dispatchEvent(new CustomEvent("upstream", { detail: { up: true } }));
  return body.data;
}

function announce(error) {
  if (error.code === "UNAUTHENTICATED") {
    apiEvents.dispatchEvent(new CustomEvent("unauthenticated", { detail: error }));
  } else if (error.code === "UPSTREAM_UNAVAILABLE") {
    apiEvents.dispatchEvent(new CustomEvent("upstream", { detail: { up: false, error } }));
  }
}

function authHeaders(token) {
  const value = token ?? getToken();
  return value ? { authorization: `Bearer ${value}` } : {};
}

/**
 * Run a query or mutation. `java: true` marks operations that need the Java service, so that
 * their success clears the "Java is unavailable" banner.
 */
export function gql(query, variables = {}, { java = false, signal, token } = {}) {
  return send(
    {
      method: "POST",
      headers: { "content-type": "application/json", ...authHeaders(token) },
      body: JSON.stringify({ query, variables }),
    },
    { java, signal }
  );
}

/**
 * A mutation with one file, per the GraphQL multipart request spec: the file goes to
 * `variables.<fileVariable>`. The preflight header is the gateway's CSRF guard for multipart.
 */
export function upload(query, variables, file, { fileVariable = "file", java = true } = {}) {
  const form = new FormData();
  form.append("operations", JSON.stringify({ query, variables: { ...variables, [fileVariable]: null } }));
  form.append("map", JSON.stringify({ 0: [`variables.${fileVariable}`] }));
  form.append("0", file, file.name);
  return send(
    {
      method: "POST",
      headers: { ...authHeaders(), "apollo-require-preflight": "true" },
      body: form,
    },
    { java }
  );
}

/** An error in words for a person: {title, detail}. */
export function describeError(error) {
  if (!(error instanceof ApiError)) {
    return { title: "Something went wrong", detail: error?.message || String(error) };
  }
  switch (error.code) {
    case "UPSTREAM_UNAVAILABLE":
      return {
        title: "Java is unavailable",
        detail: "The SalesFlow service did not answer in time, so there is nothing new to show.",
      };
    case "UPSTREAM_ERROR":
      return { title: "The SalesFlow service answered with an error", detail: error.message };
    case "UNAUTHENTICATED":
      return { title: "Your token was not accepted", detail: error.message };
    case "FORBIDDEN":
      return { title: "This needs an ADMIN token", detail: error.message };
    case "RATE_LIMITED":
      return {
        title: "Too many requests",
        detail: `Try again in ${error.extensions.retryAfter ?? "a few"} s.`,
      };
    case "NETWORK":
      return { title: "The gateway is unreachable", detail: error.message };
    case "BAD_USER_INPUT":
      return { title: "Please check the input", detail: error.message };
    case "NOT_FOUND":
      return { title: "Not found", detail: error.message };
    case "QUERY_TOO_COMPLEX":
      return { title: "The request was too large", detail: error.message };
    default:
      return { title: "Something went wrong", detail: error.message };
  }
}
