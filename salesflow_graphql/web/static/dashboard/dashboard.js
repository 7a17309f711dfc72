// The SalesFlow reference dashboard: sign-in, range, KPIs, trend, rankings, stock, forecast, and
// the wiring of the live alerts feed, the import card and the report card.

import {
  apiEvents,
  clearToken,
  currentRole,
  describeError,
  getToken,
  gql,
  extractToken,
  readClaims,
  setToken,
} from "./api.js";
import { Chart, drawForecast, drawTrend } from "./charts.js";
import { addDays, dayCount, formatDateTime, formatDayRange, formatRange, formatTime } from "./format.js";
import { UploadCard } from "./imports.js";
import { AlertsFeed, LiveConnection, bindStatusPill } from "./live.js";
import {
  renderCategories,
  renderForecastSummary,
  renderKpis,
  renderStock,
  renderTopProducts,
} from "./panels.js";
import { ReportsCard } from "./reports.js";
import { $, $$, chartSkeleton, emptyState, errorState, h, mount, segmented, skeleton, staleNote } from "./ui.js";

// --- queries ---

// One query per range: the previous period's KPIs (for every tile's change) come with it.
const SALES = `query Sales($range: DateRangeInput, $granularity: Granularity!) {
  salesAnalytics(range: $range, granularity: $granularity, top: 8) {
    range { start end days } previousRange { start end days }
    kpis { revenue orders unitsSold averageOrderValue itemsPerOrder distinctProducts previousRevenue
      revenueChange }
    previousKpis { revenue orders unitsSold averageOrderValue }
    trend { period start end days complete revenue orders unitsSold }
    topProducts { product { id sku name category } revenue unitsSold orders shareOfRevenue }
    categories { category revenue unitsSold shareOfRevenue } } }`;
const STOCK = `query Stock($lead: Int!) { stockAnalytics(lookbackDays: 30, leadTimeDays: $lead) {
  asOf kpis { productCount totalUnits stockValue stockCost outOfStock lowStock reorderNeeded deadStock
    averageDaysOfCover }
  items { product { id sku name category } stockQuantity daysOfCover averageDailySales status
    suggestedReorderQuantity lastSaleDate } } }`;
const FORECAST = `query Forecast($input: ForecastInput!) { forecast(input: $input) {
  level key metric model trainedAt history { date value } points { date value lower upper }
  backtest { folds mase baselineMase smape intervalCoverage } } }`;
const WHOAMI = `query WhoAmI { alerts(limit: 1) { id } }`;

// --- state ---

const state = {
  started: false,
  preset: 30, // days, or "custom"
  range: null, // {start, end} asked for; null: the gateway's default (30 days ending today)
  shownRange: null, // the range of the figures on screen
  serverToday: null, // the gateway's business date, learnt from the first answer
  granularity: null, // null: chosen from the range's length
  leadTime: 7,
  forecast: { level: "TOTAL", category: null, metric: "REVENUE", horizon: 14 },
  categories: [],
  upstreamDown: false,
  stale: new Map(), // card -> time of the cached figures it shows
  failed: new Set(), // cards showing an error (or cached figures): reloaded when Java is back
  forecastSeen: false, // the forecast card has been on screen (it trains a model: load lazily)
};
const seq = { sales: 0, stock: 0, forecast: 0 };
let trendChart;
let forecastChart;
let live;
let feed;
let reports;
let retryTimer = null;

// --- cached answers: shown (marked stale) while Java is unavailable ---

const CACHE_PREFIX = "salesflow.dashboard.cache:";
const FALLBACK_CODES = new Set(["UPSTREAM_UNAVAILABLE", "UPSTREAM_ERROR", "NETWORK", "RATE_LIMITED"]);

function remember(key, data) {
  try {
    sessionStorage.setItem(CACHE_PREFIX + key, JSON.stringify({ at: Date.now(), data }));
  } catch {
    /* storage full: the cache is a nicety */
  }
}

