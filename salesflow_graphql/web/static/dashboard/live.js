// The WebSocket side: one graphql-ws client (graphql-transport-ws), its status, and the live
// alerts feed, which resumes from the last alert seen (`after`) whenever the socket reconnects.

import { describeError, getToken, gql, isAdmin } from "./api.js";
import { formatShortDay, integer, money, relativeTime } from "./format.js";
import { emptyState, errorState, h, mount, segmented, skeleton, toast } from "./ui.js";

const STATUS_TEXT = {
  connecting: "Connecting",
  live: "Live",
  reconnecting: "Reconnecting",
  offline: "Offline",
  rejected: "Token rejected",
};

/**
 * The shared graphql-ws client. Non-lazy: the socket stays open (and is retried for ever, with
 * backoff) even between subscriptions, so the status pill means something.
 */
export class LiveConnection extends EventTarget {
  constructor() {
    super();
    this.status = "connecting";
    this.client = null;
  }

  start() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.client = globalThis.graphqlWs.createClient({
      url: `${scheme}//${location.host}/graphql`,
      lazy: false,
      retryAttempts: Infinity,
      // Authenticated from connection_init, read at every (re)connect.
      connectionParams: () => ({ Authorization: `Bearer ${getToken()}` }),
      // A refused token (4401/4403) will not get better by retrying.
      shouldRetry: (event) => !(event && (event.code === 4401 || event.code === 4403)),
      retryWait: (retries) =>
        new Promise((resolve) =>
          setTimeout(resolve, Math.min(500 * 2 ** retries, 10_000) + Math.random() * 500)
        ),
      onNonLazyError: (event) => {
        const refused = event && (event.code === 4401 || event.code === 4403);
        this.setStatus(refused ? "rejected" : "offline");
      },
      on: {
        connecting: (isRetry) => this.setStatus(isRetry ? "reconnecting" : "connecting"),
        connected: (_socket, _payload, wasRetry) => {
          this.setStatus("live");
          this.dispatchEvent(new CustomEvent("connected", { detail: { wasRetry } }));
        },
        closed: (event) => {
          if (this.status !== "rejected" && this.status !== "offline") this.setStatus("reconnecting");
          this.dispatchEvent(new CustomEvent("closed", { detail: event }));
        },
      },
    });
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: status }));
  }

  subscribe(query, variables, sink) {
    return this.client.subscribe({ query, variables }, sink);
  }
}

/** The status pill in the header. */
export function bindStatusPill(pill, live) {
  const render = () => {
    pill.dataset.state = live.status;
    pill.textContent = STATUS_TEXT[live.status] || live.status;
    pill.title =
      live.status === "live"
        ? "Receiving alerts live over WebSocket"
        : live.status === "rejected"
          ? "The gateway refused the token for live updates"
          : "Live updates are paused; they resume automatically";
  };
  live.addEventListener("status", render);
  render();
}

// --- alerts ---

// productSnapshot, not product: the feed shows what was true when the alert was raised, and it
// keeps working while Java (the catalogue) is down.
const ALERT_FIELDS = `id kind severity level subject metric observed expected score date
  detectedAt message revenueAtStake productId productSnapshot { sku name }`;
const RECENT = `query RecentAlerts($min: Severity!) { alertCount(minSeverity: $min)
  alerts(limit: 100, minSeverity: $min) { ${ALERT_FIELDS} } }`;
const SUBSCRIBE = `subscription LiveAlerts($min: Severity!, $after: ID) {
  alerts(minSeverity: $min, after: $after) { ${ALERT_FIELDS} } }`;
const RUN_CHECK = `mutation RunCheck { runAnomalyCheck {
  checkedSeries notified found suppressed durationSeconds alerts { id } } }`;

const KIND_TEXT = {
  SALES_SPIKE: "Sales spike",
  SALES_DROP: "Sales drop",
  STOCKOUT: "Stockout",
  STOCKOUT_RISK: "Stockout risk",
};
const SEVERITY_RANK = { LOW: 0, MEDIUM: 1, HIGH: 2, CRITICAL: 3 };
const PAGE = 30; // alerts shown at first, and added by "Show more"
const MAX_KEPT = 500; // alerts kept in the page (the oldest and least severe go first)

