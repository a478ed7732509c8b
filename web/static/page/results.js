// The result: summary and facts, and the sortable table of explained rows, a page at a time.

import { $, el, fmt, options } from "./dom.js";
import { namer, scaleOf } from "./labels.js";
import { PAGE_ROWS } from "./resultdata.js";

const TABLE_FEATURES = 6;
const HIDDEN_KEYS = new Set(["row", "raw_prediction"]);

export function renderSummary(result) {
  $("summary").textContent = result.summary;
  const metrics = Object.entries(result.model.metrics ?? {}).filter(([name]) => name !== "holdout_rows")
    .map(([name, value]) => `${name} ${fmt(value)}`).join(", ");
  $("result-facts").textContent = `${fmt(result.explained_rows)} of ${fmt(result.selected_rows)} selected rows ` +
    `explained · ${result.model.task} model of ${result.target_variable}` + (metrics ? ` (held-out ${metrics})` : "") +
    (scaleOf(result) ? ` · SHAP values in ${scaleOf(result)}` : "");
  $("result-warnings").replaceChildren(...result.warnings.map((w) => el("li", {}, w)));
}

export function sortChoices(result) {
  const nameOf = namer(result);
  const entries = [["prediction", "prediction"],
    ...result.feature_importance.map(({ feature }) => [`shap_${feature}`, `SHAP of ${nameOf(feature)}`])];
  options($("sort-by"), entries, "prediction");
}

// The columns of a /rows row the table shows before the SHAP values: ids, target, prediction (and class).
function shownKeys(rows) {
  return Object.keys(rows[0] ?? {}).filter((key) => !HIDDEN_KEYS.has(key) && !/^(shap_|value_|probability_)/.test(key));
}

function tableFeatures(result, sortKey) {
  const top = result.feature_importance.slice(0, TABLE_FEATURES).map((f) => f.feature);
  const sorted = sortKey.startsWith("shap_") ? sortKey.slice(5) : null;
  return sorted && !top.includes(sorted) ? [...top, sorted] : top;
}

function headerCell(label, key, view) {
  const active = view.sortKey === key;
  const sort = active ? (view.order === "asc" ? "ascending" : "descending") : null;
  const button = el("button", { type: "button", class: "sort", onclick: () => view.onSort(key) },
    label, active ? (view.order === "asc" ? " ▲" : " ▼") : "");
  return el("th", { scope: "col", "aria-sort": sort }, button);
}

function rowElement(row, keys, features, view) {
  const cells = [el("td", { class: "num" }, String(row.row + 1)),
    ...keys.map((key) => el("td", { class: typeof row[key] === "number" ? "num" : null }, fmt(row[key]))),
    ...features.map((feature) => {
      const shap = row[`shap_${feature}`];
      return el("td", { class: `num ${shap >= 0 ? "pos" : "neg"}` }, fmt(shap));
    })];
  const select = () => view.onSelect(row);
  return el("tr", { tabindex: 0, "aria-selected": String(row.row === view.selected?.row), "data-row": row.row,
                    onclick: select, onkeydown: (event) => ["Enter", " "].includes(event.key) && (event.preventDefault(), select()) },
  cells);
}

// One page of the table (`rows`: PAGE_ROWS rows as /rows sent them, sorted); view = {sortKey, order, page, total,
// selected, onSort(key), onSelect(row)}. "#" is the row's 1-based position in the result.
export function renderRows(result, rows, view) {
  const keys = shownKeys(rows);
  const features = tableFeatures(result, view.sortKey);
  const nameOf = namer(result);
  const head = el("tr", {}, el("th", { scope: "col" }, "#"),
    keys.map((key) => (key === "prediction" ? headerCell("prediction", "prediction", view) : el("th", { scope: "col" }, key))),
    features.map((feature) => headerCell(`SHAP ${nameOf(feature)}`, `shap_${feature}`, view)));
  const body = rows.map((row) => rowElement(row, keys, features, view));
  $("rows-table").replaceChildren(el("thead", {}, head), el("tbody", {}, body));
  const pages = Math.max(1, Math.ceil(view.total / PAGE_ROWS));
  $("page-state").textContent = `page ${view.page + 1} of ${fmt(pages)}`;
  $("prev-page").disabled = view.page === 0;
  $("next-page").disabled = view.page >= pages - 1;
  $("rows-state").textContent = `${fmt(view.total)} rows; click a row (or Enter) for its waterfall`;
}