function recall(key) {
  try {
    return JSON.parse(sessionStorage.getItem(CACHE_PREFIX + key) || "null");
  } catch {
    return null;
  }
}

/** Drop every cached answer (another token may not see the same figures). */
function forgetCache() {
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith(CACHE_PREFIX)) sessionStorage.removeItem(key);
  }
}

/** {data, staleAt}: fresh data, or the last good answer when the failure is Java's or the network's. */
async function cached(key, run) {
  try {
    const data = await run();
    remember(key, data);
    return { data, staleAt: null };
  } catch (error) {
    const hit = FALLBACK_CODES.has(error.code) ? recall(key) : null;
    if (hit) return { data: hit.data, staleAt: hit.at, error };
    throw error;
  }
}

/**
 * A card's outcome: fresh figures, cached ones (staleAt) or none (failed). Cards with
 * cached figures or none reload once Java answers again; the banner names the oldest cache.
 */
function markCard(card, { staleAt = null, failed = false } = {}) {
  if (failed || staleAt) state.failed.add(card);
  else state.failed.delete(card);
  if (staleAt) state.stale.set(card, staleAt);
  else state.stale.delete(card);
  renderBanner();
}

// --- sign-in ---

const dialog = $("[data-testid=token-dialog]");

function askToken(reason) {
  const input = $("[data-testid=token-input]");
  const error = $("[data-testid=token-error]");
  const why = $("[data-role=token-reason]");
  why.hidden = !reason;
  why.textContent = reason || "";
  error.textContent = "";
  input.value = "";
  if (!dialog.open) dialog.showModal();
  input.focus();
  return new Promise((resolve) => {
    const form = $("[data-role=token-form]");
    const submit = $("[data-testid=token-submit]");
    const onSubmit = async (event) => {
      event.preventDefault();
      const token = extractToken(input.value);
      const claims = readClaims(token);
      if (!input.value.trim()) {
        error.textContent = "Paste a token first.";
        return;
      }
      if (!token || !claims || !claims.role) {
        error.textContent = "This does not look like a SalesFlow access token (a JWT with a role).";
        return;
      }
      if (claims.exp && claims.exp * 1000 < Date.now()) {
        error.textContent = `This token expired on ${formatDateTime(claims.exp * 1000)}.`;
        return;
      }
      submit.disabled = true;
      submit.classList.add("busy");
      error.textContent = "";
      try {
        await gql(WHOAMI, {}, { token });
      } catch (failure) {
        if (failure.code === "UNAUTHENTICATED" || failure.code === "NETWORK") {
          error.textContent = `${describeError(failure).title}: ${failure.message}`;
          submit.disabled = false;
          submit.classList.remove("busy");
          return;
        }
        // Any other answer means the gateway took the token.
      }
      submit.disabled = false;
      submit.classList.remove("busy");
      form.removeEventListener("submit", onSubmit);
      setToken(token);
      dialog.close();
      resolve(token);
    };
    form.addEventListener("submit", onSubmit);
  });
}

dialog.addEventListener("cancel", (event) => event.preventDefault()); // no dashboard without a token

function renderUser() {
  const claims = readClaims(getToken()) || {};
  const role = currentRole() || "USER";
  const name = claims.username || claims.sub || "Signed in";
  const chip = $("[data-testid=user-chip]");
  chip.hidden = false;
  $("[data-role=user-name]", chip).textContent = name;
  $("[data-role=user-initial]", chip).textContent = String(name).replace(/^\+/, "").charAt(0).toUpperCase();
  const badge = $("[data-testid=user-role]", chip);
  badge.textContent = role;
  badge.dataset.role = role;
  badge.title =
    role === "ADMIN"
      ? "ADMIN: may also import spreadsheets and run anomaly checks"
      : "USER: every view and report; importing and on-demand checks need an ADMIN token";
  document.body.dataset.role = role;
}

// --- range ---

function autoGranularity(days) {
  if (days <= 92) return "DAY";
  if (days <= 400) return "WEEK";
  return "MONTH";
}