/** Alert ids look like "1718000000000-3": compare them as (milliseconds, sequence). */
export function compareAlertIds(a, b) {
  const parse = (id) => {
    const match = /^(\d+)(?:-(\d+))?$/.exec(String(id));
    return match ? [BigInt(match[1]), BigInt(match[2] || "0")] : null;
  };
  const [x, y] = [parse(a), parse(b)];
  if (!x || !y) return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  for (let i = 0; i < 2; i += 1) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

export class AlertsFeed {
  constructor({ card, live }) {
    this.card = card;
    this.live = live;
    this.list = card.querySelector("[data-testid=alerts-feed]");
    this.count = card.querySelector("[data-role=alert-count]");
    this.minSeverity = "LOW";
    this.order = "SEVERITY"; // or "NEWEST"
    this.limit = PAGE; // how many are shown
    this.total = 0; // alerts the gateway keeps at this severity (alertCount, then + live ones)
    this.alerts = new Map(); // id -> alert
    this.cursor = null; // the greatest id seen: `after` on (re)subscribe
    this.ready = false; // the recent alerts are loaded; subscribing may start
    this.dispose = null;
    this.generation = 0;
    this.renderControls();
    live.addEventListener("connected", () => this.subscribe());
    // graphql-ws would resubscribe with the variables it was first given; drop the
    // subscription with the socket instead, and subscribe anew with the latest cursor.
    live.addEventListener("closed", () => this.unsubscribe());
    setInterval(() => this.refreshTimes(), 30_000);
  }

  renderControls() {
    const controls = this.card.querySelector("[data-role=alert-controls]");
    const filter = segmented({
      label: "Minimum severity",
      testid: "alerts-severity",
      value: this.minSeverity,
      options: [
        { value: "LOW", label: "All" },
        { value: "MEDIUM", label: "Medium+" },
        { value: "HIGH", label: "High+" },
        { value: "CRITICAL", label: "Critical" },
      ],
      onChange: (value) => {
        this.minSeverity = value;
        this.load();
      },
    });
    const order = segmented({
      label: "Order",
      testid: "alerts-order",
      value: this.order,
      options: [
        { value: "SEVERITY", label: "Most severe" },
        { value: "NEWEST", label: "Newest" },
      ],
      onChange: (value) => {
        this.order = value;
        this.limit = PAGE;
        this.render();
      },
    });
    const run = h(
      "button",
      {
        type: "button",
        class: "btn btn-small",
        testid: "run-check",
        disabled: !isAdmin(),
        title: isAdmin() ? "Run an anomaly check now" : "Running a check needs an ADMIN token",
        onclick: () => this.runCheck(run),
      },
      "Run check"
    );
    mount(controls, filter, order, run);
    const note = this.card.querySelector("[data-role=alert-admin-note]");
    note.hidden = isAdmin();
  }

  async load() {
    const generation = ++this.generation;
    this.unsubscribe();
    this.ready = false;
    this.alerts.clear();
    this.cursor = null;
    this.limit = PAGE;
    mount(this.list, skeleton(4, { className: "feed-skeleton" }));
    try {
      const data = await gql(RECENT, { min: this.minSeverity });
      if (generation !== this.generation) return;
      for (const alert of data.alerts) this.remember(alert);
      this.total = Math.max(data.alertCount, this.alerts.size);
      this.render();
    } catch (error) {
      if (generation !== this.generation) return;
      const { title, detail } = describeError(error);
      mount(this.list, errorState({ title, detail, testid: "alerts-error", onRetry: () => this.load() }));
      return;
    }
    this.ready = true;
    if (this.live.status === "live") this.subscribe();
  }

  subscribe() {
    if (!this.ready) return; // load() subscribes once the recent alerts are in
    this.unsubscribe();
    const generation = this.generation;
    this.dispose = this.live.subscribe(
      SUBSCRIBE,
      { min: this.minSeverity, after: this.cursor },
      {
        next: ({ data, errors }) => {
          if (generation !== this.generation) return;
          if (errors?.length) {
            toast(`Live alerts: ${errors[0].message}`, "error");
            return;
          }
          if (data?.alerts) this.receive(data.alerts);
        },
        error: (error) => {
          if (generation !== this.generation) return;
          const message = Array.isArray(error) ? error[0]?.message : error?.reason || "";
          if (message) toast(`Live alerts paused: ${message} Trying again shortly.`, "error");
          this.dispose = null;
          // The server ended the subscription (say, its alert store did not answer): try again.
          setTimeout(() => {
            if (generation === this.generation && !this.dispose && this.live.status === "live") this.subscribe();
          }, 5_000);
        },
        complete: () => {},
      }
    );
    this.card.dataset.subscribed = "true";
  }

  unsubscribe() {
    this.card.dataset.subscribed = "false";
    if (this.dispose) {
      const dispose = this.dispose;
      this.dispose = null;
      dispose();
    }
  }

  remember(alert) {
    if (this.alerts.has(alert.id)) return false;
    this.alerts.set(alert.id, alert);
    if (!this.cursor || compareAlertIds(alert.id, this.cursor) > 0) this.cursor = alert.id;
    return true;
  }

  receive(alert) {
    if (!this.remember(alert)) return; // replayed twice (resume overlap): shown once
    this.total += 1;
    this.forget();
    this.render(alert.id);
  }

  /** Keep at most MAX_KEPT alerts: drop the least urgent, oldest first. */
  forget() {
    if (this.alerts.size <= MAX_KEPT) return;
    const kept = this.sorted("SEVERITY").slice(0, MAX_KEPT);
    this.alerts = new Map(kept.map((alert) => [alert.id, alert]));
  }

  /** Alerts by severity (most severe first, then newest) or newest first. */
  sorted(order = this.order) {
    const newest = (a, b) => compareAlertIds(b.id, a.id);
    const bySeverity = (a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || newest(a, b);
    return [...this.alerts.values()].sort(order === "SEVERITY" ? bySeverity : newest);
  }

  render(freshId = null) {
    const sorted = this.sorted();
    this.list.dataset.order = this.order;
    if (!sorted.length) {
      mount(this.list, emptyState("No alerts yet. New ones appear here as they are raised.", "alerts-empty"));
    } else {
      const shown = sorted.slice(0, this.limit).map((alert) => {
        const item = this.item(alert);
        if (alert.id === freshId) item.classList.add("fresh");
        return item;
      });
      const more = sorted.length - this.limit;
      const button =
        more > 0
          ? h(
              "li",
              { class: "feed-more" },
              h(
                "button",
                {
                  type: "button",
                  class: "btn btn-ghost btn-small",
                  testid: "alerts-more",
                  onclick: () => {
                    this.limit += PAGE;
                    this.render();
                  },
                },
                `Show ${integer(Math.min(more, PAGE))} more`
              )
            )
          : null;
      mount(this.list, shown, button);
    }
    this.updateCount();
  }

  updateCount() {
    const shown = Math.min(this.limit, this.alerts.size);
    this.count.dataset.shown = String(shown);
    this.count.dataset.total = String(this.total);
    this.count.textContent = shown < this.total ? `${integer(shown)} of ${integer(this.total)}` : integer(this.total);
    this.count.title =
      shown < this.total
        ? `${integer(shown)} shown of the ${integer(this.total)} alerts kept at this severity`
        : "Alerts kept at this severity";
  }

  item(alert) {
    const product = alert.productSnapshot;
    const subject = product ? product.sku : alert.level === "TOTAL" ? "Whole shop" : alert.subject;
    const meta = [
      subject,
      alert.date ? formatShortDay(alert.date) : null,
      alert.revenueAtStake ? `${money(alert.revenueAtStake)} at stake` : null,
    ].filter(Boolean);
    return h(
      "li",
      {
        class: `alert-item sev-${alert.severity.toLowerCase()}`,
        testid: "alert-item",
        dataset: { alertId: alert.id, severity: alert.severity, kind: alert.kind },
      },
      h("span", { class: "sev-dot", "aria-hidden": "true" }),
      h(
        "div",
        { class: "alert-body" },
        h(
          "div",
          { class: "alert-head" },
          h("span", { class: `badge sev-badge sev-${alert.severity.toLowerCase()}`, text: alert.severity }),
          h("span", { class: "alert-kind", text: KIND_TEXT[alert.kind] || alert.kind }),
          h("time", {
            class: "alert-time",
            datetime: alert.detectedAt,
            title: new Date(alert.detectedAt).toLocaleString(),
            text: relativeTime(alert.detectedAt),
          })
        ),
        h("p", { class: "alert-message", text: alert.message }),
        h("div", { class: "alert-meta" }, meta.map((text) => h("span", { text })))
      )
    );
  }

  refreshTimes() {
    for (const time of this.list.querySelectorAll("time.alert-time")) {
      time.textContent = relativeTime(time.getAttribute("datetime"));
    }
  }

  async runCheck(button) {
    button.disabled = true;
    button.classList.add("busy");
    try {
      const { runAnomalyCheck: run } = await gql(RUN_CHECK, {}, { java: true });
      const fresh = run.alerts.length;
      const alerts = `${integer(fresh)} new alert${fresh === 1 ? "" : "s"}`;
      toast(`Anomaly check done: ${integer(run.checkedSeries)} series, ${alerts}.`, "success");
    } catch (error) {
      const { title, detail } = describeError(error);
      toast(`${title}. ${detail}`, "error", { timeout: 8000 });
    } finally {
      button.disabled = !isAdmin();
      button.classList.remove("busy");
    }
  }
}
