// The report card: pick kind, format and (the dashboard's) range, generate, follow the job live
// (reportJob subscription, polling the report query as a fallback), then download.

import { describeError, gql } from "./api.js";
import { fileSize, formatRange, formatTime, percent } from "./format.js";
import { errorState, h, mount, segmented } from "./ui.js";

const JOB = `id kind format status progress createdAt startedAt finishedAt downloadUrl sizeBytes
  error filename range { start end days }`;
const GENERATE = `mutation Generate($input: ReportInput!) { generateReport(input: $input) { ${JOB} } }`;
const REPORT = `query Report($id: ID!) { report(id: $id) { ${JOB} } }`;
const FOLLOW = `subscription FollowReport($id: ID!) { reportJob(id: $id) { ${JOB} } }`;

const KIND_TEXT = { FULL: "Full report", SALES: "Sales report", STOCK: "Stock report" };
const STATUS_TEXT = { QUEUED: "Queued", RUNNING: "Generating", COMPLETED: "Ready", FAILED: "Failed" };
const POLL_MS = 1500;
const finished = (job) => job.status === "COMPLETED" || job.status === "FAILED";

export class ReportsCard {
  constructor(card, { live, getRange }) {
    this.card = card;
    this.live = live;
    this.getRange = getRange; // the dashboard's range {start, end} (null before the first load)
    this.kind = "FULL";
    this.format = "PDF";
    this.jobs = new Map(); // id -> {job, el, stop}
    this.list = card.querySelector("[data-testid=report-jobs]");
    this.rangeText = card.querySelector("[data-role=report-range]");
    this.button = card.querySelector("[data-testid=report-generate]");
    this.feedback = card.querySelector("[data-role=report-feedback]");
    this.setup();
  }

  setup() {
    mount(
      this.card.querySelector("[data-role=report-kind]"),
      segmented({
        label: "Report",
        testid: "report-kind",
        value: this.kind,
        options: [
          { value: "FULL", label: "Full", testid: "report-kind-full" },
          { value: "SALES", label: "Sales", testid: "report-kind-sales" },
          { value: "STOCK", label: "Stock", testid: "report-kind-stock" },
        ],
        onChange: (kind) => (this.kind = kind),
      })
    );
    mount(
      this.card.querySelector("[data-role=report-format]"),
      segmented({
        label: "Format",
        testid: "report-format",
        value: this.format,
        options: [
          { value: "PDF", label: "PDF", testid: "report-format-pdf" },
          { value: "XLSX", label: "Excel", testid: "report-format-xlsx" },
        ],
        onChange: (format) => (this.format = format),
      })
    );
    this.button.addEventListener("click", () => this.generate());
    this.showRange();
  }

  showRange() {
    const range = this.getRange();
    this.rangeText.textContent = range ? formatRange(range.start, range.end) : "The last 30 days";
  }

  async generate() {
    const range = this.getRange();
    const input = {
      kind: this.kind,
      format: this.format,
      range: range ? { start: range.start, end: range.end } : null,
    };
    this.button.disabled = true;
    this.button.classList.add("busy");
    mount(this.feedback);
    try {
      const { generateReport: job } = await gql(GENERATE, { input });
      this.add(job);
    } catch (error) {
      const { title, detail } = describeError(error);
      mount(this.feedback, errorState({ title, detail, testid: "report-error", compact: true }));
    } finally {
      this.button.disabled = false;
      this.button.classList.remove("busy");
    }
  }

  add(job) {
    this.list.querySelector("[data-testid=report-empty]")?.remove();
    const entry = { job, el: h("li", { class: "report-job", testid: "report-job" }), stop: () => {} };
    this.jobs.set(job.id, entry);
    this.list.prepend(entry.el);
    this.render(entry);
    this.follow(entry);
  }

  /** Live updates over the socket; the report query every POLL_MS when they do not come. */
  follow(entry) {
    let lastUpdate = Date.now();
    let dispose = null;
    let stopped = false;
    const update = (job) => {
      if (stopped || !job) return;
      lastUpdate = Date.now();
      entry.job = { ...entry.job, ...job };
      this.render(entry);
      if (finished(entry.job)) entry.stop();
    };
    if (this.live.status === "live") {
      dispose = this.live.subscribe(FOLLOW, { id: entry.job.id }, {
        next: ({ data }) => update(data?.reportJob),
        error: () => {}, // the poll below carries on
        complete: () => {},
      });
    }
    const poll = setInterval(async () => {
      if (stopped || Date.now() - lastUpdate < POLL_MS) return;
      try {
        update((await gql(REPORT, { id: entry.job.id })).report);
      } catch {
        /* keep the last known state; try again */
      }
    }, POLL_MS);
    entry.stop = () => {
      stopped = true;
      clearInterval(poll);
      if (dispose) dispose();
    };
  }

  render(entry) {
    const { job } = entry;
    const progress = job.status === "COMPLETED" ? 1 : Math.max(0, Math.min(1, job.progress || 0));
    const bar = h("div", { class: "progress-bar" });
    bar.style.width = `${Math.round(progress * 100)}%`;
    const range = job.range ? formatRange(job.range.start, job.range.end) : "";
    mount(
      entry.el,
      h("span", {
        class: `file-icon ${job.format === "PDF" ? "pdf" : "xlsx"}`,
        "aria-hidden": "true",
        text: job.format === "PDF" ? "PDF" : "XLSX",
      }),
      h(
        "div",
        { class: "report-main" },
        h(
          "div",
          { class: "report-title" },
          h("strong", { text: KIND_TEXT[job.kind] || job.kind }),
          h("span", { class: "muted", text: range })
        ),
        job.status === "COMPLETED"
          ? null
          : h(
              "div",
              {
                class: `progress${job.status === "FAILED" ? " failed" : ""}`,
                role: "progressbar",
                "aria-valuemin": "0",
                "aria-valuemax": "100",
                "aria-valuenow": String(Math.round(progress * 100)),
                testid: "report-progress",
              },
              bar
            ),
        h(
          "div",
          { class: "report-status", testid: "report-status", dataset: { status: job.status } },
          job.status === "FAILED"
            ? h("span", { class: "text-bad", text: job.error || "The report could not be generated." })
            : job.status === "COMPLETED"
              ? h("span", {
                  text: `Ready at ${formatTime(job.finishedAt || Date.now())} · ${fileSize(job.sizeBytes)}`,
                })
              : h("span", { text: `${STATUS_TEXT[job.status]} · ${percent(progress)}` })
        )
      ),
      job.status === "COMPLETED" && job.downloadUrl
        ? h(
            "a",
            {
              class: "btn btn-primary btn-small",
              href: job.downloadUrl,
              download: job.filename || "",
              testid: "report-download",
              title: job.filename,
            },
            "Download"
          )
        : null
    );
    entry.el.dataset.status = job.status;
    entry.el.dataset.jobId = job.id;
  }
}