function currentDays() {
  if (state.range) return dayCount(state.range.start, state.range.end);
  return state.shownRange?.days || 30;
}

function today() {
  return state.serverToday || new Date().toLocaleDateString("sv"); // sv: YYYY-MM-DD
}

function selectPreset(days) {
  for (const button of $$("[data-role=range-presets] .segment")) {
    button.setAttribute("aria-pressed", String(button.dataset.days === String(days)));
  }
}

function setupRangePicker() {
  const form = $("[data-testid=custom-range]");
  const start = $("[data-testid=range-start]");
  const end = $("[data-testid=range-end]");
  const error = $("[data-role=range-error]");
  const customButton = $("[data-testid=range-custom]");
  for (const button of $$("[data-role=range-presets] .segment")) {
    button.addEventListener("click", () => {
      const days = button.dataset.days;
      if (days === "custom") {
        const opening = form.hidden;
        form.hidden = !opening;
        customButton.setAttribute("aria-expanded", String(opening));
        if (opening) {
          const shown = state.shownRange || { start: addDays(today(), -29), end: today() };
          start.value = shown.start;
          end.value = shown.end;
          start.max = end.max = today();
          error.textContent = "";
          start.focus();
        }
        return;
      }
      form.hidden = true;
      customButton.setAttribute("aria-expanded", "false");
      state.preset = Number(days);
      selectPreset(days);
      state.range = { start: addDays(today(), 1 - state.preset), end: today() };
      state.granularity = null;
      loadSales();
    });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!start.value || !end.value) {
      error.textContent = "Choose both dates.";
      return;
    }
    if (start.value > end.value) {
      error.textContent = "The start must not be after the end.";
      return;
    }
    const days = dayCount(start.value, end.value);
    if (days > 1095) {
      error.textContent = "Choose at most 3 years (1,095 days).";
      return;
    }
    error.textContent = "";
    form.hidden = true;
    customButton.setAttribute("aria-expanded", "false");
    state.preset = "custom";
    selectPreset("custom");
    state.range = { start: start.value, end: end.value };
    state.granularity = null;
    loadSales();
  });
}

function renderRangeLabel(range) {
  const label = $("[data-testid=range-label]");
  label.textContent = formatRange(range.start, range.end);
  label.dataset.start = range.start;
  label.dataset.end = range.end;
}

// --- sales: KPIs, trend, top products, categories ---

const granularityControl = segmented({
  label: "Trend granularity",
  testid: "trend-granularity",
  value: "DAY",
  options: [
    { value: "DAY", label: "Day" },
    { value: "WEEK", label: "Week" },
    { value: "MONTH", label: "Month" },
  ],
  onChange: (value) => {
    state.granularity = value;
    loadSales();
  },
});

function salesLoading() {
  for (const tile of $$(".kpi")) {
    tile.classList.add("loading");
    tile.classList.remove("stale");
    mount($("[data-role=value]", tile), h("span", { class: "skeleton-line w-value" }));
    mount($("[data-role=change]", tile), h("span", { class: "skeleton-line w-change" }));
    delete $("[data-role=value]", tile).dataset.value;
  }
  mount($("[data-testid=trend-chart]"), chartSkeleton());
  trendChart.destroy();
  mount($("[data-testid=top-products]"), skeleton(7, { className: "table-skeleton" }));
  mount($("[data-testid=categories]"), skeleton(7, { className: "bars-skeleton" }));
}

function salesFailed(error) {
  const { title, detail } = describeError(error);
  const retry = () => loadSales();
  for (const tile of $$(".kpi")) {
    tile.classList.remove("loading");
    mount($("[data-role=value]", tile), h("span", { class: "kpi-missing", text: "–" }));
    mount($("[data-role=change]", tile), h("span", { class: "muted", text: title }));
  }
  mount($("[data-testid=trend-chart]"), errorState({ title, detail, testid: "trend-error", onRetry: retry }));
  mount($("[data-testid=top-products]"), errorState({ title, detail, testid: "top-products-error", onRetry: retry }));
  mount($("[data-testid=categories]"), errorState({ title, detail, testid: "categories-error", compact: true }));
}

