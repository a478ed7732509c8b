// The scenario editor (analysis_type "what_if", docs/analyses.md "What-if scenarios"): named scenarios, each a list
// of changes (set a column to a value, add a number to it, multiply it by one); the result's `scenarios` part drawn
// as each scenario's change of the predictions and of each feature's SHAP value.

import { CATEGORY_COLOURS, draw } from "./charts.js";
import { $, el, fmt, options } from "./dom.js";
import { namer } from "./labels.js";

export const TYPE = "what_if";
// "missing" is `set` to null: its own choice, since an empty value means "not typed yet" (as in a filter)
const OPERATIONS = [["set", "set to"], ["missing", "set to missing"], ["add", "add"], ["multiply", "multiply by"]];
const MAX_SCENARIOS = 10;  // analysis.request_parts.MAX_SCENARIOS
const CHART_FEATURES = 10;
const CHANGE_ROWS = 1500;  // points a scenario's row chart draws at most (every k-th row): as the beeswarm's sample
let columns = [];
let onChange = () => {};

const changed = () => {
  showError(null);  // the refusal was of the scenarios as they were
  onChange();
};

export function setDataset(meta, onRequestChange) {
  onChange = onRequestChange;
  // what a scenario may change: features, not ids nor the dataset's exclusions (the target: the service says why not)
  columns = meta.columns.filter((c) => c.type !== "id" && !meta.exclude_columns.includes(c.name));
  fill([]);
}

function fill(scenarios) {
  $("scenarios").replaceChildren();
  for (const scenario of scenarios) addScenario(scenario);
  if (!scenarios.length) addScenario({ name: "scenario 1" });
}

function valueHints(change) {
  const column = columns.find((c) => c.name === change.querySelector(".s-column").value);
  const op = change.querySelector(".s-op").value;
  const input = change.querySelector(".s-value");
  input.disabled = op === "missing";
  input.placeholder = op === "missing" ? "no value" : op === "multiply" ? "e.g. 1.1" : op === "add" ? "e.g. 10"
    : column?.type === "numeric" ? `e.g. ${fmt(column.median)}` : "a value";
  change.querySelector("datalist").replaceChildren(...(op === "set" ? Object.keys(column?.top_values ?? {}) : [])
    .map((v) => el("option", { value: v })));
}

