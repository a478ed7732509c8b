// The result: summary and facts, the sortable table of explained rows, and the CSV of every row.

import { $, el, fmt, options } from "./dom.js";
import { namer, scaleOf } from "./labels.js";

export const PAGE_ROWS = 25;
const TABLE_FEATURES = 6;
const HIDDEN_KEYS = new Set(["top_contributors", "raw_prediction"]);

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
    ...result.feature_importance.map(({ feature }) => [`shap:${feature}`, `SHAP of ${nameOf(feature)}`])];
  options($("sort-by"), entries, "prediction");
}

// Row positions (results order) sorted by the prediction or by one feature's SHAP value.
export function sortedRows(result, key, order) {
  // a multiclass prediction is a class label: its rows sort by the predicted class's probability
  const prediction = (row) => (typeof row.prediction === "number" ? row.prediction : row.probability);
  const value = key === "prediction"
    ? (i) => prediction(result.results[i])
    : (i) => result.shap_values[key.slice(5)][i];
  const sign = order === "asc" ? 1 : -1;
  return result.results.map((_, i) => i).sort((a, b) => sign * ((value(a) ?? -Infinity) - (value(b) ?? -Infinity)));
}

function shownKeys(result) {
  return Object.keys(result.results[0] ?? {}).filter((key) => !HIDDEN_KEYS.has(key));
}

function tableFeatures(result, sortKey) {
  const top = result.feature_importance.slice(0, TABLE_FEATURES).map((f) => f.feature);
  const sorted = sortKey.startsWith("shap:") ? sortKey.slice(5) : null;
  return sorted && !top.includes(sorted) ? [...top, sorted] : top;
}

function headerCell(label, key, view) {
  const active = view.sortKey === key;
  const sort = active ? (view.order === "asc" ? "ascending" : "descending") : null;
  const button = el("button", { type: "button", class: "sort", onclick: () => view.onSort(key) },
    label, active ? (view.order === "asc" ? " ▲" : " ▼") : "");
  return el("th", { scope: "col", "aria-sort": sort }, button);
}

function rowElement(result, index, keys, features, view) {
  const row = result.results[index];
  const cells = [el("td", { class: "num" }, String(index + 1)),
    ...keys.map((key) => el("td", { class: typeof row[key] === "number" ? "num" : null }, fmt(row[key]))),
    ...features.map((feature) => {
      const shap = result.shap_values[feature][index];
      return el("td", { class: `num ${shap >= 0 ? "pos" : "neg"}` }, fmt(shap));
    })];
  const select = () => view.onSelect(index);
  return el("tr", { tabindex: 0, "aria-selected": String(index === view.selected), "data-row": index,
                    onclick: select, onkeydown: (event) => ["Enter", " "].includes(event.key) && (event.preventDefault(), select()) },
  cells);
}

// One page of the table; view = {sortKey, order, page, selected, onSort(key), onSelect(index)}.
export function renderRows(result, ordered, view) {
  const keys = shownKeys(result);
  const features = tableFeatures(result, view.sortKey);
  const nameOf = namer(result);
  const head = el("tr", {}, el("th", { scope: "col" }, "#"),
    keys.map((key) => (key === "prediction" ? headerCell("prediction", "prediction", view) : el("th", { scope: "col" }, key))),
    features.map((feature) => headerCell(`SHAP ${nameOf(feature)}`, `shap:${feature}`, view)));
  const first = view.page * PAGE_ROWS;
  const body = ordered.slice(first, first + PAGE_ROWS).map((index) => rowElement(result, index, keys, features, view));
  $("rows-table").replaceChildren(el("thead", {}, head), el("tbody", {}, body));
  const pages = Math.max(1, Math.ceil(ordered.length / PAGE_ROWS));
  $("page-state").textContent = `page ${view.page + 1} of ${pages}`;
  $("prev-page").disabled = view.page === 0;
  $("next-page").disabled = view.page >= pages - 1;
  $("rows-state").textContent = `${fmt(ordered.length)} rows; click a row (or Enter) for its waterfall`;
}

function csvCell(value) {
  const text = value == null ? "" : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// Every explained row: its position, the columns of `results` (no nested contributors), one SHAP column
// per feature (shap_<feature>), in the order of `results`.
export function resultsCsv(result) {
  const keys = Object.keys(result.results[0] ?? {}).filter((key) => key !== "top_contributors");
  const features = Object.keys(result.shap_values);
  const header = ["row", ...keys, ...features.map((f) => `shap_${f}`)];
  const lines = result.results.map((row, i) =>
    [i + 1, ...keys.map((key) => row[key]), ...features.map((f) => result.shap_values[f][i])].map(csvCell).join(","));
  return [header.map(csvCell).join(","), ...lines].join("\r\n") + "\r\n";
}
