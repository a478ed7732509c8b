// The cohort editor (analysis_type "comparison", docs/analyses.md "Cohort comparison"): named cohorts, each a list of
// filters built with the page's own filter builder (filters.js), and optionally "rest"; the result's `comparison`
// part drawn as each cohort's importance and each pair's differences with their bootstrap intervals.

import { CATEGORY_COLOURS, draw } from "./charts.js";
import { $, el, fmt } from "./dom.js";
import { addFilter, composedFilters, presetOf } from "./filters.js";
import { namer } from "./labels.js";

export const TYPE = "comparison";
const REST = "rest";  // analysis.request_parts.REST: the selected rows no other cohort holds
const MAX_COHORTS = 6;  // analysis.request_parts.MAX_COHORTS, "rest" included
const CHART_FEATURES = 10;
const PAIR_FEATURES = 8;
let onChange = () => {};

const changed = () => {
  showError(null);  // the refusal was of the cohorts as they were
  onChange();
};

export function setDataset(meta, onRequestChange) {
  onChange = onRequestChange;
  fill([["cohort 1", []], ["cohort 2", []]], false);
}

function fill(cohorts, rest) {
  $("cohorts").replaceChildren();
  for (const [name, filters] of cohorts) addCohort(name, filters);
  $("cohort-rest").checked = rest;
  syncAddButton();
}

function syncAddButton() {
  $("add-cohort").disabled = $("cohorts").children.length + Number($("cohort-rest").checked) >= MAX_COHORTS;
}

function addCohort(name, filters = []) {
  const index = $("cohorts").children.length + 1;
  const label = `Cohort ${index}`;
  const list = el("ol", { class: "filters c-filters", "aria-label": `${label} filters` });
  const nameInput = el("input", { class: "c-name", value: name, maxlength: 64, "aria-label": `${label} name`,
                                  oninput: changed });
  const item = el("li", { class: "cohort" },
    el("div", { class: "row" }, nameInput,
      el("button", { type: "button", class: "c-add-filter",
                     onclick: () => addFilter(changed, {}, { list, label: `${label} filter` }).querySelector("select").focus() },
      "Add filter"),
      el("button", { type: "button", class: "c-remove", "aria-label": `Remove cohort ${index}`,
                     onclick: () => { item.remove(); syncAddButton(); changed(); } }, "Remove")),
    list);
  $("cohorts").append(item);
  for (const text of filters) addFilter(changed, presetOf(text) ?? { value: text }, { list, label: `${label} filter` });
  syncAddButton();
  return item;
}

// The request's `cohorts` when the analysis type is comparison: name -> filters (rows whose value is still empty are
// left out, as in the analysis's filters), in the editor's order, "rest" last when chosen.
export function toRequest() {
  if ($("analysis-type").value !== TYPE) return {};
  const cohorts = {};
  for (const item of $("cohorts").children) {
    cohorts[item.querySelector(".c-name").value.trim()] = composedFilters(item.querySelector(".c-filters"));
  }
  if ($("cohort-rest").checked) cohorts[REST] = [];
  return { cohorts };
}

// A request's cohorts back into the editor (a link to a comparison).
export function restore(request) {
  if (request?.analysis_type !== TYPE || !request.cohorts) return;
  const entries = Object.entries(request.cohorts);
  fill(entries.filter(([name]) => name !== REST), entries.some(([name]) => name === REST));
}

// Names the request cannot carry twice: `cohorts` is a JSON object, so a second "north" would silently replace the
// first before the service could refuse it (as it refuses names equal but for spaces, analysis.request_parts).
function repeatedNames() {
  const names = [...$("cohorts").querySelectorAll(".c-name")].map((input) => input.value.trim());
  if ($("cohort-rest").checked) names.push(REST);
  return [...new Set(names.filter((name, i) => names.indexOf(name) !== i))];
}

// The service's refusal of the cohorts, or (none) the names given twice, which only the page can see.
export function showError(error) {
  const repeated = repeatedNames();
  const local = repeated.length ? `Cohort names ${repeated.map((n) => `'${n}'`).join(", ")} are given more than ` +
    "once; give each cohort its own name (only the last of a name would be sent)." : "";
  $("cohorts-error").textContent = error ? error.message ?? String(error) : local;
}

export function wire() {
  $("add-cohort").addEventListener("click", () => {
    addCohort(`cohort ${$("cohorts").children.length + 1}`).querySelector(".c-name").focus();
    changed();
  });
  $("cohort-rest").addEventListener("change", () => { syncAddButton(); changed(); });
}

// --- the result -------------------------------------------------------------------------------------

const signed = (value) => (value > 0 ? `+${fmt(value)}` : fmt(value));
const interval = ([low, high]) => `${signed(low)} to ${signed(high)}`;

