// apollo-client.mjs: Apollo Client 4 with uploads, subscriptions and a normalized cache.
import { ApolloClient, ApolloLink, InMemoryCache } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import UploadHttpLink from "apollo-upload-client/UploadHttpLink.mjs";
import { createClient } from "graphql-ws";

// The analytics objects have no id: let every query add its fields to the cached object
// instead of replacing it (no "Cache data may be lost" warning, no refetch loop between
// two components that select different fields of the same root field).
export const typePolicies = {
  SalesAnalytics: { merge: true },
  SalesKpis: { merge: true },
  StockAnalytics: { merge: true },
  StockKpis: { merge: true },
  DateRange: { merge: true },
};

// uri: "https://gateway.example/graphql" (or "/graphql" on the same origin); wsUrl: the
// same with wss://. getToken() returns the current access token. In Node pass
// webSocketImpl (`import WebSocket from "ws"`); browsers have their own.
export function createApolloClient({ uri, wsUrl, getToken, webSocketImpl }) {
  const auth = () => ({ Authorization: `Bearer ${getToken()}` });
  const http = new SetContextLink(({ headers }) => ({ headers: { ...headers, ...auth() } })).concat(
    // Multipart requests need this header: the gateway's CSRF guard.
    new UploadHttpLink({ uri, headers: { "Apollo-Require-Preflight": "true" } }),
  );
  // connectionParams is a function, so that a reconnect sends the current token.
  const ws = new GraphQLWsLink(createClient({ url: wsUrl, connectionParams: auth, webSocketImpl }));
  const isSubscription = ({ query }) => {
    const main = getMainDefinition(query);
    return main.kind === "OperationDefinition" && main.operation === "subscription";
  };
  return new ApolloClient({
    link: ApolloLink.split(isSubscription, ws, http),
    cache: new InMemoryCache({ typePolicies }),
  });
}