async function loadSales() {
  const id = ++seq.sales;
  const range = state.range;
  const granularity = state.granularity || autoGranularity(currentDays());
  granularityControl.select(granularity);
  if (range) renderRangeLabel(range);
  salesLoading();
  let answer;
  try {
    answer = await cached(`sales:${JSON.stringify([range, granularity])}`, () =>
      gql(SALES, { range, granularity }, { java: true })
    );
  } catch (error) {
    if (id !== seq.sales) return;
    markCard("sales", { failed: true });
    salesFailed(error);
    return;
  }
  if (id !== seq.sales) return;
  const sales = answer.data.salesAnalytics;
  if (!range) state.serverToday = state.serverToday || sales.range.end;
  state.shownRange = sales.range;
  markCard("sales", { staleAt: answer.staleAt });
  renderRangeLabel(sales.range);
  renderKpis(sales, answer.staleAt);
  renderTrend(sales, granularity, answer.staleAt);
  renderTopProducts(sales.topProducts);
  renderCategories(sales.categories);
  setForecastCategories(sales.categories.map((c) => c.category));
  reports?.showRange();
  $("[data-testid=updated-at]").textContent = answer.staleAt
    ? `Figures from ${formatTime(answer.staleAt)} (cached)`
    : `Updated ${formatTime(Date.now())}`;
}

function renderTrend(sales, granularity, staleAt) {
  const unit = { DAY: "day", WEEK: "week", MONTH: "month" }[granularity];
  const range = formatRange(sales.range.start, sales.range.end);
  $("[data-role=trend-sub]").textContent = `Revenue and orders per ${unit} · ${range}`;
  const el = $("[data-testid=trend-chart]");
  mount(el);
  if (!sales.trend.some((p) => p.revenue > 0 || p.orders > 0)) {
    mount(el, emptyState("No sales in this range.", "trend-empty"));
    return;
  }
  drawTrend(trendChart, sales.trend, granularity);
  const cut = sales.trend.filter((p) => !p.complete);
  if (cut.length) {
    const spans = cut.map((p) => `${formatDayRange(p.start, p.end)}, ${p.days} ${p.days === 1 ? "day" : "days"}`);
    el.append(
      h("p", {
        class: "chart-note",
        testid: "trend-partial-note",
        text: `Dashed, hollow points: ${unit}s the range cuts short (${spans.join("; ")}).`,
      })
    );
  }
  if (staleAt) el.prepend(staleNote(`Cached figures from ${formatTime(staleAt)}: Java is unavailable.`));
}

// --- stock ---

const leadTimeControl = segmented({
  label: "Supplier lead time",
  testid: "lead-time",
  value: 7,
  options: [
    { value: 7, label: "7 d" },
    { value: 14, label: "14 d" },
    { value: 30, label: "30 d" },
  ],
  onChange: (value) => {
    state.leadTime = Number(value);
    loadStock();
  },
});

async function loadStock() {
  const id = ++seq.stock;
  const el = $("[data-testid=stock]");
  mount(el, h("div", { class: "stock-loading" }, skeleton(5), skeleton(7, { className: "table-skeleton" })));
  let answer;
  try {
    answer = await cached(`stock:${state.leadTime}`, () => gql(STOCK, { lead: state.leadTime }, { java: true }));
  } catch (error) {
    if (id !== seq.stock) return;
    markCard("stock", { failed: true });
    const { title, detail } = describeError(error);
    mount(el, errorState({ title, detail, testid: "stock-error", onRetry: () => loadStock() }));
    return;
  }
  if (id !== seq.stock) return;
  markCard("stock", { staleAt: answer.staleAt });
  renderStock(answer.data.stockAnalytics, answer.staleAt);
}

// --- forecast ---

