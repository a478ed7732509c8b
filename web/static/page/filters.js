// The filter builder: each row is a column, an operator and a value, composed into the service's filter
// grammar ('Income > 50000', 'Province == ON', 'high Income'); the service checks them as they change.

import { postJSON } from "./api.js";
import { $, el, fmt, options } from "./dom.js";
import { parseFilter } from "./link.js";

const OPERATORS = [">", ">=", "<", "<=", "==", "!=", "high", "low"];
const QUANTILE = new Set(["high", "low"]);
const DEBOUNCE_MS = 300;
let columns = [];
let timer = null;
let latest = 0;

export function setColumns(meta) {
  columns = meta.columns;
  $("filters").replaceChildren();
}

function valueHints(row) {
  const column = columns.find((c) => c.name === row.querySelector(".f-column").value);
  const input = row.querySelector(".f-value");
  const list = row.querySelector("datalist");
  const quantile = QUANTILE.has(row.querySelector(".f-op").value);
  input.disabled = quantile;
  input.placeholder = quantile ? "above p75 / below p25" : column?.type === "numeric" ? `e.g. ${fmt(column.median)}` : "a value";
  list.replaceChildren(...Object.keys(column?.top_values ?? {}).map((v) => el("option", { value: v })));
}

// A filter row in `list` (the analysis's filters by default; a cohort's in cohorts.js), its controls named
// "<label> <n> column" etc. so that several builders on the page stay told apart.
export function addFilter(onChange, preset = {}, { list = $("filters"), label = "Filter" } = {}) {
  const index = list.children.length + 1;
  const listId = `filter-values-${Date.now()}-${Math.random().toString(36).slice(2, 8)}-${index}`;
  const column = el("select", { class: "f-column", "aria-label": `${label} ${index} column` });
  const op = el("select", { class: "f-op", "aria-label": `${label} ${index} operator` });
  const value = el("input", { class: "f-value", list: listId, "aria-label": `${label} ${index} value` });
  options(column, columns.map((c) => [c.name, c.name]), preset.column ?? columns.find((c) => c.type !== "id")?.name);
  options(op, OPERATORS.map((o) => [o, o]), preset.op ?? ">");
  value.value = preset.value ?? "";
  const row = el("li", { class: "filter" }, column, op, value, el("datalist", { id: listId }),
    el("button", { type: "button", class: "f-remove", "aria-label": `Remove ${label.toLowerCase()} ${index}`,
                   onclick: () => { row.remove(); onChange(); } }, "Remove"));
  row.addEventListener("input", () => { valueHints(row); onChange(); });
  row.addEventListener("change", () => { valueHints(row); onChange(); });
  list.append(row);
  valueHints(row);
  return row;
}

// A linked request's filters back into the builder; returns the ones it cannot show (not the page's own form).
export function restoreFilters(filters, onChange) {
  $("filters").replaceChildren();
  const names = columns.map((c) => c.name);
  const unshown = [];
  for (const text of filters ?? []) {
    const preset = parseFilter(text, names, OPERATORS);
    if (preset) addFilter(onChange, preset);
    else unshown.push(text);
  }
  return unshown;
}

function quoted(value) {
  return /^[<>=!]/.test(value) ? `"${value}"` : value;  // a value starting with an operator character
}

// The filters of `list` as strings; rows whose value is still empty are left out until one is typed.
export function composedFilters(list = $("filters")) {
  return [...list.children].flatMap((row) => {
    const column = row.querySelector(".f-column").value;
    const op = row.querySelector(".f-op").value;
    const value = row.querySelector(".f-value").value.trim();
    if (QUANTILE.has(op)) return [`${op} ${column}`];
    return value ? [`${column} ${op} ${quoted(value)}`] : [];
  });
}

function showState(text, isError) {
  const state = $("filter-state");
  state.textContent = text;
  state.classList.toggle("error", isError);
  state.classList.toggle("ok", !isError && text !== "");
}

// Ask the service whether POST /analyze would accept this request; the newest answer wins. Each answer goes to
// `onAnswer(error or null)` too: a refusal it takes (true: an editor shows it beside itself, editors.js) is not
// shown here as well.
export function validateSoon(request, onAnswer = () => false) {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    const ticket = ++latest;
    showState("checking…", false);
    try {
      const body = await postJSON("/filters/validate", request());
      if (ticket !== latest) return;
      onAnswer(null);
      const explained = body.explained_rows < body.selected_rows ? ` (${fmt(body.explained_rows)} explained)` : "";
      showState(`✓ ${fmt(body.selected_rows)} rows selected${explained}`, false);
    } catch (error) {
      if (ticket !== latest) return;
      if (onAnswer(error)) showState("", false);
      else showState(error.message, true);
    }
  }, DEBOUNCE_MS);
}

// A filter string back into the builder's preset {column, op, value} (a cohort's, cohorts.js); null when it is none
// the builder writes.
export const presetOf = (text) => parseFilter(text, columns.map((c) => c.name), OPERATORS);
