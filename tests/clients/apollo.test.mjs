// Apollo Client 4, apollo-upload-client 19 and graphql-ws 6 as the README sets them up
// (readme/apollo-client.mjs), against the live gateway.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApolloClient, CombinedGraphQLErrors, InMemoryCache, ServerError, gql } from "@apollo/client";
import UploadHttpLink from "apollo-upload-client/UploadHttpLink.mjs";

import { apollo, consoleDuring, gateway, take } from "./support.mjs";

// Two components asking for different fields of the same root fields.
const DASHBOARD = gql`
  query DashboardCard {
    salesAnalytics(granularity: WEEK) {
      range { start end }
      kpis { revenue orders unitsSold }
      previousKpis { revenue orders }
      trend { start end complete revenue }
      topProducts { product { id sku name description price } revenue }
    }
    stockAnalytics { kpis { outOfStock lowStock reorderNeeded } }
  }
`;
const REVENUE_TILE = gql`
  query RevenueTile {
    salesAnalytics(granularity: WEEK) { kpis { revenue } previousKpis { revenue } }
    stockAnalytics { kpis { outOfStock } }
  }
`;
const PRODUCT = gql`
  query ProductPage($sku: String!) { product(sku: $sku) { id sku name description price stockQuantity } }
`;
const ALERTS = gql`
  query AlertList {
    alerts(limit: 100) {
      id severity productId
      product { id sku description price stockQuantity }
      productSnapshot { sku price stockQuantity }
    }
  }
`;

test("queries share a normalized cache without warnings and without losing data", async () => {
  const client = apollo();
  const warnings = await consoleDuring(async () => {
    const first = await client.query({ query: DASHBOARD });
    // A tile that polls (or is cache-and-network) writes its smaller answer over the first.
    await client.query({ query: REVENUE_TILE, fetchPolicy: "network-only" });
    // The first component's data is still whole in the cache: no refetch loop.
    const cached = client.readQuery({ query: DASHBOARD });
    assert.deepEqual(cached, first.data);

    // An alert's product is the catalogue's: caching it must not blank the product page.
    const { data: alerts } = await client.query({ query: ALERTS });
    const about = alerts.alerts.find((alert) => alert.product?.description);
    assert.ok(about, "some alert is about a product with a description");
    const { data: page } = await client.query({ query: PRODUCT, variables: { sku: about.product.sku } });
    assert.equal(page.product.description, about.product.description);
    await client.query({ query: ALERTS, fetchPolicy: "network-only" });
    const again = client.readQuery({ query: PRODUCT, variables: { sku: about.product.sku } });
    assert.deepEqual(again, page);
    assert.equal(about.productId, about.product.id);
    assert.ok(about.productSnapshot.sku === about.product.sku && !("id" in about.productSnapshot));
  });
  assert.deepEqual(warnings, []);
  client.stop();
});

test("without the type policies Apollo warns (so the check above can fail)", async () => {
  const link = apollo().link;
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  const warnings = await consoleDuring(async () => {
    await client.query({ query: DASHBOARD });
    await client.query({ query: REVENUE_TILE, fetchPolicy: "network-only" });
  });
  assert.ok(
    warnings.some((line) => line.includes("Cache data may be lost when replacing the salesAnalytics field")),
    warnings.join("\n"),
  );
  client.stop();
});

test("GraphQL errors arrive with their codes", async () => {
  const client = apollo();
  const codesOf = async (run) => {
    const error = await run().then(() => null, (failure) => failure);
    assert.ok(CombinedGraphQLErrors.is(error), String(error));
    return error.errors.map((e) => e.extensions?.code);
  };
  const query = (document) => () => client.query({ query: document, fetchPolicy: "network-only" });
  assert.deepEqual(await codesOf(query(gql`{ salesAnalytics(top: 0) { kpis { revenue } } }`)), [
    "BAD_USER_INPUT",
  ]);
  const unknown = gql`{ forecast(input: {level: CATEGORY, key: "No Such Category"}) { model } }`;
  assert.deepEqual(await codesOf(query(unknown)), ["NOT_FOUND"]);
  const check = gql`mutation { runAnomalyCheck { checkedSeries } }`;
  assert.deepEqual(await codesOf(() => client.mutate({ mutation: check })), ["FORBIDDEN"]);
  // errorPolicy "all": the data that could be had, and the errors beside it.
  const partial = await client.query({
    query: gql`{ product(sku: "ELE-00001") { sku } salesAnalytics(top: 0) { kpis { revenue } } }`,
    errorPolicy: "all",
    fetchPolicy: "network-only",
  });
  assert.ok(CombinedGraphQLErrors.is(partial.error));
  assert.equal(partial.error.errors[0].extensions.code, "BAD_USER_INPUT");
  client.stop();
});

