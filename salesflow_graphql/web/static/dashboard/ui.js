// Small DOM helpers: element builder (text only, never HTML), card states, skeletons, toasts.

/**
 * h("div", {class: "x", testid: "y", onclick: fn}, child, "text", [more]) -> HTMLElement.
 * Strings become text nodes, so data from the API can never inject markup.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "testid") el.dataset.testid = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value); // CSSOM: allowed under the CSP
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value" || key === "checked" || key === "disabled" || key === "hidden") {
      el[key] = value;
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's content. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Grey shimmering placeholder lines while data loads. */
export function skeleton(lines = 3, { className = "" } = {}) {
  return h(
    "div",
    { class: `skeleton-block ${className}`, "aria-hidden": "true", testid: "skeleton" },
    Array.from({ length: lines }, (_, i) =>
      h("span", { class: `skeleton-line w${(i * 37) % 3}` })
    )
  );
}

/** A chart-shaped placeholder. */
export function chartSkeleton() {
  return h("div", { class: "skeleton-chart", "aria-hidden": "true", testid: "skeleton" });
}

/** A readable error block: a title in words, the detail, and an optional retry. */
export function errorState({ title, detail, testid, onRetry, compact = false }) {
  return h(
    "div",
    { class: `state state-error${compact ? " compact" : ""}`, role: "alert", testid },
    h("span", { class: "state-icon", "aria-hidden": "true", text: "!" }),
    h(
      "div",
      { class: "state-text" },
      h("strong", { text: title }),
      detail ? h("p", { text: detail }) : null
    ),
    onRetry ? h("button", { class: "btn btn-small", type: "button", onclick: onRetry }, "Retry") : null
  );
}

export function emptyState(text, testid) {
  return h("div", { class: "state state-empty", testid }, h("p", { text }));
}

/** A notice about stale data, shown above cached figures. */
export function staleNote(text) {
  return h("div", { class: "stale-note", testid: "stale-note", role: "status" }, text);
}

/** A segmented control: options [{value, label}], calls onChange(value). */
export function segmented({ options, value, onChange, label, testid }) {
  const group = h("div", { class: "segmented", role: "group", "aria-label": label, testid });
  const buttons = options.map((option) =>
    h(
      "button",
      {
        type: "button",
        class: "segment",
        "aria-pressed": String(option.value === value),
        dataset: { value: String(option.value) },
        testid: option.testid,
        onclick: () => {
          select(option.value);
          onChange(option.value);
        },
      },
      option.label
    )
  );
  function select(next) {
    for (const button of buttons) {
      button.setAttribute("aria-pressed", String(button.dataset.value === String(next)));
    }
  }
  group.append(...buttons);
  group.select = select;
  return group;
}

let toastRoot = null;

/** A short message in the corner; kind: info | success | error. */
export function toast(message, kind = "info", { timeout = 5000 } = {}) {
  if (!toastRoot) {
    toastRoot = h("div", { class: "toasts", role: "status", "aria-live": "polite", testid: "toasts" });
    document.body.append(toastRoot);
  }
  const item = h("div", { class: `toast toast-${kind}` }, message);
  toastRoot.append(item);
  setTimeout(() => {
    item.classList.add("leaving");
    setTimeout(() => item.remove(), 300);
  }, timeout);
}