const forecastLevel = segmented({
  label: "Forecast level",
  testid: "forecast-level",
  value: "TOTAL",
  options: [
    { value: "TOTAL", label: "Whole shop", testid: "forecast-level-total" },
    { value: "CATEGORY", label: "Category", testid: "forecast-level-category" },
  ],
  onChange: (value) => {
    state.forecast.level = value;
    $("[data-testid=forecast-category]").disabled = value !== "CATEGORY";
    scheduleForecast();
  },
});
const forecastMetric = segmented({
  label: "Forecast metric",
  testid: "forecast-metric",
  value: "REVENUE",
  options: [
    { value: "REVENUE", label: "Revenue" },
    { value: "UNITS", label: "Units" },
  ],
  onChange: (value) => {
    state.forecast.metric = value;
    scheduleForecast();
  },
});
const forecastHorizon = segmented({
  label: "Forecast horizon",
  testid: "forecast-horizon",
  value: 14,
  options: [
    { value: 14, label: "14 d" },
    { value: 28, label: "28 d" },
    { value: 60, label: "60 d" },
  ],
  onChange: (value) => {
    state.forecast.horizon = Number(value);
    scheduleForecast();
  },
});

function setForecastCategories(names) {
  const select = $("[data-testid=forecast-category]");
  const known = new Set(state.categories);
  if (names.length === known.size && names.every((n) => known.has(n))) return;
  state.categories = [...names];
  const keep = state.forecast.category && names.includes(state.forecast.category);
  state.forecast.category = keep ? state.forecast.category : names[0] || null;
  mount(select, names.map((name) => h("option", { value: name, text: name })));
  select.value = state.forecast.category || "";
  select.disabled = state.forecast.level !== "CATEGORY";
}

let forecastTimer = null;

/** Controls changed: load once they settle (each forecast may train a model). */
function scheduleForecast() {
  clearTimeout(forecastTimer);
  forecastTimer = setTimeout(loadForecast, 250);
}

async function loadForecast() {
  if (!state.forecastSeen) return; // loaded when the card scrolls into view
  const id = ++seq.forecast;
  const { level, category, metric, horizon } = state.forecast;
  const summary = $("[data-testid=forecast-summary]");
  const el = $("[data-testid=forecast-chart]");
  if (level === "CATEGORY" && !category) {
    mount(summary);
    mount(el, emptyState("Choose a category once the sales figures have loaded.", "forecast-empty"));
    return;
  }
  const input = {
    level,
    key: level === "CATEGORY" ? category : null,
    metric,
    horizonDays: horizon,
    historyDays: 365,
    intervalLevel: 0.9,
  };
  const card = $("[data-testid=forecast-card]");
  card.dataset.state = "loading";
  forecastChart.destroy();
  mount(
    summary,
    h(
      "span",
      { class: "muted", role: "status" },
      h("span", { class: "spinner", "aria-hidden": "true" }),
      "Training or fetching the model… this can take a few seconds."
    )
  );
  mount(el, chartSkeleton());
  let answer;
  try {
    answer = await cached(`forecast:${JSON.stringify(input)}`, () => gql(FORECAST, { input }, { java: true }));
  } catch (error) {
    if (id !== seq.forecast) return;
    markCard("forecast", { failed: true });
    card.dataset.state = "error";
    const { title, detail } = describeError(error);
    mount(summary);
    mount(el, errorState({ title, detail, testid: "forecast-error", onRetry: () => loadForecast() }));
    return;
  }
  if (id !== seq.forecast) return;
  markCard("forecast", { staleAt: answer.staleAt });
  card.dataset.state = "ready";
  const forecast = answer.data.forecast;
  renderForecastSummary(forecast, answer.staleAt);
  mount(el);
  drawForecast(forecastChart, forecast);
}


// --- the Java-unavailable banner ---

