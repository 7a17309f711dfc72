// The access token in whatever a person pasted, read one way by the dashboard and GraphiQL:
// a bare JWT, "Bearer <jwt>", {"Authorization": "Bearer <jwt>"}, or the whole line that
// `salesflow-graphql serve` prints (`USER  {"Authorization": "Bearer eyJ…"}`).

// A JWT's header is base64url JSON, so it starts with "eyJ" ('{"').
const JWT = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;

/** The JWT inside `text`, or "" when there is none. */
export function extractToken(text) {
  const found = JWT.exec(String(text ?? ""));
  return found ? found[0] : "";
}

/** The token's claims (role, username, exp), read without verifying: the gateway verifies. */
export function readClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = part + "=".repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === "object" && claims ? claims : null;
  } catch {
    return null;
  }
}