const DRY_RUN = gql`
  mutation DryRun($file: Upload!) {
    importExcel(file: $file, kind: PRODUCTS) { status totalRows validRows columns { header field } }
  }
`;
const productsCsv = () =>
  new File(["SKU,Name,Price\nCLI-0001,Client Lamp,12.50\nCLI-0002,Client Desk,99\n"], "products.csv", {
    type: "text/csv",
  });

test("uploads go out as multipart requests with the preflight header", async () => {
  const client = apollo(gateway.admin);
  const { data } = await client.mutate({ mutation: DRY_RUN, variables: { file: productsCsv() } });
  assert.equal(data.importExcel.status, "VALID");
  assert.equal(data.importExcel.validRows, 2);
  assert.deepEqual(
    data.importExcel.columns.map((c) => c.field),
    ["sku", "name", "price"],
  );
  client.stop();

  // The same upload without the header is refused: the gateway's CSRF guard.
  const bare = new ApolloClient({
    link: new UploadHttpLink({ uri: gateway.uri, headers: { Authorization: `Bearer ${gateway.admin}` } }),
    cache: new InMemoryCache(),
  });
  const refused = await bare
    .mutate({ mutation: DRY_RUN, variables: { file: productsCsv() } })
    .then(() => null, (error) => error);
  assert.ok(refused, "a multipart request without Apollo-Require-Preflight must fail");
  assert.ok(ServerError.is(refused) || CombinedGraphQLErrors.is(refused), String(refused));
  if (ServerError.is(refused)) assert.equal(refused.statusCode, 400);
  bare.stop();
});

test("the alerts subscription replays what was missed over graphql-ws", async () => {
  const client = apollo();
  const { data } = await client.query({ query: gql`{ alerts(limit: 3) { id } }` });
  assert.equal(data.alerts.length, 3, "tests/test_clients.py runs an anomaly check first");
  const [newest, middle, oldest] = data.alerts.map((alert) => alert.id);
  const subscription = client.subscribe({
    query: gql`
      subscription Missed($after: ID) {
        alerts(after: $after) { id kind productId product { id sku } productSnapshot { sku } }
      }
    `,
    variables: { after: oldest },
  });
  const results = await take(subscription, 2);
  assert.deepEqual(
    results.map((result) => result.data.alerts.id),
    [middle, newest],
  );
  client.stop();
});

test("the reportJob subscription follows a job to COMPLETED and its link downloads", async () => {
  const client = apollo();
  const { data } = await client.mutate({
    mutation: gql`mutation { generateReport(input: {kind: SALES, format: XLSX}) { id status } }`,
  });
  const { id } = data.generateReport;
  const updates = await take(
    client.subscribe({
      query: gql`
        subscription Job($id: ID!) { reportJob(id: $id) { id status progress downloadUrl } }
      `,
      variables: { id },
    }),
    50,
    { timeoutMs: 60_000, until: (result) => ["COMPLETED", "FAILED"].includes(result.data?.reportJob.status) },
  );
  const last = updates.at(-1).data.reportJob;
  assert.equal(last.status, "COMPLETED");
  const download = await fetch(new URL(last.downloadUrl, gateway.base));
  assert.equal(download.status, 200);
  assert.equal(Buffer.from(await download.arrayBuffer()).subarray(0, 2).toString(), "PK");
  client.stop();
});
