// The page's wiring: dataset -> analysis -> job -> result. Plain ES modules; the charts are Vega-Lite.

import { ApiError, apiKey, fetchPlot, getJSON, postJSON, remove, waitForJob } from "./api.js";
import * as charts from "./charts.js";
import { loadDatasets, loadMetadata, renderColumns, submitUpload, suggestName } from "./dataset.js";
import { $, fmt, options, saveFile, showError } from "./dom.js";
import { addFilter, composedFilters, setColumns, validateSoon } from "./filters.js";
import { namer, rowNamer } from "./labels.js";
import { renderRows, renderSummary, resultsCsv, sortChoices, sortedRows } from "./results.js";

const RUNNING = new Set(["queued", "started", "deferred", "scheduled"]);
const state = { meta: null, job: null, result: null, values: null, fallback: null, selected: null,
                feature: null, sortKey: "prediction", order: "desc", page: 0, ordered: [], canceled: false };

function analysisRequest() {
  const request = { dataset: $("dataset").value, target_variable: $("target").value,
                    analysis_type: $("analysis-type").value, demographic_filters: composedFilters() };
  const sample = $("sample-size").value.trim();
  if (sample) request.sample_size = Number(sample);  // 2.5 goes as it is: the service says what to change
  const excluded = $("exclude-columns").value.split(",").map((c) => c.trim()).filter(Boolean);
  if (excluded.length) request.exclude_columns = excluded;
  return request;
}

const revalidate = () => state.meta && validateSoon(analysisRequest);

async function selectDataset(name) {
  try {
    state.meta = await loadMetadata(name);
  } catch (error) {
    showError($("dataset-info"), error);
    return;
  }
  setColumns(state.meta);
  $("results").hidden = true;  // the result shown was another dataset's
  state.result = null;
  // without a default target, the last column: where a table usually keeps what it is about
  const targets = state.meta.columns.filter((c) => c.type !== "id").map((c) => [c.name, c.name]);
  options($("target"), targets, state.meta.default_target ?? targets.at(-1)?.[0]);
  renderColumns(state.meta, $("target").value);
  revalidate();
}

// An analyst key (ANALYST_API_KEYS) may not change datasets: the upload controls are disabled, saying why.
async function applyRole() {
  const { role } = await getJSON("/whoami");
  const analyst = role === "analyst";
  for (const control of $("upload-form").elements) control.disabled = analyst;
  $("upload-role").hidden = !analyst;
}

async function refreshDatasets(selected) {
  try {
    await loadDatasets(selected);
    await applyRole();
    $("key-state").textContent = apiKey.get() ? "key in use for this tab" : "";
    await selectDataset($("dataset").value);
  } catch (error) {
    const hint = error instanceof ApiError && error.status === 401 ? " Enter the API key above." : "";
    $("key-state").textContent = error.message + hint;
  }
}

// --- the job --------------------------------------------------------------------------------------

function showProgress(body) {
  const { stage, percent, iteration, iterations } = body.progress ?? { stage: body.status, percent: 0 };
  // while CatBoost trains, the trees it has built: a long training shows it moves
  const trees = iteration != null && iterations ? ` (tree ${iteration} of at most ${iterations})` : "";
  $("job-progress").value = percent;
  $("job-state").textContent = `${body.status}: ${stage.replaceAll("_", " ")}${trees} · ${percent} %`;
}

function jobFailure(body) {
  if (body.status === "failed") return `The job failed: ${body.error?.message ?? "no message"} (${body.error?.type})`;
  return `The job ended ${body.status}.`;
}

// A job the analyst canceled ended as asked: no full bar, no error.
function showCanceled(body) {
  $("job-progress").value = 0;
  $("job-state").textContent = body.status === "stopped" ? "Stopped (it was running)." : "Canceled.";
}

