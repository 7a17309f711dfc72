// Renderers of the analytics cards: KPI tiles, top products, categories, stock, forecast summary.
// They take the API's answers and fill their card; loading and errors are dashboard.js's job.

import {
  change,
  decimal,
  decimal2,
  formatDateTime,
  formatRange,
  formatTime,
  integer,
  money,
  percent,
} from "./format.js";
import { $, $$, emptyState, h, mount, staleNote } from "./ui.js";

export const KPI_FORMAT = {
  revenue: money,
  orders: integer,
  unitsSold: integer,
  averageOrderValue: money,
};

const CATEGORY_COLORS = [
  "#1F4E79",
  "#2A9D8F",
  "#E9C46A",
  "#F4A261",
  "#E76F51",
  "#7A9E7E",
  "#6D597A",
  "#4F86C6",
  "#B5838D",
];
const UNCATEGORIZED_COLOR = "#98A2B3";

// The words of the status definitions (StockStatus): REORDER means days of cover below the
// lead time, so it is not called "Reorder" here, where "Reorder needed" (the API's
// reorderNeeded) already counts LOW_STOCK and REORDER together.
const STATUS_TEXT = {
  OUT_OF_STOCK: "Out of stock",
  LOW_STOCK: "Low stock",
  REORDER: "Low cover",
  DEAD_STOCK: "Dead stock",
  OK: "OK",
};
const STATUS_TITLE = {
  OUT_OF_STOCK: "No stock left",
  LOW_STOCK: "Stock at or below the product's low-stock threshold",
  REORDER: "Days of cover below the supplier lead time",
  DEAD_STOCK: "In stock, but no sale in the last 30 days",
  OK: "None of the above",
};
const STATUS_ORDER = ["OUT_OF_STOCK", "LOW_STOCK", "REORDER", "DEAD_STOCK", "OK"];
const NEEDS_STOCK = new Set(["OUT_OF_STOCK", "LOW_STOCK", "REORDER"]);

const staleText = (what, at) => `Cached ${what} from ${formatTime(at)}: Java is unavailable.`;

// --- small building blocks ---

/** A table: columns [{label, class}], rows already built as <tr>. */
function table(columns, rows, testid) {
  return h(
    "table",
    { class: "table", testid },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class, text: c.label })))),
    h("tbody", {}, rows)
  );
}

/** A product's name over its sku and category. */
function productCell(product) {
  return h(
    "td",
    { class: "product-cell" },
    h("span", { class: "product-name", text: product.name }),
    h("span", { class: "product-meta", text: [product.sku, product.category].filter(Boolean).join(" · ") })
  );
}

/** label/value pairs as a definition list. */
function statList(className, testid, stats) {
  return h(
    "dl",
    { class: className, testid },
    stats.map(([label, value, key]) =>
      h("div", { class: "stat", dataset: { kpi: key } }, h("dt", { text: label }), h("dd", { text: value }))
    )
  );
}

// --- KPI tiles ---

/** The tiles and each one's change against the previous period (from the same answer). */
export function renderKpis(sales, staleAt) {
  const previous = sales.previousKpis;
  for (const tile of $$(".kpi")) {
    const key = tile.dataset.kpi;
    const value = sales.kpis[key];
    const valueEl = $("[data-role=value]", tile);
    tile.classList.remove("loading");
    tile.classList.toggle("stale", Boolean(staleAt));
    valueEl.dataset.value = String(value);
    valueEl.textContent = KPI_FORMAT[key](value);
    if (key === "revenue") {
      const { revenueChange, previousRevenue } = sales.kpis;
      renderChange(tile, revenueChange, sales.previousRange, previousRevenue, money);
    } else if (!previous) {
      mount($("[data-role=change]", tile), h("span", { class: "muted", text: "No comparison available" }));
    } else {
      const before = previous[key];
      const ratio = before ? value / before - 1 : null;
      renderChange(tile, ratio, sales.previousRange, before, KPI_FORMAT[key]);
    }
    if (staleAt) tile.title = staleText("figure", staleAt);
    else tile.removeAttribute("title");
  }
}

