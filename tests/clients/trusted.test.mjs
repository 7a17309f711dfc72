// Trusted documents with Apollo Client 4, as the README shows them: against a gateway started
// with SALESFLOW_PERSISTED_QUERIES=trusted and the manifest `salesflow-graphql
// persisted-manifest` wrote (TRUSTED_MANIFEST), the README's link sends a manifest
// operation's id alone and it runs; a document that is not in the manifest is refused with
// FORBIDDEN, reason PERSISTED_QUERY_NOT_IN_LIST. tests/test_clients.py runs this file.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from "@apollo/client";

import { trustedDocumentsLink } from "./readme/trusted-documents.mjs";
import { apollo, gateway } from "./support.mjs";

assert.ok(process.env.TRUSTED_MANIFEST, "TRUSTED_MANIFEST is not set: run through tests/test_clients.py");
const loadManifest = async () => JSON.parse(await readFile(process.env.TRUSTED_MANIFEST, "utf8"));

test("a manifest operation runs by its id alone", async () => {
  const manifest = await loadManifest();
  const dashboard = manifest.operations.find((operation) => operation.name === "Dashboard");
  const sent = [];
  const http = new HttpLink({
    uri: gateway.uri,
    headers: { Authorization: `Bearer ${gateway.user}` },
    fetch: (url, init) => {
      sent.push(JSON.parse(init.body));
      return fetch(url, init);
    },
  });
  const client = new ApolloClient({
    link: trustedDocumentsLink(loadManifest).concat(http),
    cache: new InMemoryCache(),
  });
  const { data, error } = await client.query({ query: gql(dashboard.body) });
  assert.equal(error, undefined);
  assert.ok(data.salesAnalytics.kpis.revenue > 0);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].query, undefined, "the id alone, not the document");
  assert.equal(sent[0].extensions.persistedQuery.sha256Hash, dashboard.id);
  client.stop();
});

async function refusal(document) {
  const client = apollo();
  const error = await client.query({ query: gql(document) }).then(() => null, (failed) => failed);
  client.stop();
  assert.ok(CombinedGraphQLErrors.is(error), `expected GraphQL errors, got ${error}`);
  return error.errors[0].extensions;
}

test("an arbitrary document is refused: FORBIDDEN, PERSISTED_QUERY_NOT_IN_LIST", async () => {
  const refused = await refusal("query Adhoc { salesAnalytics { kpis { revenue } } }");
  assert.deepEqual(refused, { code: "FORBIDDEN", reason: "PERSISTED_QUERY_NOT_IN_LIST" });
});

test("a manifest operation's name on another document is refused too", async () => {
  const refused = await refusal("query Dashboard { salesAnalytics { kpis { revenue orders } } }");
  assert.deepEqual(refused, { code: "FORBIDDEN", reason: "PERSISTED_QUERY_NOT_IN_LIST" });
});
