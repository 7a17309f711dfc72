// uPlot charts: the revenue trend and the forecast with its interval band. Sized to their
// container (ResizeObserver), x ticks on the data's own days, Intl-formatted values.

import {
  compact,
  dayToSeconds,
  decimal,
  formatDay,
  formatDayRange,
  formatShortDay,
  integer,
  isoDay,
  money,
  moneyCompact,
} from "./format.js";

const COLORS = {
  primary: "#1F4E79",
  accent: "#2A9D8F",
  orders: "#D9892B",
  grid: "#EAECF0",
  axis: "#667085",
  today: "#98A2B3",
  band: "rgba(42, 157, 143, 0.16)",
  bandEdge: "rgba(42, 157, 143, 0.45)",
};
const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif';

const secondsToIso = (seconds) => isoDay(new Date(seconds * 1000));

/** A uPlot chart living in `el`, redrawn on new data and resized with its container. */
export class Chart {
  constructor(el, { height = 260 } = {}) {
    this.el = el;
    this.height = height;
    this.plot = null;
    this.observer = new ResizeObserver(() => this.fit());
    this.observer.observe(el);
  }

  width() {
    return Math.max(240, Math.floor(this.el.clientWidth));
  }

  draw(options, data) {
    this.destroy();
    this.el.replaceChildren();
    // The legend shows the hovered point, and the latest one when nothing is hovered.
    const last = Math.max(0, lastIndex(data));
    const restLegend = (u) => {
      if (u.cursor.idx == null) u.setLegend({ idx: last });
    };
    const hooks = { ...(options.hooks || {}) };
    hooks.ready = [...(hooks.ready || []), restLegend];
    hooks.setCursor = [...(hooks.setCursor || []), restLegend];
    this.plot = new globalThis.uPlot(
      { ...options, hooks, width: this.width(), height: this.height },
      data,
      this.el
    );
  }

  fit() {
    if (this.plot && Math.abs(this.plot.width - this.width()) > 1) {
      this.plot.setSize({ width: this.width(), height: this.height });
    }
  }

  destroy() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}

/** The last x index where some series has a value (the latest actual or forecast point). */
function lastIndex(data) {
  for (let i = data[0].length - 1; i >= 0; i -= 1) {
    if (data.slice(1).some((series) => series[i] != null)) return i;
  }
  return -1;
}

/** Ticks on data points, thinned so labels stay about `gap` CSS pixels apart. */
function dataSplits(gap = 76) {
  return (u) => {
    const xs = u.data[0];
    if (!xs.length) return [];
    const width = u.bbox.width / (globalThis.uPlot.pxRatio || 1);
    const step = Math.max(1, Math.ceil(xs.length / Math.max(1, Math.floor(width / gap))));
    const offset = (xs.length - 1) % step; // keep the last point labelled
    return xs.filter((_, i) => i % step === offset);
  };
}

function xAxis() {
  return {
    stroke: COLORS.axis,
    font: FONT,
    grid: { show: false },
    ticks: { show: true, stroke: COLORS.grid, width: 1, size: 4 },
    splits: dataSplits(),
    values: (u, splits) => splits.map((s) => formatShortDay(secondsToIso(s))),
  };
}

function yAxis(format, { scale = "y", side = 3, grid = true, size = 64 } = {}) {
  return {
    scale,
    side,
    size,
    stroke: COLORS.axis,
    font: FONT,
    gap: 6,
    grid: { show: grid, stroke: COLORS.grid, width: 1 },
    ticks: { show: false },
    values: (u, splits) => splits.map(format),
  };
}

const fromZero = (u, min, max) => globalThis.uPlot.rangeNum(0, max > 0 ? max : 1, 0.1, true);

function verticalFill(color, top, bottom) {
  return (u) => {
    const { top: y0, height } = u.bbox;
    if (!Number.isFinite(y0) || !Number.isFinite(height)) return `rgba(${color}, ${(top + bottom) / 2})`;
    const gradient = u.ctx.createLinearGradient(0, y0, 0, y0 + height);
    gradient.addColorStop(0, `rgba(${color}, ${top})`);
    gradient.addColorStop(1, `rgba(${color}, ${bottom})`);
    return gradient;
  };
}

const GRANULARITY_LABEL = { DAY: "Day", WEEK: "Week", MONTH: "Month" };
const BUCKET_DAYS = { WEEK: 7, MONTH: null };

/** "Nov 7", "Nov 7 – 9 (partial: 3 of 7 days)": what a trend bucket covers. */
export function bucketLabel(point, granularity) {
  if (granularity === "DAY" || point.start === point.end) return formatDay(point.start);
  const span = formatDayRange(point.start, point.end);
  if (point.complete) return span;
  const whole = BUCKET_DAYS[granularity];
  return `${span} (partial: ${point.days}${whole ? ` of ${whole}` : ""} days)`;
}

/**
 * Revenue (area, left axis) and orders (line, right axis) per trend bucket, placed at the
 * bucket's first day in the range. Buckets the range cuts short (the first and last WEEK or
 * MONTH ones) hold fewer days: their revenue is drawn dashed with hollow points, so that the
 * dip they make at the ends does not read as a fall in sales.
 */
