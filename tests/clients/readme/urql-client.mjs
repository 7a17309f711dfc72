// urql-client.mjs: @urql/core 6 (File variables go out as multipart requests by themselves).
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient as createWSClient } from "graphql-ws";

// url, wsUrl, getToken, webSocketImpl: as for Apollo above.
export function createUrqlClient({ url, wsUrl, getToken, webSocketImpl }) {
  const auth = () => ({ Authorization: `Bearer ${getToken()}` });
  const ws = createWSClient({ url: wsUrl, connectionParams: auth, webSocketImpl });
  return new Client({
    url,
    fetchOptions: () => ({ headers: { ...auth(), "Apollo-Require-Preflight": "true" } }),
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || "" };
          return { subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }) };
        },
      }),
    ],
  });
}