function renderChange(tile, ratio, previousRange, previousValue, format) {
  const el = $("[data-role=change]", tile);
  const period = formatRange(previousRange.start, previousRange.end);
  if (ratio == null) {
    mount(el, h("span", { class: "muted", text: `Nothing to compare in ${period}` }));
    el.dataset.change = "";
    return;
  }
  const direction = Math.abs(ratio) < 0.0005 ? "flat" : ratio > 0 ? "up" : "down";
  const arrow = { up: "\u25B2", down: "\u25BC", flat: "\u25CF" }[direction];
  el.dataset.change = String(ratio);
  mount(
    el,
    h(
      "span",
      { class: `delta ${direction}`, title: `Previous period: ${format(previousValue)}` },
      `${arrow} ${change(ratio)}`
    ),
    h("span", { class: "muted", text: ` vs ${period}` })
  );
}

// --- rankings ---

export function renderTopProducts(top) {
  const el = $("[data-testid=top-products]");
  if (!top.length) {
    mount(el, emptyState("No products sold in this range.", "top-products-empty"));
    return;
  }
  const maxShare = Math.max(...top.map((p) => p.shareOfRevenue), 0.0001);
  const rows = top.map((row, i) => {
    const bar = h("span", { class: "share-fill" });
    bar.style.width = `${(row.shareOfRevenue / maxShare) * 100}%`;
    return h(
      "tr",
      { dataset: { sku: row.product.sku }, testid: "top-product" },
      h("td", { class: "rank", text: String(i + 1) }),
      productCell(row.product),
      h("td", { class: "num", text: integer(row.unitsSold) }),
      h("td", { class: "num strong", text: money(row.revenue) }),
      h(
        "td",
        { class: "share-col" },
        h("span", { class: "share-track" }, bar),
        h("span", { class: "share-text", text: percent(row.shareOfRevenue) })
      )
    );
  });
  const columns = [
    { label: "#", class: "rank" },
    { label: "Product" },
    { label: "Units", class: "num" },
    { label: "Revenue", class: "num" },
    { label: "Share", class: "share-col" },
  ];
  mount(el, table(columns, rows, "top-products-table"));
}

export function renderCategories(categories) {
  const el = $("[data-testid=categories]");
  if (!categories.length) {
    mount(el, emptyState("No category sold in this range.", "categories-empty"));
    return;
  }
  const max = Math.max(...categories.map((c) => c.shareOfRevenue), 0.0001);
  const rows = categories.map((c, i) => {
    const fill = h("span", { class: "bar-fill" });
    fill.style.width = `${(c.shareOfRevenue / max) * 100}%`;
    fill.style.background =
      c.category === "Uncategorized" ? UNCATEGORIZED_COLOR : CATEGORY_COLORS[i % CATEGORY_COLORS.length];
    return h(
      "li",
      { class: "bar-row", dataset: { category: c.category }, testid: "category" },
      h(
        "div",
        { class: "bar-label" },
        h("span", { class: "bar-name", text: c.category }),
        h(
          "span",
          { class: "bar-value" },
          h("strong", { text: money(c.revenue) }),
          h("span", { class: "muted", text: percent(c.shareOfRevenue) })
        )
      ),
      h("span", { class: "bar-track" }, fill)
    );
  });
  mount(el, h("ul", { class: "bars" }, rows));
}

// --- stock ---

function statusBar(counts, total) {
  const label = STATUS_ORDER.map((s) => `${STATUS_TEXT[s]} ${counts[s]}`).join(", ");
  const bar = h("div", { class: "status-bar", testid: "stock-status-bar", role: "img", "aria-label": label });
  for (const status of STATUS_ORDER) {
    if (!counts[status]) continue;
    const part = h("span", {
      class: `status-seg st-${status.toLowerCase()}`,
      title: `${STATUS_TEXT[status]}: ${counts[status]}`,
    });
    part.style.flexGrow = String(counts[status] / total);
    bar.append(part);
  }
  return bar;
}

function statusLegend(counts) {
  return h(
    "ul",
    { class: "status-legend" },
    STATUS_ORDER.map((s) =>
      h(
        "li",
        { dataset: { status: s }, title: STATUS_TITLE[s] },
        h("span", { class: `dot st-${s.toLowerCase()}` }),
        h("span", { text: STATUS_TEXT[s] }),
        h("strong", { text: integer(counts[s]) })
      )
    )
  );
}

