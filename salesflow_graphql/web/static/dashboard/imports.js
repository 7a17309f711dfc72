// The spreadsheet import card: choose or drop a file, see the dry run (counts, column mapping,
// errors by row and column), then commit the same file with an idempotency key made once per file.

import { describeError, isAdmin, upload } from "./api.js";
import { fileSize, integer } from "./format.js";
import { errorState, h, mount, segmented, skeleton, toast } from "./ui.js";

const MUTATION = `mutation Import($file: Upload!, $kind: ImportKind!, $dryRun: Boolean!, $key: String) {
  importExcel(file: $file, kind: $kind, dryRun: $dryRun, idempotencyKey: $key) {
    importId kind status dryRun totalRows validRows invalidRows created updated unchanged failed
    salesCreated columns { header field } errors { row column value code message } errorCount
    errorReportUrl message notices sheet headerRow replayed } }`;

const ACCEPTED = [".xlsx", ".xlsm", ".xls", ".ods", ".csv"];
const MAX_ERROR_ROWS = 200;

const STATUS = {
  VALID: { tone: "ok", text: "Ready to import" },
  INVALID: { tone: "warn", text: "Some rows have errors" },
  COMMITTED: { tone: "ok", text: "Imported" },
  PARTIAL: { tone: "warn", text: "Partly imported" },
  FAILED: { tone: "bad", text: "Not imported" },
  REJECTED: { tone: "bad", text: "File refused" },
};

/** "XLSX", "CSV", ...: the label of a file's icon. */
function extensionLabel(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1, dot + 5).toUpperCase() : "FILE";
}

