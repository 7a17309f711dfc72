// Errors that come with an HTTP status (401, 413, 429) reach Apollo Client 4 with their codes:
// it reads a non-2xx body only in the application/graphql-response+json media type (GraphQL
// over HTTP). tests/test_clients.py runs this file once the gateway answers in that type.
import assert from "node:assert/strict";
import { test } from "node:test";

import { CombinedGraphQLErrors, gql } from "@apollo/client";

import { apollo, gateway } from "./support.mjs";

const KPIS = gql`query Kpis($note: String!) { salesAnalytics { kpis { revenue } } product(sku: $note) { sku } }`;

async function failure(run) {
  const error = await run().then(() => null, (failed) => failed);
  assert.ok(CombinedGraphQLErrors.is(error), `expected GraphQL errors, got ${error}`);
  return error.errors[0];
}

test("401: a refused token is UNAUTHENTICATED", async () => {
  const client = apollo("not-a-token");
  const error = await failure(() => client.query({ query: KPIS, variables: { note: "x" } }));
  assert.equal(error.extensions.code, "UNAUTHENTICATED");
  client.stop();
});

test("413: a body over the limit is BAD_USER_INPUT, PAYLOAD_TOO_LARGE", async () => {
  const client = apollo();
  const note = "x".repeat(1_100_000);
  const error = await failure(() => client.query({ query: KPIS, variables: { note } }));
  assert.equal(error.extensions.code, "BAD_USER_INPUT");
  assert.equal(error.extensions.reason, "PAYLOAD_TOO_LARGE");
  client.stop();
});

test("429: over the rate limit is RATE_LIMITED with retryAfter", { skip: !process.env.LIMITED_TOKEN }, async () => {
  // LIMITED_TOKEN: a user whose budget the gateway of this run keeps tiny.
  const client = apollo(process.env.LIMITED_TOKEN);
  let error = null;
  for (let i = 0; i < 20 && !error; i += 1) {
    error = await client
      .query({ query: KPIS, variables: { note: `n${i}` }, fetchPolicy: "network-only" })
      .then(() => null, (failed) => failed);
  }
  assert.ok(CombinedGraphQLErrors.is(error), String(error));
  assert.equal(error.errors[0].extensions.code, "RATE_LIMITED");
  assert.ok(error.errors[0].extensions.retryAfter > 0);
  client.stop();
});