function reorderTable(items) {
  const columns = [
    { label: "Product" },
    { label: "Status" },
    { label: "In stock", class: "num" },
    { label: "Sold / day", class: "num" },
    { label: "Days of cover", class: "num" },
    { label: "Suggested order", class: "num" },
  ];
  const rows = items.map((item) =>
    h(
      "tr",
      { testid: "reorder-item", dataset: { sku: item.product.sku, status: item.status } },
      productCell(item.product),
      h(
        "td",
        {},
        h("span", { class: `badge st-badge st-${item.status.toLowerCase()}`, text: STATUS_TEXT[item.status] })
      ),
      h("td", { class: "num", text: integer(item.stockQuantity) }),
      h("td", { class: "num", text: decimal(item.averageDailySales) }),
      h("td", { class: "num", text: decimal(item.daysOfCover) }),
      h("td", { class: "num strong", text: integer(item.suggestedReorderQuantity) })
    )
  );
  return h("div", { class: "table-scroll reorder-scroll" }, table(columns, rows, "reorder-list"));
}

export function renderStock(stock, staleAt) {
  const { kpis, items } = stock;
  $("[data-role=stock-sub]").textContent =
    `Cover from the last 30 days of sales · as of ${formatDateTime(stock.asOf)}`;
  const counts = Object.fromEntries(STATUS_ORDER.map((s) => [s, 0]));
  for (const item of items) counts[item.status] += 1;
  const stats = [
    ["Stock value", money(kpis.stockValue), "stockValue"],
    ["At cost", money(kpis.stockCost), "stockCost"],
    ["Products", integer(kpis.productCount), "productCount"],
    ["Units in stock", integer(kpis.totalUnits), "totalUnits"],
    ["Reorder needed", integer(kpis.reorderNeeded), "reorderNeeded"],
    ["Avg. days of cover", decimal(kpis.averageDaysOfCover), "averageDaysOfCover"],
  ];
  // Most urgent first, as the API orders them.
  const reorder = items.filter((i) => i.suggestedReorderQuantity > 0 || NEEDS_STOCK.has(i.status));
  mount(
    $("[data-testid=stock]"),
    staleAt ? staleNote(staleText("figures", staleAt)) : null,
    h(
      "div",
      { class: "stock-summary" },
      statList("stat-grid", "stock-kpis", stats),
      statusBar(counts, items.length || 1),
      statusLegend(counts)
    ),
    h(
      "div",
      { class: "reorder" },
      h(
        "h3",
        { class: "sub-title" },
        "Restock list ",
        h("span", { class: "count", testid: "restock-count", text: integer(reorder.length) })
      ),
      h("p", {
        class: "card-sub restock-sub",
        testid: "restock-breakdown",
        text: `${integer(counts.OUT_OF_STOCK)} out of stock + ${integer(kpis.reorderNeeded)} reorder needed`,
      }),
      reorder.length ? reorderTable(reorder) : emptyState("Nothing to reorder at this lead time.", "reorder-empty")
    )
  );
}

// --- forecast ---

export function renderForecastSummary(forecast, staleAt) {
  const revenue = forecast.metric === "REVENUE";
  const days = forecast.points.length;
  const expected = forecast.points.reduce((sum, p) => sum + p.value, 0);
  const what = forecast.level === "TOTAL" ? "Whole shop" : forecast.key;
  $("[data-role=forecast-sub]").textContent =
    `${what} · daily ${revenue ? "revenue" : "units"}, last 12 weeks and the next ${days} days ` +
    "with a 90% interval";
  const { backtest } = forecast;
  const chips = [
    [`Next ${days} days`, revenue ? money(expected) : `${integer(expected)} units`, "expected"],
    ["Model", forecast.model, "model"],
    backtest
      ? ["Backtest MASE", `${decimal2(backtest.mase)} (naive ${decimal2(backtest.baselineMase)})`, "mase"]
      : null,
    backtest ? ["Interval coverage", percent(backtest.intervalCoverage), "coverage"] : null,
    ["Trained", formatTime(forecast.trainedAt), "trained"],
  ].filter(Boolean);
  mount(
    $("[data-testid=forecast-summary]"),
    staleAt ? staleNote(staleText("forecast", staleAt)) : null,
    h(
      "dl",
      { class: "chips" },
      chips.map(([label, value, key]) =>
        h("div", { class: "chip-stat", dataset: { key } }, h("dt", { text: label }), h("dd", { text: value }))
      )
    )
  );
}
