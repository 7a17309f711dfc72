// @urql/core 6 in Node as the README sets it up (readme/urql-client.mjs): graphql-ws needs
// webSocketImpl there.
import assert from "node:assert/strict";
import { test } from "node:test";

import { gql } from "@urql/core";

import { gateway, take, urql } from "./support.mjs";

/** urql's sources take a callback: adapt one to take(). */
const observable = (source) => ({ subscribe: ({ next }) => source.subscribe(next) });

test("queries, and errors with their codes", async () => {
  const client = urql();
  const ok = await client
    .query(gql`{ salesAnalytics { kpis { revenue } previousKpis { revenue } } }`, {})
    .toPromise();
  assert.equal(ok.error, undefined);
  assert.ok(ok.data.salesAnalytics.kpis.revenue > 0);
  const bad = await client.query(gql`{ salesAnalytics(top: 0) { kpis { revenue } } }`, {}).toPromise();
  assert.deepEqual(
    bad.error.graphQLErrors.map((e) => e.extensions.code),
    ["BAD_USER_INPUT"],
  );
});

test("a File variable goes out as a multipart upload", async () => {
  const client = urql(gateway.admin);
  const file = new File(["SKU,Name,Price\nURQL-0001,Urql Lamp,3.5\n"], "products.csv", { type: "text/csv" });
  const result = await client
    .mutation(gql`mutation($file: Upload!) { importExcel(file: $file) { status validRows } }`, { file })
    .toPromise();
  assert.equal(result.error, undefined, String(result.error));
  assert.equal(result.data.importExcel.status, "VALID");
  assert.equal(result.data.importExcel.validRows, 1);
});

test("subscriptions over graphql-ws replay the alerts after an id", async () => {
  const client = urql();
  const recent = await client.query(gql`{ alerts(limit: 2) { id } }`, {}).toPromise();
  const [newest, older] = recent.data.alerts.map((alert) => alert.id);
  const results = await take(
    observable(client.subscription(gql`subscription($after: ID) { alerts(after: $after) { id } }`, { after: older })),
    1,
  );
  assert.equal(results[0].data.alerts.id, newest);
});