async function runAnalysis(event) {
  event.preventDefault();
  showError($("analysis-error"), null);
  $("run").disabled = true;
  try {
    const accepted = await postJSON("/analyze", analysisRequest());
    state.job = accepted.job_id;
    state.canceled = false;
    $("job").hidden = false;
    $("cancel").hidden = accepted.status === "finished";
    const body = await waitForJob(state.job, showProgress, () => state.canceled);
    if (body.status === "finished") await showResult(body);
    else if (state.canceled && ["canceled", "stopped"].includes(body.status)) showCanceled(body);
    else if (!RUNNING.has(body.status)) showError($("analysis-error"), new Error(jobFailure(body)));
  } catch (error) {
    showError($("analysis-error"), error);
  } finally {
    $("run").disabled = false;
    $("cancel").hidden = true;
  }
}

async function cancelJob() {
  state.canceled = true;
  try {
    showCanceled(await remove(`/job_status/${encodeURIComponent(state.job)}`));
  } catch (error) {
    showError($("analysis-error"), error);
  }
}

// --- the result ------------------------------------------------------------------------------------

async function loadFeatureValues(jobId) {
  try {
    return (await getJSON(`/job_status/${encodeURIComponent(jobId)}/feature_values`)).values;
  } catch (error) {
    if (error instanceof ApiError && [404, 405].includes(error.status)) return null;  // older service
    throw error;
  }
}

// Each feature's value per row: the service's feature_values, else what top_contributors carry.
function valuesOf(feature) {
  if (state.values?.[feature]) return state.values[feature];
  state.fallback ??= {};
  if (!state.fallback[feature]) {
    state.fallback[feature] = state.result.results.map((row) =>
      row.top_contributors?.find((c) => c.feature === feature)?.value ?? null);
  }
  return state.fallback[feature];
}

async function showResult(body) {
  state.job = body.job_id;
  state.result = body.result;
  state.status = body;
  state.values = await loadFeatureValues(body.job_id);
  state.fallback = null;
  Object.assign(state, { selected: null, sortKey: "prediction", order: "desc", page: 0 });
  $("results").hidden = false;
  $("results").dataset.jobId = body.job_id;
  renderSummary(state.result);
  sortChoices(state.result);
  const features = state.result.feature_importance.map((f) => f.feature);
  const nameOf = namer(state.result);
  state.rowName = rowNamer(state.result, state.meta?.id_columns);
  options($("dependence-feature"), features.map((f) => [f, nameOf(f)]), features[0]);
  charts.clear("waterfall-chart");
  $("waterfall-caption").textContent = "Waterfall: choose a row in the table";
  refreshTable();
  await Promise.all([charts.importanceBar(state.result.feature_importance, pickFeature),
    charts.beeswarm(state.result, valuesOf, pickFeature, state.rowName), pickFeature(features[0])]);
  $("results").scrollIntoView({ behavior: "smooth", block: "start" });
}

function refreshTable() {
  state.ordered = sortedRows(state.result, state.sortKey, state.order);
  $("sort-by").value = state.sortKey;
  $("sort-order").value = state.order;
  renderRows(state.result, state.ordered, { ...state, onSort: sortBy, onSelect: selectRow });
}

function sortBy(key) {
  state.order = state.sortKey === key && state.order === "desc" ? "asc" : "desc";
  state.sortKey = key;
  state.page = 0;
  refreshTable();
}

async function selectRow(index) {
  state.selected = index;
  refreshTable();
  // keep the focus on the chosen row (the table was redrawn), without scrolling the wide table sideways
  document.querySelector(`#rows-table tr[data-row="${index}"]`)?.focus({ preventScroll: true });
  $("waterfall-caption").textContent = waterfallCaption(state.result, index);
  await charts.waterfall(state.result, index, valuesOf);
}

// "Waterfall of C0259: probability of churned = yes 0.9489 (log-odds 2.921)": the row by its name, the prediction
// in words (a binary one as the probability of the positive class, beside the log-odds the chart is drawn in)
function waterfallCaption(result, index) {
  const row = result.results[index];
  const name = state.rowName(index);
  if (result.model.task === "binary") {
    return `Waterfall of ${name}: probability of ${result.target_variable} = ${result.model.positive_class} ` +
      `${fmt(row.prediction)} (log-odds ${fmt(row.raw_prediction)})`;
  }
  return `Waterfall of ${name}: predicted ${result.target_variable} ${fmt(row.prediction)}`;
}

