// What the client tests share: the live gateway (from tests/test_clients.py), clients built
// by the README's own snippets, console capture, and a few helpers.
import assert from "node:assert/strict";
import { format } from "node:util";

import { loadDevMessages, loadErrorMessages } from "@apollo/client/dev";
import WebSocket from "ws";

import { createApolloClient } from "./readme/apollo-client.mjs";
import { createUrqlClient } from "./readme/urql-client.mjs";

// Apollo's warnings in words (a development build, as a dev server would run it).
loadDevMessages();
loadErrorMessages();

const base = process.env.GATEWAY_URL;
assert.ok(base, "GATEWAY_URL is not set: run these through tests/test_clients.py");
export const gateway = {
  base,
  uri: `${base}/graphql`,
  wsUrl: `${base.replace(/^http/, "ws")}/graphql`,
  user: process.env.USER_TOKEN,
  admin: process.env.ADMIN_TOKEN,
};

export function apollo(token = gateway.user) {
  return createApolloClient({
    uri: gateway.uri,
    wsUrl: gateway.wsUrl,
    getToken: () => token,
    webSocketImpl: WebSocket,
  });
}

export function urql(token = gateway.user) {
  return createUrqlClient({
    url: gateway.uri,
    wsUrl: gateway.wsUrl,
    getToken: () => token,
    webSocketImpl: WebSocket,
  });
}

/** Everything written to console.warn/console.error while `run` runs (and nothing printed). */
export async function consoleDuring(run) {
  const seen = [];
  const saved = { warn: console.warn, error: console.error };
  for (const level of Object.keys(saved)) {
    console[level] = (...args) => seen.push(`${level}: ${format(...args)}`);
  }
  try {
    await run();
  } finally {
    Object.assign(console, saved);
  }
  return seen;
}

/** The first `count` values of an observable (Apollo's or urql's), then unsubscribe. */
export function take(observable, count, { timeoutMs = 20_000, until = () => false } = {}) {
  return new Promise((resolve, reject) => {
    const values = [];
    let subscription = null;
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      subscription?.unsubscribe();
      if (error) reject(error);
      else resolve(values);
    };
    const timer = setTimeout(
      () => finish(new Error(`timed out after ${timeoutMs} ms with ${values.length} of ${count} values`)),
      timeoutMs,
    );
    subscription = observable.subscribe({
      next: (value) => {
        values.push(value);
        if (values.length >= count || until(value)) finish();
      },
      error: (error) => finish(error),
      complete: () => finish(),
    });
    if (done) subscription.unsubscribe();
  });
}