/** A fresh idempotency key: the same file's commit retried is written once. */
function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class UploadCard {
  constructor(card, { onCommitted = () => {} } = {}) {
    this.card = card;
    this.onCommitted = onCommitted;
    this.kind = "PRODUCTS";
    this.file = null;
    this.key = null;
    this.preview = null; // the dry run's answer for this file and kind
    this.result = null; // the commit's answer
    this.busy = null; // "check" | "commit"
    this.error = null;
    this.input = card.querySelector("[data-testid=upload-input]");
    this.dropzone = card.querySelector("[data-testid=upload-dropzone]");
    this.output = card.querySelector("[data-role=upload-output]");
    this.setup();
  }

  setup() {
    const admin = isAdmin();
    this.card.querySelector("[data-testid=upload-admin-note]").hidden = admin;
    this.card.classList.toggle("locked", !admin);
    this.input.disabled = !admin;
    const kinds = segmented({
      label: "What the file holds",
      testid: "upload-kind",
      value: this.kind,
      options: [
        { value: "PRODUCTS", label: "Products", testid: "upload-kind-products" },
        { value: "SALES", label: "Sales", testid: "upload-kind-sales" },
      ],
      onChange: (kind) => {
        this.kind = kind;
        if (this.file) this.check();
      },
    });
    mount(this.card.querySelector("[data-role=upload-kind]"), kinds);

    this.input.addEventListener("change", () => {
      if (this.input.files?.length) this.choose(this.input.files[0]);
      this.input.value = ""; // choosing the same file again still fires
    });
    const zone = this.dropzone;
    for (const type of ["dragenter", "dragover"]) {
      zone.addEventListener(type, (event) => {
        event.preventDefault();
        if (isAdmin()) zone.classList.add("dragging");
      });
    }
    for (const type of ["dragleave", "dragend"]) {
      zone.addEventListener(type, () => zone.classList.remove("dragging"));
    }
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      if (!isAdmin()) {
        toast("Importing needs an ADMIN token.", "error");
        return;
      }
      const file = event.dataTransfer?.files?.[0];
      if (file) this.choose(file);
    });
  }

  choose(file) {
    const extension = file.name.includes(".") ? file.name.slice(file.name.lastIndexOf(".")).toLowerCase() : "";
    if (!ACCEPTED.includes(extension)) {
      toast(`${file.name}: choose a ${ACCEPTED.join(", ")} file.`, "error");
      // The gateway would refuse it too; checking anyway shows its reason.
    }
    this.file = file;
    this.key = newKey(); // once per file: a retried commit of this file is written once
    this.result = null;
    this.check();
  }

  reset() {
    this.file = null;
    this.key = null;
    this.preview = null;
    this.result = null;
    this.error = null;
    this.render();
  }

  async check() {
    const file = this.file;
    this.busy = "check";
    this.error = null;
    this.preview = null;
    this.result = null;
    this.render();
    try {
      const data = await upload(MUTATION, { kind: this.kind, dryRun: true, key: null }, file);
      if (file !== this.file) return;
      this.preview = data.importExcel;
    } catch (error) {
      if (file !== this.file) return;
      this.error = error;
    }
    this.busy = null;
    this.render();
  }

  async commit() {
    const file = this.file;
    this.busy = "commit";
    this.error = null;
    this.render();
    try {
      const data = await upload(MUTATION, { kind: this.kind, dryRun: false, key: this.key }, file);
      if (file !== this.file) return;
      this.result = data.importExcel;
      const written = this.result.created + this.result.updated + this.result.salesCreated;
      if (written > 0 && !this.result.replayed) this.onCommitted(this.result);
      toast(this.result.message || STATUS[this.result.status]?.text || this.result.status, "success");
    } catch (error) {
      if (file !== this.file) return;
      this.error = error; // the same key: retrying is safe
    }
    this.busy = null;
    this.render();
  }

  render() {
    if (!this.file) {
      this.dropzone.hidden = false;
      mount(this.output);
      return;
    }
    this.dropzone.hidden = true;
    const shown = this.result || this.preview;
    mount(
      this.output,
      this.fileRow(),
      this.busy === "check" ? this.checking() : null,
      this.error ? this.errorBlock() : null,
      shown ? this.outcome(shown) : null,
      this.actions()
    );
  }

  fileRow() {
    return h(
      "div",
      { class: "file-row" },
      h("span", { class: "file-icon", "aria-hidden": "true", text: extensionLabel(this.file.name) }),
      h(
        "div",
        { class: "file-name" },
        h("strong", { text: this.file.name, testid: "upload-filename" }),
        h("span", {
          class: "muted",
          text: `${fileSize(this.file.size)} · ${this.kind === "SALES" ? "sales" : "products"}`,
        })
      ),
      h(
        "button",
        { type: "button", class: "btn btn-ghost btn-small", testid: "upload-clear", onclick: () => this.reset() },
        "Choose another file"
      )
    );
  }

  checking() {
    return h(
      "div",
      { class: "checking", role: "status", testid: "upload-checking" },
      h("span", { class: "spinner", "aria-hidden": "true" }),
      "Checking every row (dry run, nothing is written)…",
      skeleton(3)
    );
  }

  errorBlock() {
    const { title, detail } = describeError(this.error);
    const retry = this.busy ? null : () => (this.preview ? this.commit() : this.check());
    return errorState({ title, detail, testid: "upload-error", onRetry: retry, compact: true });
  }

  outcome(result) {
    const status = STATUS[result.status] || { tone: "warn", text: result.status };
    const products = result.kind === "PRODUCTS";
    const stats = [
      ["Rows", result.totalRows],
      ["Valid", result.validRows],
      ["With errors", result.invalidRows],
      ...(products
        ? [
            [result.dryRun ? "Would create" : "Created", result.created],
            [result.dryRun ? "Would update" : "Updated", result.updated],
            ["Unchanged", result.unchanged],
          ]
        : [[result.dryRun ? "Would record" : "Sales recorded", result.salesCreated]]),
      ...(result.dryRun ? [] : [["Failed", result.failed]]),
    ];
    return h(
      "div",
      { class: "upload-outcome", testid: result.dryRun ? "upload-preview" : "upload-result" },
      h(
        "div",
        { class: "outcome-head" },
        h("span", {
          class: `badge tone-${status.tone}`,
          testid: "upload-status",
          dataset: { status: result.status },
          text: status.text,
        }),
        h("span", { class: "muted", text: result.dryRun ? "Dry run" : "Committed to SalesFlow" }),
        result.sheet
          ? h("span", { class: "muted", text: `Sheet “${result.sheet}”, header on row ${result.headerRow}` })
          : null
      ),
      result.message ? h("p", { class: "outcome-message", testid: "upload-message", text: result.message }) : null,
      result.replayed
        ? h("p", {
            class: "outcome-notice",
            text: "This file was already imported with this key: nothing was written again.",
          })
        : null,
      result.notices?.length ? h("ul", { class: "notices" }, result.notices.map((n) => h("li", { text: n }))) : null,
      result.status === "REJECTED"
        ? null
        : h(
            "dl",
            { class: "mini-stats", testid: "upload-summary" },
            stats.map(([label, value]) =>
              h("div", {}, h("dt", { text: label }), h("dd", { text: integer(value) }))
            )
          ),
      result.columns?.length ? this.columns(result.columns) : null,
      result.errors?.length ? this.errorsTable(result) : null
    );
  }

  columns(columns) {
    return h(
      "div",
      { class: "columns", testid: "upload-columns" },
      h("span", { class: "columns-label", text: "Columns" }),
      columns.map((c) =>
        h(
          "span",
          {
            class: `chip${c.field ? "" : " chip-muted"}`,
            title: c.field ? `“${c.header}” → ${c.field}` : `“${c.header}” is ignored`,
          },
          c.header,
          h("span", { class: "chip-field", text: c.field ? `→ ${c.field}` : "ignored" })
        )
      )
    );
  }

  errorsTable(result) {
    const rows = result.errors.slice(0, MAX_ERROR_ROWS);
    const total = Math.max(result.errorCount ?? 0, result.errors.length);
    const more = total - rows.length;
    return h(
      "div",
      { class: "errors" },
      h(
        "div",
        { class: "errors-head" },
        h("strong", { text: `${integer(total)} problem${total === 1 ? "" : "s"}` }),
        result.errorReportUrl
          ? h(
              "a",
              { class: "link", href: result.errorReportUrl, download: "", testid: "upload-error-report" },
              "Download the workbook with errors marked"
            )
          : null
      ),
      h(
        "div",
        { class: "table-scroll errors-scroll" },
        h(
          "table",
          { class: "table", testid: "upload-errors" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col", class: "col-row", text: "Row" }),
              h("th", { scope: "col", class: "col-column", text: "Column" }),
              h("th", { scope: "col", class: "col-value", text: "Value" }),
              h("th", { scope: "col", text: "Problem" })
            )
          ),
          h(
            "tbody",
            {},
            rows.map((e) =>
              h(
                "tr",
                { testid: "upload-error-row", dataset: { row: String(e.row), column: e.column || "", code: e.code } },
                h("td", { class: "col-row", text: integer(e.row) }),
                h("td", { text: e.column || "—" }),
                h(
                  "td",
                  { class: "cell-value" },
                  e.value == null ? h("span", { class: "muted", text: "blank" }) : e.value
                ),
                h("td", {}, h("span", { text: e.message }), h("code", { class: "code", text: e.code }))
              )
            )
          )
        )
      ),
      more > 0 ? h("p", { class: "muted small", text: `…and ${integer(more)} more in the workbook.` }) : null
    );
  }

  actions() {
    const preview = this.preview;
    if (!preview || this.busy === "check") return null;
    const done = this.result && ["COMMITTED", "PARTIAL"].includes(this.result.status);
    const valid = preview.validRows;
    const canCommit = isAdmin() && valid > 0 && !["REJECTED"].includes(preview.status) && !done;
    let label = `Import ${integer(valid)} valid row${valid === 1 ? "" : "s"}`;
    if (preview.invalidRows > 0 && valid > 0) label += `, skip ${integer(preview.invalidRows)}`;
    if (this.busy === "commit") label = "Importing…";
    if (done) label = "Imported";
    return h(
      "div",
      { class: "upload-actions" },
      h(
        "button",
        {
          type: "button",
          class: `btn btn-primary${this.busy === "commit" ? " busy" : ""}`,
          testid: "upload-commit",
          disabled: !canCommit || this.busy === "commit",
          onclick: () => this.commit(),
        },
        label
      ),
      valid === 0 && preview.status !== "REJECTED"
        ? h("span", { class: "muted", text: "Fix the rows above and choose the file again." })
        : null,
      h("span", {
        class: "muted small key",
        title: "Idempotency key of this file's commit: retrying it never imports twice",
        text: `Key ${this.key.slice(0, 8)}`,
      })
    );
  }
}
