// Number, money and date formatting (Intl, the browser's locale) and calendar-date helpers.
// Business dates travel as "YYYY-MM-DD" and are handled as local calendar days, never as UTC instants.

const LOCALE = undefined; // the browser's own
const number = (options) => new Intl.NumberFormat(LOCALE, options);

export const CURRENCY = "USD";
const moneyFmt = number({ style: "currency", currency: CURRENCY });
const moneyCompactFmt = number({
  style: "currency",
  currency: CURRENCY,
  notation: "compact",
  maximumFractionDigits: 1,
});
const integerFmt = number({ maximumFractionDigits: 0 });
const decimalFmt = number({ maximumFractionDigits: 1 });
const decimal2Fmt = number({ minimumFractionDigits: 2, maximumFractionDigits: 2 });
const compactFmt = number({ notation: "compact", maximumFractionDigits: 1 });
const percentFmt = number({ style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
const changeFmt = number({ style: "percent", maximumFractionDigits: 1, signDisplay: "exceptZero" });
const dayFmt = new Intl.DateTimeFormat(LOCALE, { month: "short", day: "numeric", year: "numeric" });
const shortDayFmt = new Intl.DateTimeFormat(LOCALE, { month: "short", day: "numeric" });
const timeFmt = new Intl.DateTimeFormat(LOCALE, { hour: "2-digit", minute: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(LOCALE, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const relativeFmt = new Intl.RelativeTimeFormat(LOCALE, { numeric: "auto" });
const sizeUnits = ["byte", "kilobyte", "megabyte", "gigabyte"];

const DASH = "\u2013";

/** $12,345.67 (cents kept, so a figure can be tied to the API's). */
export const money = (value) => (value == null ? DASH : moneyFmt.format(value));
/** $12.3K, for axes and tight spots. */
export const moneyCompact = (value) => (value == null ? DASH : moneyCompactFmt.format(value));
export const integer = (value) => (value == null ? DASH : integerFmt.format(value));
export const decimal = (value) => (value == null ? DASH : decimalFmt.format(value));
export const decimal2 = (value) => (value == null ? DASH : decimal2Fmt.format(value));
export const compact = (value) => (value == null ? DASH : compactFmt.format(value));
/** A fraction as percent: 0.253 -> 25.3%. */
export const percent = (value) => (value == null ? DASH : percentFmt.format(value));
/** A signed change: 0.064 -> +6.4%. */
export const change = (value) => (value == null ? DASH : changeFmt.format(value));

export function fileSize(bytes) {
  if (bytes == null) return DASH;
  if (bytes < 1000) return `${integerFmt.format(bytes)} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < sizeUnits.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return number({
    style: "unit",
    unit: sizeUnits[unit],
    unitDisplay: "short",
    maximumFractionDigits: unit === 0 ? 0 : 1,
  }).format(value);
}

/** "2026-11-26" -> a local Date at midnight of that calendar day. */
export function parseDay(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(y, m - 1, d);
}

/** A Date -> its local calendar day "YYYY-MM-DD". */
export function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function addDays(iso, days) {
  const date = parseDay(iso);
  date.setDate(date.getDate() + days);
  return isoDay(date);
}

/** Days from start to end, both included. */
export function dayCount(start, end) {
  return Math.round((parseDay(end) - parseDay(start)) / 86_400_000) + 1;
}

/** Unix seconds of a calendar day's local midnight (uPlot's x values). */
export const dayToSeconds = (iso) => parseDay(iso).getTime() / 1000;

export const formatDay = (iso) => (iso ? dayFmt.format(parseDay(iso)) : DASH);
export const formatShortDay = (iso) => (iso ? shortDayFmt.format(parseDay(iso)) : DASH);
export const formatRange = (start, end) => dayFmt.formatRange(parseDay(start), parseDay(end));
/** "Nov 7 – 9", "Nov 28 – Dec 4": a short span within a year. */
export const formatDayRange = (start, end) => shortDayFmt.formatRange(parseDay(start), parseDay(end));
export const formatTime = (value) => timeFmt.format(new Date(value));
export const formatDateTime = (value) => dateTimeFmt.format(new Date(value));

/** "3 min ago", "yesterday", "in 5 s": for detectedAt and similar instants. */
export function relativeTime(value, now = Date.now()) {
  const seconds = Math.round((new Date(value).getTime() - now) / 1000);
  const steps = [
    [60, "second"],
    [60, "minute"],
    [24, "hour"],
    [7, "day"],
    [4.35, "week"],
    [12, "month"],
    [Infinity, "year"],
  ];
  let amount = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(amount) < size) {
      if (unit === "second" && Math.abs(amount) < 10) return relativeFmt.format(0, "second");
      return relativeFmt.format(Math.round(amount), unit);
    }
    amount /= size;
  }
  return relativeFmt.format(Math.round(amount), "year");
}
