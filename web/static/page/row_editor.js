// The single-row editor: a row of the last result (or a blank one), its values changed in inputs typed by the
// dataset's column types, and after each change (debounced) the row's new prediction and waterfall: an analysis of
// that one row posted as `data` (docs/api.md), long-polled until it ends. The model of the dataset and target is
// the one the page's analyses use (trained once, then reused), so on the built-in table an answer takes a fraction
// of a second (bench/row_editor.py).

import { jobRows, postJSON, waitForJob } from "./api.js";
import * as charts from "./charts.js";
import { $, el, fmt } from "./dom.js";
import { writeLink } from "./link.js";

const DEBOUNCE_MS = 250;
// what the prediction and the waterfall of one row read of its result (a one-row result is small anyway)
const FIELDS = ["target_variable", "feature_importance", "shap_values", "base_value", "results", "model"];
let meta = null;
let features = [];
let timer = null;
let latest = 0;
let baseline = null;  // the prediction of the row as loaded (or blank), which each edit's is compared with
let loadedFrom = null;  // "row 5" (of the last result), "blank" or "link"

export function setDataset(datasetMeta) {
  meta = datasetMeta;
  close();
}

// What a row may hold: the model's candidate features (no ids, no exclusions, not the target).
function editable() {
  const target = $("target").value;
  const excluded = new Set([...meta.exclude_columns, ...$("exclude-columns").value.split(",").map((c) => c.trim())]);
  return meta.columns.filter((c) => c.type !== "id" && c.name !== target && !excluded.has(c.name));
}

function input(column, value) {
  const id = `row-value-${features.indexOf(column)}`;
  const attributes = { id, name: column.name, "data-column": column.name, oninput: edited };
  let control;
  if (column.type === "numeric") {
    control = el("input", { ...attributes, type: "number", step: "any", placeholder: `median ${fmt(column.median)}` });
  } else {
    control = el("input", { ...attributes, list: `${id}-values`, placeholder: "a value" });
  }
  control.value = value == null ? "" : String(value);
  const range = column.type === "numeric" && column.min != null ? `${fmt(column.min)} to ${fmt(column.max)}` : column.type;
  return el("div", { class: "row-field" }, el("label", { for: id }, column.name), control,
    column.type === "numeric" ? null : el("datalist", { id: `${id}-values` },
      Object.keys(column.top_values ?? {}).map((v) => el("option", { value: v }))),
    el("span", { class: "hint" }, range));
}

// Open the editor on `values` (column -> value; missing keys are blank) and ask for its prediction.
function open(values, from) {
  features = editable();
  $("row-fields").replaceChildren(...features.map((column) => input(column, values[column.name])));
  $("row-editor-body").hidden = false;
  baseline = null;
  loadedFrom = from;
  $("row-prediction").textContent = "";
  charts.clear("row-waterfall-chart");
  askSoon(0);
}

function close() {
  clearTimeout(timer);  // a change still waiting would post a row of another dataset's columns
  latest += 1;  // and an answer still coming is of a row no longer shown
  $("row-state").textContent = "";
  features = [];
  baseline = null;
  $("row-fields").replaceChildren();
  $("row-editor-body").hidden = true;
  $("row-prediction").textContent = "";
  showError(null);
}

// The row as the inputs hold it: numbers for numeric columns, text for the others, empty as missing (null).
export function editedRow() {
  const row = {};
  for (const control of $("row-fields").querySelectorAll("[data-column]")) {
    const text = control.value.trim();
    const numeric = control.type === "number";
    row[control.dataset.column] = text === "" ? null : numeric ? Number(text) : text;
  }
  return row;
}

function request() {
  const body = { dataset: $("dataset").value, target_variable: $("target").value, analysis_type: "correlation",
                 data: [editedRow()] };
  const excluded = $("exclude-columns").value.split(",").map((c) => c.trim()).filter(Boolean);
  if (excluded.length) body.exclude_columns = excluded;
  return body;
}

// The edited row, for the page's address (app.js): `data` while the editor is open. Run analysis never sends it.
export function toRequest() {
  return $("row-editor-body").hidden ? {} : { data: [editedRow()] };
}

// A request's first `data` row back into the editor (a link to an edited row).
export function restore(request) {
  const row = request?.data?.[0];
  if (row && meta) open(row, "link");
}

function edited() {
  showError(null);  // the refusal was of the values as they were
  askSoon(DEBOUNCE_MS);
}

function askSoon(delay) {
  clearTimeout(timer);
  timer = setTimeout(ask, delay);
}