export function drawTrend(chart, trend, granularity) {
  const xs = trend.map((p) => dayToSeconds(p.start));
  const few = trend.length <= 45;
  const partial = trend.map((p) => !p.complete);
  // The dashed series also takes the complete neighbours of partial buckets, so lines join.
  const nearPartial = (i) => partial[i] || partial[i - 1] || partial[i + 1];
  const whole = trend.map((p, i) => (partial[i] ? null : p.revenue));
  const cut = trend.map((p, i) => (nearPartial(i) ? p.revenue : null));
  chart.el.dataset.partial = partial.flatMap((flag, i) => (flag ? [i] : [])).join(",");
  chart.el.dataset.firstBucket = trend.length ? trend[0].start : "";
  const hollow = { show: true, size: 6, width: 1.5, fill: "#FFFFFF", stroke: COLORS.primary };
  const partialSeries = {
    label: "Partial",
    scale: "money",
    stroke: COLORS.primary,
    width: 1.5,
    dash: [4, 4],
    fill: verticalFill("31, 78, 121", 0.08, 0.01),
    points: { ...hollow, filter: (u, seriesIdx, show) => (show ? partial.flatMap((f, i) => (f ? [i] : [])) : null) },
    value: (u, v, _series, idx) => (idx != null && partial[idx] ? `${trend[idx].days} days` : "–"),
  };
  const anyPartial = partial.some(Boolean); // only WEEK and MONTH buckets can be cut short
  chart.draw(
    {
      cursor: { y: false, points: { size: 7 } },
      legend: { show: true, live: true },
      scales: { x: { time: true }, money: { range: fromZero }, orders: { range: fromZero } },
      axes: [
        xAxis(),
        yAxis(moneyCompact, { scale: "money" }),
        yAxis(compact, { scale: "orders", side: 1, grid: false, size: 48 }),
      ],
      series: [
        {
          label: GRANULARITY_LABEL[granularity] || "Period",
          value: (u, v, _series, idx) => (idx == null || !trend[idx] ? "–" : bucketLabel(trend[idx], granularity)),
        },
        {
          label: "Revenue",
          scale: "money",
          stroke: COLORS.primary,
          width: 2,
          fill: verticalFill("31, 78, 121", 0.2, 0.01),
          points: { show: few, size: 4, width: 1.5 },
          value: (u, v, _series, idx) => money(idx == null ? v : trend[idx]?.revenue),
        },
        ...(anyPartial ? [partialSeries] : []),
        {
          label: "Orders",
          scale: "orders",
          stroke: COLORS.orders,
          width: 1.5,
          dash: [5, 4],
          points: { show: false },
          value: (u, v) => integer(v),
        },
      ],
    },
    [xs, anyPartial ? whole : trend.map((p) => p.revenue), ...(anyPartial ? [cut] : []), trend.map((p) => p.orders)]
  );
}

/** History (last `showDays` days), forecast and its lower/upper band, with a "today" divider. */
export function drawForecast(chart, forecast, { showDays = 84 } = {}) {
  const history = forecast.history.slice(-showDays);
  const points = forecast.points;
  const revenue = forecast.metric === "REVENUE";
  const fmt = revenue ? money : (v) => (v == null ? "–" : decimal(v));
  const axisFmt = revenue ? moneyCompact : compact;
  const xs = [...history.map((p) => dayToSeconds(p.date)), ...points.map((p) => dayToSeconds(p.date))];
  const n = history.length;
  const last = n ? history[n - 1].value : null;
  const nulls = (count) => Array.from({ length: count }, () => null);
  // The forecast and its band start at the last observed day, so the lines join.
  const joined = (pick) => [...nulls(Math.max(0, n - 1)), ...(n ? [last] : []), ...points.map(pick)];
  const data = [
    xs,
    [...history.map((p) => p.value), ...nulls(points.length)],
    joined((p) => p.value),
    joined((p) => p.upper),
    joined((p) => p.lower),
  ];
  const todayX = points.length ? dayToSeconds(points[0].date) : null;
  const line = (label, stroke, width) => ({ label, stroke, width, points: { show: false }, value: (u, v) => fmt(v) });
  chart.draw(
    {
      cursor: { y: false, points: { size: 7 } },
      legend: { show: true, live: true },
      scales: { x: { time: true }, y: { range: fromZero } },
      axes: [xAxis(), yAxis(axisFmt)],
      bands: [{ series: [3, 4], fill: COLORS.band }],
      series: [
        { label: "Day", value: (u, v) => (v == null ? "–" : formatDay(secondsToIso(v))) },
        line("Actual", COLORS.primary, 1.5),
        line("Forecast", COLORS.accent, 2.25),
        line("Upper", COLORS.bandEdge, 1),
        line("Lower", COLORS.bandEdge, 1),
      ],
      hooks: { drawAxes: [(u) => drawTodayLine(u, todayX)] },
    },
    data
  );
}

/** A dashed vertical line at the first forecast day, labelled "Today". */
function drawTodayLine(u, todayX) {
  if (todayX == null) return;
  const ratio = globalThis.uPlot.pxRatio || 1;
  const x = Math.round(u.valToPos(todayX, "x", true));
  const { ctx } = u;
  ctx.save();
  ctx.strokeStyle = COLORS.today;
  ctx.setLineDash([3 * ratio, 4 * ratio]);
  ctx.lineWidth = ratio;
  ctx.beginPath();
  ctx.moveTo(x, u.bbox.top);
  ctx.lineTo(x, u.bbox.top + u.bbox.height);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = COLORS.axis;
  ctx.font = `${11 * ratio}px system-ui, sans-serif`;
  ctx.fillText("Today", x + 6 * ratio, u.bbox.top + 14 * ratio);
  ctx.restore();
}