function addChange(list, label, preset = {}) {
  const index = list.children.length + 1;
  const listId = `scenario-values-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const column = el("select", { class: "s-column", "aria-label": `${label} change ${index} column` });
  const op = el("select", { class: "s-op", "aria-label": `${label} change ${index} operation` });
  const value = el("input", { class: "s-value", list: listId, "aria-label": `${label} change ${index} value` });
  const target = $("target").value;
  options(column, columns.filter((c) => c.name !== target).map((c) => [c.name, c.name]),
    preset.column ?? columns.find((c) => c.name !== target)?.name);
  options(op, OPERATIONS, preset.op ?? "set");
  value.value = preset.value == null ? "" : String(preset.value);
  const change = el("li", { class: "change" }, column, op, value, el("datalist", { id: listId }),
    el("button", { type: "button", class: "s-remove-change", "aria-label": `Remove ${label.toLowerCase()} change ${index}`,
                   onclick: () => { change.remove(); changed(); } }, "Remove"));
  const update = () => { valueHints(change); changed(); };
  change.addEventListener("input", update);
  change.addEventListener("change", update);
  list.append(change);
  valueHints(change);
  return change;
}

function addScenario(scenario) {
  const index = $("scenarios").children.length + 1;
  const label = `Scenario ${index}`;
  const list = el("ol", { class: "changes", "aria-label": `${label} changes` });
  const name = el("input", { class: "s-name", value: scenario.name ?? `scenario ${index}`, maxlength: 64,
                             "aria-label": `${label} name`, oninput: changed });
  const item = el("li", { class: "scenario" },
    el("div", { class: "row" }, name,
      el("button", { type: "button", class: "s-add-change",
                     onclick: () => { addChange(list, label).querySelector("select").focus(); changed(); } }, "Add change"),
      el("button", { type: "button", class: "s-remove", "aria-label": `Remove scenario ${index}`,
                     onclick: () => { item.remove(); syncAddButton(); changed(); } }, "Remove")),
    list);
  $("scenarios").append(item);
  for (const op of ["set", "add", "multiply"]) {
    for (const [column, value] of Object.entries(scenario[op] ?? {})) {
      addChange(list, label, op === "set" && value === null ? { column, op: "missing" } : { column, op, value });
    }
  }
  if (!list.children.length) addChange(list, label);
  syncAddButton();
  return item;
}

function syncAddButton() {
  $("add-scenario").disabled = $("scenarios").children.length >= MAX_SCENARIOS;
}

// A typed value as the service reads it: a number for a numeric column when it is one, else the text as typed (the
// service's 400 then says what to give); add and multiply take numbers only, and say so the same way.
function typed(columnName, text) {
  const numeric = columns.find((c) => c.name === columnName)?.type === "numeric";
  const number = Number(text);
  return numeric && text !== "" && Number.isFinite(number) ? number : text;
}

function scenarioOf(item) {
  const scenario = { name: item.querySelector(".s-name").value.trim() };
  for (const change of item.querySelectorAll(".change")) {
    const value = change.querySelector(".s-value").value.trim();
    const column = change.querySelector(".s-column").value;
    const op = change.querySelector(".s-op").value;
    if (op === "missing") {
      scenario.set = { ...scenario.set, [column]: null };
      continue;
    }
    if (!value) continue;  // left out until a value is typed, as an empty filter is
    scenario[op] ??= {};
    scenario[op][column] = op === "set" ? typed(column, value) : (Number.isFinite(Number(value)) ? Number(value) : value);
  }
  return scenario;
}

// The request's `scenarios` when the analysis type is what_if, in the editor's order.
export function toRequest() {
  if ($("analysis-type").value !== TYPE) return {};
  return { scenarios: [...$("scenarios").children].map(scenarioOf) };
}

// A request's scenarios back into the editor (a link to a what-if analysis).
export function restore(request) {
  if (request?.analysis_type !== TYPE || !Array.isArray(request.scenarios)) return;
  fill(request.scenarios);
}

export function showError(error) {
  $("scenarios-error").textContent = error ? error.message ?? String(error) : "";
}

export function wire() {
  $("add-scenario").addEventListener("click", () => {
    addScenario({ name: `scenario ${$("scenarios").children.length + 1}` }).querySelector(".s-name").focus();
    changed();
  });
}

// --- the result -------------------------------------------------------------------------------------

const signed = (value) => (value > 0 ? `+${fmt(value)}` : fmt(value));

function changesInWords(scenario) {
  return [...Object.entries(scenario.set ?? {}).map(([c, v]) => `${c} = ${v == null ? "missing" : fmt(v)}`),
    ...Object.entries(scenario.add ?? {}).map(([c, v]) => `${c} ${v >= 0 ? "+" : "−"} ${fmt(Math.abs(v))}`),
    ...Object.entries(scenario.multiply ?? {}).map(([c, v]) => `${c} × ${fmt(v)}`)].join(", ");
}

function scenarioTable(result, nameOf) {
  const binary = result.scenarios.some((s) => s.mean_probability_change != null);
  const head = el("tr", {}, ["Scenario", "Changes", "Rows changed", "Mean change of the prediction",
    ...(binary ? ["Mean change of the probability"] : []), "Mostly through (mean SHAP change)"]
    .map((label) => el("th", { scope: "col" }, label)));
  const rows = result.scenarios.map((s) => {
    const through = Object.entries(s.mean_shap_change).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 3)
      .map(([feature, value]) => `${nameOf(feature)} ${signed(value)}`).join(", ");
    return el("tr", {}, el("th", { scope: "row" }, s.name), el("td", {}, changesInWords(s)),
      el("td", { class: "num" }, `${fmt(s.rows_changed)} of ${fmt(result.explained_rows)}`),
      el("td", { class: `num ${s.mean_change >= 0 ? "pos" : "neg"}` }, signed(s.mean_change)),
      ...(binary ? [el("td", { class: "num" }, signed(s.mean_probability_change))] : []),
      el("td", {}, through));
  });
  return el("div", { class: "table-wrap" }, el("table", { class: "data", id: "scenarios-table" },
    el("caption", {}, "Scenarios"), el("thead", {}, head), el("tbody", {}, rows)));
}

// Each scenario's mean change of SHAP value for the features it moves most, bars side by side per feature.
async function shapChangeChart(result, nameOf) {
  const largest = (feature) => Math.max(...result.scenarios.map((s) => Math.abs(s.mean_shap_change[feature] ?? 0)));
  const features = Object.keys(result.scenarios[0].mean_shap_change).sort((a, b) => largest(b) - largest(a))
    .slice(0, CHART_FEATURES);
  const values = features.flatMap((feature) => result.scenarios.map((s) =>
    ({ feature, name: nameOf(feature), scenario: s.name, change: s.mean_shap_change[feature] })));
  await draw("scenario-shap-chart", {
    width: "container", height: { step: 12 * result.scenarios.length + 8 }, data: { values },
    mark: { type: "bar" },
    encoding: {
      y: { field: "name", type: "nominal", sort: null, title: null },
      yOffset: { field: "scenario", type: "nominal", sort: null },
      x: { field: "change", type: "quantitative", title: "mean change of the SHAP value" },
      color: { field: "scenario", type: "nominal", sort: null, title: "scenario",
               scale: { range: CATEGORY_COLOURS }, legend: { orient: "bottom" } },
      tooltip: [{ field: "scenario" }, { field: "name", title: "feature" },
                { field: "change", format: "+.4~g", title: "mean SHAP change" }],
    },
  });
}

// Each row's change of prediction per scenario (on the raw scale, as `changes`): how the mean is spread.
async function changesChart(result) {
  const binary = result.scenarios.some((s) => s.probability_changes);
  const values = result.scenarios.flatMap((s) => {
    const changes = binary ? s.probability_changes : s.changes;
    const step = Math.max(1, Math.ceil(changes.length / CHANGE_ROWS));
    return changes.filter((_, i) => i % step === 0).map((change) => ({ scenario: s.name, change }));
  });
  await draw("scenario-changes-chart", {
    width: "container", height: { step: 36 }, data: { values },
    mark: { type: "tick", opacity: 0.5, thickness: 1 },
    encoding: {
      y: { field: "scenario", type: "nominal", sort: null, title: null },
      x: { field: "change", type: "quantitative",
           title: binary ? "change of each row's probability" : "change of each row's prediction" },
      color: { field: "scenario", type: "nominal", sort: null, scale: { range: CATEGORY_COLOURS }, legend: null },
      tooltip: [{ field: "scenario" }, { field: "change", format: "+.4~g" }],
    },
  });
}

// The `scenarios` part of a result, or nothing when the result has none.
export async function showResult(result) {
  const view = $("scenarios-view");
  view.hidden = !result.scenarios;
  if (!result.scenarios) return;
  const nameOf = namer(result);
  $("scenarios-tables").replaceChildren(scenarioTable(result, nameOf));
  await Promise.all([changesChart(result), shapChangeChart(result, nameOf)]);
}