async function pickFeature(feature) {
  state.feature = feature;
  $("dependence-feature").value = feature;
  await charts.dependence(state.result, feature, valuesOf, state.rowName);
}

// --- downloads -------------------------------------------------------------------------------------

// The service names a row by its id column's value when the result has one, else by its 0-based position.
function rowName(index) {
  const row = state.result.results[index];
  const id = (state.meta?.id_columns ?? []).find((column) => column in row);
  return id ? String(row[id]) : String(index);
}

function plotPath(format) {
  const kind = $("plot-kind").value;
  const query = new URLSearchParams({ format, wait: 10 });
  if (kind === "waterfall") {
    if (state.selected == null) throw new Error("Choose a row in the table first: the waterfall is of one row.");
    query.set("row", rowName(state.selected));
  }
  if (kind === "dependence") query.set("feature", state.feature);
  if (kind === "interaction") {
    const pair = state.result.interactions?.pairs?.[0];
    if (!pair) throw new Error("The interaction plot is of an interactions analysis: choose that type and run it.");
    query.set("feature", pair.feature);
    query.set("with", pair.with);
  }
  const explained = state.result.results[state.selected ?? 0]?.explained_class;
  if (explained != null && kind !== "waterfall") query.set("class", explained);  // multiclass: one class a plot
  return [`/job_status/${encodeURIComponent(state.job)}/plots/${kind}?${query}`, kind];
}

async function downloadPlot(format) {
  const status = $("download-state");
  try {
    const [path, kind] = plotPath(format);
    status.textContent = `drawing the ${kind} plot…`;
    saveFile(await fetchPlot(path), `${kind}-${state.job}.${format}`);
    status.textContent = "";
  } catch (error) {
    showError(status, error);
  }
}

// The service's stand-alone HTML report (GET /job_status/<id>/report): fetched with the key, saved as a file.
async function downloadReport() {
  const status = $("download-state");
  try {
    status.textContent = "building the report…";
    const path = `/job_status/${encodeURIComponent(state.job)}/report?download=1&wait=10`;
    saveFile(await fetchPlot(path), `report-${state.job}.html`);
    status.textContent = "";
  } catch (error) {
    showError(status, error);
  }
}

function wire() {
  $("api-key").value = apiKey.get();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    apiKey.set($("api-key").value.trim());
    refreshDatasets();
  });
  $("reload-datasets").addEventListener("click", () => refreshDatasets());
  $("dataset").addEventListener("change", () => selectDataset($("dataset").value));
  $("upload-file").addEventListener("change", () => suggestName($("upload-file").files[0]));
  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = await submitUpload();
    if (name) await refreshDatasets(name);
  });
  for (const id of ["target", "analysis-type", "sample-size", "exclude-columns"]) {
    $(id).addEventListener("change", revalidate);
  }
  $("target").addEventListener("change", () => renderColumns(state.meta, $("target").value));
  $("add-filter").addEventListener("click", () => addFilter(revalidate).querySelector("select").focus());
  $("analysis-form").addEventListener("submit", runAnalysis);
  $("cancel").addEventListener("click", cancelJob);
  wireResult();
}

function wireResult() {
  $("sort-by").addEventListener("change", () => { state.sortKey = $("sort-by").value; state.page = 0; refreshTable(); });
  $("sort-order").addEventListener("change", () => { state.order = $("sort-order").value; state.page = 0; refreshTable(); });
  $("prev-page").addEventListener("click", () => { state.page -= 1; refreshTable(); });
  $("next-page").addEventListener("click", () => { state.page += 1; refreshTable(); });
  $("dependence-feature").addEventListener("change", () => pickFeature($("dependence-feature").value));
  $("download-csv").addEventListener("click", () =>
    saveFile(new Blob([resultsCsv(state.result)], { type: "text/csv" }), `results-${state.job}.csv`));
  $("download-json").addEventListener("click", () =>
    saveFile(new Blob([JSON.stringify(state.status)], { type: "application/json" }), `result-${state.job}.json`));
  $("download-report").addEventListener("click", downloadReport);
  $("download-png").addEventListener("click", () => downloadPlot("png"));
  $("download-svg").addEventListener("click", () => downloadPlot("svg"));
}

wire();
refreshDatasets();
