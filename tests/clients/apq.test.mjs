// Automatic persisted queries with Apollo's PersistedQueryLink (issue 15 §1): the first use of
// a document sends its hash alone, the gateway answers PERSISTED_QUERY_NOT_FOUND and the link
// sends it again with the document; later uses (any client) send the hash only, GET included.
// tests/test_clients.py runs this file once the gateway speaks APQ.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

import { gateway } from "./support.mjs";

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function recordingClient({ useGETForHashedQueries = false } = {}) {
  const sent = [];
  const fetchAndRecord = (url, init) => {
    sent.push({ method: init.method, url: String(url), body: init.body ? JSON.parse(init.body) : null });
    return fetch(url, init);
  };
  const link = new PersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
    new HttpLink({ uri: gateway.uri, headers: { Authorization: `Bearer ${gateway.user}` }, fetch: fetchAndRecord }),
  );
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), sent };
}

const QUERY = gql`query ApqKpis { salesAnalytics(top: 3) { kpis { revenue orders } } }`;

test("a new hash is registered once, then the hash alone is enough", async () => {
  const first = recordingClient();
  const { data } = await first.client.query({ query: QUERY });
  assert.ok(data.salesAnalytics.kpis.revenue > 0);
  assert.equal(first.sent.length, 2);
  assert.equal(first.sent[0].body.query, undefined);
  assert.ok(first.sent[1].body.query.includes("ApqKpis"));

  const second = recordingClient({ useGETForHashedQueries: true });
  const again = await second.client.query({ query: QUERY });
  assert.deepEqual(again.data, data);
  assert.equal(second.sent.length, 1);
  assert.equal(second.sent[0].method, "GET");
  assert.ok(new URL(second.sent[0].url).searchParams.get("extensions").includes("sha256Hash"));
});
