/*
 * SalesFlow's GraphiQL: queries and mutations over fetch (POST /graphql), subscriptions
 * over graphql-ws (graphql-transport-ws, same origin), the explorer plugin, and a token
 * field. The token lives in sessionStorage (this tab, until it closes) and goes out as
 * `Authorization: Bearer <token>` and in the WebSocket's connection_init payload. A
 * header typed in GraphiQL's Headers editor wins over the token field.
 *
 * Globals from /static/vendor: React, ReactDOM, GraphiQL, GraphiQLPluginExplorer, graphqlWs.
 * The page's config (endpoint, example tabs) is the JSON data block #sf-config.
 * A module: the token is read from a paste by the dashboard's own function (shared/token.js).
 */
import { extractToken, readClaims } from "/static/shared/token.js";

(function () {
  "use strict";

  var TOKEN_KEY = "salesflow.token"; // shared with the dashboard (same origin, same tab)

  var config = JSON.parse(document.getElementById("sf-config").textContent || "{}");
  var endpoint = new URL(config.endpoint || "/graphql", window.location.href);
  var wsUrl = (endpoint.protocol === "https:" ? "wss://" : "ws://") + endpoint.host + endpoint.pathname;

  var form = document.getElementById("sf-token-form");
  var input = document.getElementById("sf-token-input");
  var forget = document.getElementById("sf-token-forget");
  var status = document.getElementById("sf-token-status");
  var notice = document.getElementById("sf-notice");

  // ---- the token ----------------------------------------------------------------

  function storedToken() {
    try {
      return window.sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return memoryToken;
    }
  }
  var memoryToken = "";

  function storeToken(token) {
    memoryToken = token;
    try {
      if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
      else window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      /* storage disabled: the token lasts as long as the page */
    }
  }

  function setNotice(parts) {
    notice.textContent = "";
    if (!parts) {
      notice.hidden = true;
      return;
    }
    parts.forEach(function (part) {
      if (typeof part === "string") notice.appendChild(document.createTextNode(part));
      else {
        var code = document.createElement("code");
        code.textContent = part.code;
        notice.appendChild(code);
      }
    });
    notice.hidden = false;
  }

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = "sf-status" + (kind ? " sf-" + kind : "");
  }

  function describeToken(token, refusal) {
    forget.hidden = !token;
    if (!token) {
      input.placeholder = "Paste a bearer token (JWT)";
      setStatus("No token", "bad");
      setNotice([
        "No token: queries answer 401, and the docs, autocompletion and explorer stay empty. Paste a token from ",
        { code: "salesflow-graphql serve" },
        " or ",
        { code: "salesflow-graphql token --role USER" },
        " above; it stays in this browser tab only.",
      ]);
      return;
    }
    input.placeholder = "Token \u2026" + token.slice(-6) + " set \u00b7 paste another to replace it";
    var c = readClaims(token) || {};
    var who = [c.username || c.sub, c.role].filter(Boolean).join(" \u00b7 ");
    var expired = typeof c.exp === "number" && c.exp * 1000 <= Date.now();
    if (refusal) {
      setStatus((who ? who + ": " : "") + "refused", "bad");
      setNotice(["The gateway refused this token: " + refusal + " Paste a fresh one."]);
    } else if (expired) {
      setStatus((who ? who + ": " : "") + "expired", "bad");
      setNotice([
        "This token expired at " + new Date(c.exp * 1000).toLocaleString() + ". Get a new one with ",
        { code: "salesflow-graphql token --role USER" },
        ".",
      ]);
    } else {
      var until = typeof c.exp === "number" ? " \u00b7 until " + new Date(c.exp * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
      setStatus((who || "token set") + until, "ok");
      setNotice(null);
    }
  }

  // ---- the fetcher --------------------------------------------------------------

  function findHeader(headers, name) {
    var wanted = name.toLowerCase();
    for (var key in headers) {
      if (Object.prototype.hasOwnProperty.call(headers, key) && key.toLowerCase() === wanted) return headers[key];
    }
    return undefined;
  }

  function requestHeaders(token, edited) {
    var headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    Object.keys(edited || {}).forEach(function (key) {
      Object.keys(headers).forEach(function (existing) {
        if (existing.toLowerCase() === key.toLowerCase()) delete headers[existing];
      });
      headers[key] = String(edited[key]);
    });
    return headers;
  }

  /**
   * The operation to run and its type. GraphiQL can hand over the operation name of the tab
   * it just left (its state lags a tab switch); a name the document does not define falls
   * back to the document's only operation, and the name sent is corrected to match.
   */
  function resolveOperation(params) {
    var graphql = GraphiQL.GraphQL;
    try {
      var parsed = graphql.parse(params.query);
      var operation = params.operationName ? graphql.getOperationAST(parsed, params.operationName) : null;
      if (!operation) operation = graphql.getOperationAST(parsed);
      if (!operation) return { params: params, type: null };
      var name = operation.name ? operation.name.value : undefined;
      return {
        params: { query: params.query, variables: params.variables, operationName: name },
        type: operation.operation,
      };
    } catch (e) {
      return { params: params, type: null }; // the server explains a syntax error best
    }
  }

  var socket = null;
  var socketAuth = null;

  function wsClient(authorization) {
    if (socket && socketAuth === authorization) return socket;
    if (socket) socket.dispose();
    socketAuth = authorization;
    socket = graphqlWs.createClient({
      url: wsUrl,
      lazy: true,
      connectionParams: authorization ? { Authorization: authorization } : {},
      retryAttempts: 5,
      // 4xxx closes are the server's verdict (4403: no valid token): retrying cannot help.
      shouldRetry: function (event) {
        return !(event && typeof event.code === "number" && event.code >= 4000 && event.code < 5000);
      },
    });
    return socket;
  }

  function closedMessage(event) {
    var code = event && event.code;
    var text = "The subscription's WebSocket closed" + (code ? " (" + code + (event.reason ? " " + event.reason : "") + ")" : "") + ".";
    if (code === 4403 || code === 4401) text += " The gateway needs a valid token: set one in the Token field.";
    return { errors: [{ message: text, extensions: { code: code === 4403 || code === 4401 ? "UNAUTHENTICATED" : "WEBSOCKET_CLOSED" } }] };
  }

  function subscribe(params, authorization) {
    return {
      subscribe: function (observer) {
        var done = false;
        var dispose = wsClient(authorization).subscribe(
          { query: params.query, variables: params.variables || undefined, operationName: params.operationName || undefined },
          {
            next: function (value) { observer.next(value); },
            error: function (error) {
              if (done) return;
              done = true;
              if (Array.isArray(error)) observer.next({ errors: error });
              else if (error && typeof error.code === "number") observer.next(closedMessage(error));
              else observer.next({ errors: [{ message: String((error && error.message) || error) }] });
              observer.complete();
            },
            complete: function () {
              if (done) return;
              done = true;
              observer.complete();
            },
          }
        );
        return { unsubscribe: function () { done = true; dispose(); } };
      },
    };
  }

  function makeFetcher(token) {
    return function fetcher(params, options) {
      var headers = requestHeaders(token, options && options.headers);
      var resolved = resolveOperation(params);
      params = resolved.params;
      if (resolved.type === "subscription") {
        return subscribe(params, findHeader(headers, "authorization") || "");
      }
      headers["Content-Type"] = "application/json";
      headers.Accept = "application/graphql-response+json, application/json";
      return window
        .fetch(endpoint.href, { method: "POST", headers: headers, body: JSON.stringify(params), credentials: "omit" })
        .then(function (response) {
          return response.text().then(function (text) {
            var body;
            try {
              body = JSON.parse(text);
            } catch (e) {
              body = { errors: [{ message: "HTTP " + response.status + ": " + text.slice(0, 300) }] };
            }
            if (response.status === 401 && token && !findHeader(options && options.headers, "authorization")) {
              var first = body && body.errors && body.errors[0];
              describeToken(token, (first && first.message) || "HTTP 401.");
            }
            return body;
          });
        });
    };
  }

  // ---- GraphiQL -----------------------------------------------------------------

  var explorer = GraphiQLPluginExplorer.explorerPlugin({ showAttribution: false });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  var tabs = Array.isArray(config.examples) && config.examples.length ? config.examples : undefined;
  // GraphiQL 3 fills the editors from its "graphiql:query"/"graphiql:variables" keys, which
  // it writes only on edits: the first tab would open without its variables and, on the next
  // load, the tab matching neither would be duplicated. Point them at the tab that opens.
  (function syncEditorsWithTheOpeningTab() {
    try {
      var storage = window.localStorage;
      var state = JSON.parse(storage.getItem("graphiql:tabState") || "null");
      var tab = state && Array.isArray(state.tabs) ? state.tabs[state.activeTabIndex] : tabs && tabs[0];
      if (!tab) return;
      ["query", "variables"].forEach(function (key) {
        if (tab[key]) storage.setItem("graphiql:" + key, tab[key]);
        else storage.removeItem("graphiql:" + key);
      });
    } catch (e) {
      /* no storage: GraphiQL keeps its tabs in memory */
    }
  })();

  function render(token) {
    input.value = "";
    describeToken(token);
    root.render(
      React.createElement(GraphiQL, {
        fetcher: makeFetcher(token),
        plugins: [explorer],
        defaultTabs: tabs,
        shouldPersistHeaders: false,
        isHeadersEditorEnabled: true,
        inputValueDeprecation: true,
      })
    );
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var token = extractToken(input.value);
    if (!token) {
      setStatus("That is not a token (expected a JWT: xxxxx.yyyyy.zzzzz)", "bad");
      input.focus();
      return;
    }
    storeToken(token);
    render(token);
  });

  forget.addEventListener("click", function () {
    storeToken("");
    render("");
  });

  render(storedToken());
})();