function cohortTable(comparison, probability) {
  const head = el("tr", {}, ["Cohort", "Filters", "Rows", `Mean ${comparison.scale === "log_odds" ? "log-odds" : "prediction"}`,
    ...(probability ? ["Mean probability"] : [])].map((label) => el("th", { scope: "col" }, label)));
  const rows = comparison.cohorts.map((c) => el("tr", {}, el("th", { scope: "row" }, c.name),
    el("td", {}, c.name === REST ? "rows no other cohort holds" : c.filters.join(" and ") || "every selected row"),
    el("td", { class: "num" }, fmt(c.rows)), el("td", { class: "num" }, fmt(c.mean_prediction)),
    ...(probability ? [el("td", { class: "num" }, fmt(c.mean_probability))] : [])));
  return el("div", { class: "table-wrap" }, el("table", { class: "data", id: "cohorts-table" },
    el("caption", {}, "Cohorts"), el("thead", {}, head), el("tbody", {}, rows)));
}

function pairTable(pair, nameOf, index) {
  const [first, second] = pair.cohorts;
  const head = el("tr", {}, ["Feature", "Difference of mean SHAP", "95 % interval", "Share of the gap"]
    .map((label) => el("th", { scope: "col" }, label)));
  const rows = pair.features.slice(0, PAIR_FEATURES).map((f) => el("tr", {}, el("th", { scope: "row" }, nameOf(f.feature)),
    el("td", { class: `num ${f.difference >= 0 ? "pos" : "neg"}` }, signed(f.difference)),
    el("td", { class: "num" }, interval(f.interval)),
    el("td", { class: "num" }, f.share == null ? "" : `${fmt(100 * f.share)} %`)));
  const caption = `${first} minus ${second}: mean ${fmt(pair.mean_prediction[0])} vs ${fmt(pair.mean_prediction[1])}, ` +
    `difference ${signed(pair.difference)} (95 % interval ${interval(pair.interval)})`;
  // the pair's sentence above its table, not its caption: a caption is as wide as its table, cut on a phone
  return el("div", { class: "pair" }, el("p", { class: "pair-caption" }, caption),
    el("div", { class: "table-wrap" }, el("table", { class: "data", "data-pair": index, "aria-label": caption },
      el("thead", {}, head), el("tbody", {}, rows))));
}

// Each cohort's mean |SHAP| for the features that matter most in any cohort, bars side by side per feature.
async function importanceChart(comparison, nameOf) {
  const strongest = (feature) => Math.max(...comparison.cohorts.map((c) => c.mean_abs_shap[feature] ?? 0));
  const features = Object.keys(comparison.cohorts[0].mean_abs_shap).sort((a, b) => strongest(b) - strongest(a))
    .slice(0, CHART_FEATURES);
  const values = features.flatMap((feature) => comparison.cohorts.map((c) =>
    ({ feature, name: nameOf(feature), cohort: c.name, importance: c.mean_abs_shap[feature], shap: c.mean_shap[feature] })));
  await draw("cohort-importance-chart", {
    width: "container", height: { step: 12 * comparison.cohorts.length + 8 }, data: { values },
    mark: { type: "bar" },
    encoding: {
      y: { field: "name", type: "nominal", sort: null, title: null },
      yOffset: { field: "cohort", type: "nominal", sort: null },
      x: { field: "importance", type: "quantitative", title: "mean |SHAP value| in the cohort" },
      color: { field: "cohort", type: "nominal", sort: null, title: "cohort",
               scale: { range: CATEGORY_COLOURS }, legend: { orient: "bottom" } },
      tooltip: [{ field: "cohort" }, { field: "name", title: "feature" },
                { field: "importance", format: ".4~g", title: "mean |SHAP|" }, { field: "shap", format: "+.4~g", title: "mean SHAP" }],
    },
  });
}

// The `comparison` part of a result, or nothing when the result has none.
export async function showResult(result) {
  const view = $("comparison-view");
  view.hidden = !result.comparison;
  if (!result.comparison) return;
  const nameOf = namer(result);
  const comparison = result.comparison;
  const probability = comparison.cohorts.some((c) => c.mean_probability != null);
  $("comparison-tables").replaceChildren(cohortTable(comparison, probability),
    ...comparison.pairs.map((pair, index) => pairTable(pair, nameOf, index)));
  $("comparison-note").textContent = `Intervals: ${fmt(100 * comparison.bootstrap.interval)} % percentile bootstrap, ` +
    `${fmt(comparison.bootstrap.resamples)} resamples of each cohort's rows; on the model's raw scale ` +
    `(${comparison.scale === "log_odds" ? "log-odds" : "the prediction"}).`;
  await importanceChart(comparison, nameOf);
}