function renderBanner() {
  const banner = $("[data-testid=upstream-banner]");
  banner.hidden = !state.upstreamDown;
  document.body.classList.toggle("upstream-down", state.upstreamDown);
  if (!state.upstreamDown) return;
  const times = [...state.stale.values()];
  const detail = times.length
    ? `Showing the figures loaded at ${formatTime(Math.min(...times))} (cached) until it answers again.`
    : "Showing nothing until it answers again; live alerts still work.";
  $("[data-role=banner-title]", banner).textContent = "Java is unavailable";
  $("[data-role=banner-detail]", banner).textContent = ` — ${detail} Retrying every 30 s.`;
  banner.dataset.cached = String(times.length > 0);
}

const LOADERS = { sales: () => loadSales(), stock: () => loadStock(), forecast: () => loadForecast() };

function reloadAnalytics() {
  for (const load of Object.values(LOADERS)) load();
}

apiEvents.addEventListener("upstream", (event) => {
  const down = !event.detail.up;
  if (down === state.upstreamDown) return;
  state.upstreamDown = down;
  clearInterval(retryTimer);
  retryTimer = down ? setInterval(reloadAnalytics, 30_000) : null;
  renderBanner();
  if (!down) {
    // Java answers again: refresh what failed or shows cached figures (after the answer that
    // brought this news has been shown, so that its own card is not loaded twice).
    setTimeout(() => {
      for (const card of [...state.failed]) LOADERS[card]();
    }, 0);
  }
});

/** The forecast trains a model: ask for it only once its card is (nearly) on screen. */
function watchForecastCard() {
  const card = $("[data-testid=forecast-card]");
  const observer = new IntersectionObserver(
    (entries) => {
      if (!entries.some((entry) => entry.isIntersecting)) return;
      observer.disconnect();
      state.forecastSeen = true;
      loadForecast();
    },
    { rootMargin: "120px 0px" }
  );
  observer.observe(card);
  mount($("[data-testid=forecast-chart]"), chartSkeleton());
  mount($("[data-testid=forecast-summary]"));
}

apiEvents.addEventListener("unauthenticated", async () => {
  if (!state.started || dialog.open) return;
  await askToken("The gateway no longer accepts your token (it may have expired). Paste a new one.");
  forgetCache();
  location.reload();
});

// --- start ---

function setupStatic() {
  setupRangePicker();
  $("[data-testid=range-label]").textContent = "Last 30 days";
  mount($("[data-role=granularity]"), granularityControl);
  mount($("[data-role=lead-time]"), leadTimeControl);
  mount($("[data-role=forecast-level]"), forecastLevel);
  mount($("[data-role=forecast-metric]"), forecastMetric);
  mount($("[data-role=forecast-horizon]"), forecastHorizon);
  $("[data-testid=forecast-category]").addEventListener("change", (event) => {
    state.forecast.category = event.target.value;
    scheduleForecast();
  });
  $("[data-testid=upstream-retry]").addEventListener("click", reloadAnalytics);
  $("[data-testid=change-token]").addEventListener("click", () => {
    clearToken();
    forgetCache();
    location.reload();
  });
  trendChart = new Chart($("[data-testid=trend-chart]"), { height: 270 });
  forecastChart = new Chart($("[data-testid=forecast-chart]"), { height: 280 });
}

function start() {
  state.started = true;
  renderUser();
  live = new LiveConnection();
  bindStatusPill($("[data-testid=live-status]"), live);
  feed = new AlertsFeed({ card: $("[data-testid=alerts-card]"), live });
  reports = new ReportsCard($("[data-testid=report-card]"), { live, getRange: () => state.shownRange });
  new UploadCard($("[data-testid=upload-card]"), {
    onCommitted: () => {
      loadStock();
      loadSales();
    },
  });
  live.start();
  feed.load();
  watchForecastCard();
  reloadAnalytics();
  document.body.dataset.ready = "true";
  // A handle for debugging from the console and for the browser tests (e.g. dropping the socket).
  globalThis.salesflowDashboard = Object.freeze({ live, feed, reports, state });
}

async function main() {
  setupStatic();
  if (!getToken() || !readClaims(getToken())) await askToken();
  start();
}

main();