// One analysis of the edited row; the newest change's answer wins, an older one is dropped.
async function ask() {
  const ticket = ++latest;
  $("row-state").textContent = "predicting…";
  try {
    const posted = request();
    const accepted = await postJSON("/analyze", posted);
    // long polls until it ends; a newer change does not cancel it (it is a fraction of a second), only drops it
    const body = await waitForJob(accepted.job_id, FIELDS, () => {}, () => false);
    if (ticket !== latest) return;
    if (body.status !== "finished") throw new Error(`The job ended ${body.status}: ${body.error?.message ?? "no message"}`);
    await show(body.result, accepted.job_id);
    writeLink(posted, null);  // the address reopens this row in the editor (restore), not a result
  } catch (error) {
    if (ticket === latest) showError(error);
  } finally {
    if (ticket === latest) $("row-state").textContent = "";
  }
}

// The prediction in words: a number (a regression's value, a binary target's probability) and, for a multiclass
// target, its predicted class, whose probability the number then is.
function predictionOf(result) {
  const row = result.results[0];
  const target = result.target_variable;
  if (result.model.task === "binary") {
    return { value: row.prediction, text: `probability of ${target} = ${result.model.positive_class}` };
  }
  if (result.model.task === "multiclass") {
    return { value: row.probability, label: row.prediction, text: `predicted ${target} ${row.prediction}, probability` };
  }
  return { value: row.prediction, text: `predicted ${target}` };
}

// Beside the prediction, how it moved from the row as loaded: a number's change, or the class it was before
// (two classes' probabilities are no change of one number).
function fromBaseline(now) {
  const against = loadedFrom === "blank" ? "the blank row" : "the row as loaded";
  if (now.label !== baseline.label) return ` (${against}: ${baseline.label}, ${fmt(baseline.value)})`;
  const change = now.value - baseline.value;
  return change ? ` (${change > 0 ? "+" : ""}${fmt(change)} from ${against}, ${fmt(baseline.value)})` : "";
}

async function show(result, jobId) {
  const now = predictionOf(result);
  baseline ??= now;
  $("row-prediction").textContent = `${now.text}: ${fmt(now.value)}${fromBaseline(now)}`;
  $("row-prediction").dataset.jobId = jobId;  // the analysis shown: tests and the curious read it
  await charts.waterfall(result, rowOf(result), "row-waterfall-chart");
}

// The one explained row as a /rows row (what charts.waterfall reads): its SHAP values and the values it was sent.
function rowOf(result) {
  const [explained] = result.results;
  const values = editedRow();
  const row = { raw_prediction: explained.raw_prediction, predicted_class: explained.explained_class };
  for (const feature of Object.keys(result.shap_values)) {
    row[`shap_${feature}`] = result.shap_values[feature][0];
    row[`value_${feature}`] = values[feature] ?? null;
  }
  return row;
}

function showError(error) {
  $("row-error").textContent = error ? error.message ?? String(error) : "";
}

// Row `number` (1-based, as the result's table numbers them) of the last result, with every feature's value.
async function loadRow() {
  showError(null);
  const jobId = $("results").dataset.jobId;
  const number = Number($("row-pick").value);
  try {
    if (!jobId || $("results").hidden) throw new Error("Run an analysis first: a row is picked from its result (or start from a blank row).");
    if (!Number.isInteger(number) || number < 1) throw new Error("Give the row's number as the result's table shows it (1 or more).");
    const table = await jobRows(jobId, { columns: "row,value_*", offset: number - 1, limit: 1 });
    if (!table.row?.length) throw new Error(`The result has no row ${number}: it has fewer rows.`);
    const values = Object.fromEntries(Object.entries(table).filter(([name]) => name.startsWith("value_"))
      .map(([name, column]) => [name.slice(6), column[0]]));
    open(values, `row ${number}`);
  } catch (error) {
    showError(error);
  }
}

export function wire() {
  $("row-load").addEventListener("click", loadRow);
  $("row-blank").addEventListener("click", () => { showError(null); if (meta) open({}, "blank"); });
  // a row chosen in the result's table is the one offered (its number as the table shows it)
  $("rows-table").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-row]");
    if (row) $("row-pick").value = Number(row.dataset.row) + 1;
  });
  // another target or exclusion is another model with other features: the row keeps the values it can
  for (const id of ["target", "exclude-columns"]) {
    $(id).addEventListener("change", () => { if (!$("row-editor-body").hidden) open(editedRow(), loadedFrom); });
  }
}
