// The page's wiring: dataset -> analysis -> job -> result, and the address that reopens it (link.js). Plain ES
// modules; the charts are Vega-Lite; the result is read a part at a time (resultdata.js).

import { ApiError, RUNNING, apiKey, fetchBlob, fetchPlot, getJSON, jobStatus, postJSON, remove,
  waitForJob } from "./api.js";
import * as charts from "./charts.js";
import { loadDatasets, loadMetadata, renderColumns, submitUpload, suggestName } from "./dataset.js";
import { $, fmt, options, saveFile, showError } from "./dom.js";
import * as editors from "./editors.js";
import { addFilter, composedFilters, restoreFilters, setColumns, validateSoon } from "./filters.js";
import { showInteractions } from "./interactions.js";
import { namer } from "./labels.js";
import { lastDataset, readLink, writeLink } from "./link.js";
import { renderRows, renderSummary, sortChoices } from "./results.js";
import { SUMMARY_FIELDS, dataName, featureSample, loadResult, rowNamer, swarmSample, tablePage } from "./resultdata.js";

// The editors' modules (`import * as editor from "./editor.js"`, then listed here): each may export
// restore(request), called with a linked request once its dataset is chosen, to show its part of it.
const EDITORS = [editors];  // editors.js gathers the cohort, scenario and row editors

const state = { meta: null, job: null, result: null, rowName: (row) => `row ${row}`, selected: null, rows: [],
                feature: null, sortKey: "prediction", order: "desc", page: 0, canceled: false, request: null,
                link: readLink(), tableTicket: 0 };

function analysisRequest() {
  const request = { dataset: $("dataset").value, target_variable: $("target").value,
                    analysis_type: $("analysis-type").value, demographic_filters: composedFilters() };
  const sample = $("sample-size").value.trim();
  if (sample) request.sample_size = Number(sample);  // 2.5 or 0 go as they are: the service says what to change
  const excluded = $("exclude-columns").value.split(",").map((c) => c.trim()).filter(Boolean);
  if (excluded.length) request.exclude_columns = excluded;
  return { ...request, ...editors.requestParts() };  // cohorts or scenarios, as the type asks
}

// A change of the request: the refusal of the previous one no longer applies (its cause may be gone), and the
// service checks the new one.
function revalidate() {
  showError($("analysis-error"), null);
  if (state.meta) validateSoon(analysisRequest, editors.refusal);
}

async function selectDataset(name) {
  try {
    state.meta = await loadMetadata(name);
  } catch (error) {
    showError($("dataset-info"), error);
    return false;
  }
  lastDataset.set(name);
  setColumns(state.meta);
  $("results").hidden = true;  // the result shown was another dataset's
  state.result = null;
  // without a default target, the last column: where a table usually keeps what it is about
  const targets = state.meta.columns.filter((c) => c.type !== "id").map((c) => [c.name, c.name]);
  options($("target"), targets, state.meta.default_target ?? targets.at(-1)?.[0]);
  editors.setDataset(state.meta, revalidate);
  renderColumns(state.meta, $("target").value);
  revalidate();
  return true;
}

// A linked request into the form: the dataset's controls, the filters, then each editor's part.
function applyRequest(request) {
  if (request.target_variable) $("target").value = request.target_variable;
  renderColumns(state.meta, $("target").value);
  if (request.analysis_type) $("analysis-type").value = request.analysis_type;
  $("sample-size").value = request.sample_size ?? "";
  $("exclude-columns").value = (request.exclude_columns ?? []).join(", ");
  const unshown = restoreFilters(request.demographic_filters, revalidate);
  for (const editor of EDITORS) editor.restore?.(request);
  revalidate();
  if (unshown.length) showError($("link-state"), new Error(`Filters the builder cannot show were left out: ${unshown.join("; ")}`));
}

// An analyst key (ANALYST_API_KEYS) may not change datasets: the upload controls are disabled, saying why.
async function applyRole() {
  const { role } = await getJSON("/whoami");
  const analyst = role === "analyst";
  for (const control of $("upload-form").elements) control.disabled = analyst;
  $("upload-role").hidden = !analyst;
}

// The datasets, then the dataset to show: the one asked for, else the link's, else the last one used.
async function refreshDatasets(selected) {
  const link = state.link;
  try {
    const datasets = await loadDatasets(selected ?? link.request?.dataset ?? lastDataset.get() ?? undefined);
    await applyRole();
    $("key-state").textContent = apiKey.get() ? "key in use for this tab" : "";
    if (!selected && link.request && !datasets.some((d) => d.name === link.request.dataset)) {
      showError($("link-state"), new Error(`The linked dataset ${link.request.dataset} is not on this service.`));
      state.link = { job: null, request: null };
    }
    if (!(await selectDataset($("dataset").value))) return;
    if (!selected && state.link.request) await openLink(state.link);
  } catch (error) {
    const hint = error instanceof ApiError && error.status === 401 ? " Enter the API key above." : "";
    $("key-state").textContent = error.message + hint;
  }
}

// A link opened: its request in the form, and its job's result (or, once the job has expired, an offer to run
// the same request again). Opened once: later dataset reloads keep what the analyst changed since.
async function openLink(link) {
  state.link = { job: null, request: null };
  applyRequest(link.request);
  state.request = link.request;
  if (!link.job) return;
  try {
    await followJob(link.job, await jobStatus(link.job, SUMMARY_FIELDS));
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    $("link-state").textContent = `The linked result (job ${link.job}) is no longer kept by the service. `;
    $("run-again").hidden = false;
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

// Wait for a job (long polls) from its first status body, then show its result or how it ended.
async function followJob(jobId, first) {
  state.job = jobId;
  state.canceled = false;
  $("job").hidden = false;
  showProgress(first);
  $("cancel").hidden = !RUNNING.has(first.status);
  const body = RUNNING.has(first.status) ? await waitForJob(jobId, SUMMARY_FIELDS, showProgress, () => state.canceled)
    : first;
  if (body.status === "finished") await showResult(body);
  else if (state.canceled && ["canceled", "stopped"].includes(body.status)) showCanceled(body);
  else if (!RUNNING.has(body.status)) showError($("analysis-error"), new Error(jobFailure(body)));
}

// Run the form's request, or `linked`: the request of a link whose job expired, sent again as it was (with any
// part the form could not show).
async function runAnalysis(event, linked = null) {
  event?.preventDefault();
  showError($("analysis-error"), null);
  showError($("link-state"), null);
  editors.refusal(null);
  $("run-again").hidden = true;
  $("run").disabled = true;
  try {
    const request = linked ?? analysisRequest();
    const accepted = await postJSON("/analyze", request);
    state.request = request;
    writeLink(request, accepted.job_id);
    await followJob(accepted.job_id, { job_id: accepted.job_id, status: accepted.status === "finished" ? "queued"
      : accepted.status });
  } catch (error) {
    if (!editors.refusal(error)) showError($("analysis-error"), error);  // a cohort's or scenario's: beside it
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

async function showResult(body) {
  state.job = body.job_id;
  state.result = await loadResult(body);
  state.rowName = await rowNamer(body.job_id, state.meta?.id_columns ?? []);
  Object.assign(state, { selected: null, sortKey: "prediction", order: "desc", page: 0 });
  $("job").hidden = true;
  $("results").hidden = false;
  $("results").dataset.jobId = body.job_id;
  renderSummary(state.result);
  const questions = editors.showResult(state.result);  // a comparison's cohorts, a what-if's scenarios
  sortChoices(state.result);
  const features = state.result.feature_importance.map((f) => f.feature);
  const nameOf = namer(state.result);
  options($("dependence-feature"), features.map((f) => [f, nameOf(f)]), features[0]);
  options($("dependence-colour"), [["", "no colour"], ...features.map((f) => [f, nameOf(f)])], "");
  offerPlots();
  charts.clear("waterfall-chart");
  $("waterfall-caption").textContent = "Waterfall: choose a row in the table";
  await Promise.all([refreshTable(), charts.importanceBar(state.result.feature_importance, pickFeature),
    swarmSample(state.job, state.result).then((columns) => charts.beeswarm(state.result, columns, pickFeature, state.rowName)),
    pickFeature(features[0]), showInteractions(state.job, state.result, state.rowName), questions]);
  $("results").scrollIntoView({ behavior: "smooth", block: "start" });
}

// The plot menu offers what this result can draw: the interaction plot only for an interactions analysis, the
// waterfall once a row is chosen.
function offerPlots() {
  const menu = $("plot-kind");
  menu.querySelector("option[value='interaction']").hidden = !state.result.interactions?.pairs?.length;
  menu.querySelector("option[value='interaction']").disabled = !state.result.interactions?.pairs?.length;
  menu.querySelector("option[value='waterfall']").disabled = state.selected == null;
  if (menu.selectedOptions[0]?.disabled) menu.value = "bar";
}

// The shown page of the table, read from /rows; the newest request wins when pages are turned quickly.
async function refreshTable() {
  const ticket = ++state.tableTicket;
  $("sort-by").value = state.sortKey;
  $("sort-order").value = state.order;
  const rows = await tablePage(state.job, state.result, state);
  if (ticket !== state.tableTicket) return;
  state.rows = rows;
  drawTable();
}

function drawTable() {
  renderRows(state.result, state.rows, { ...state, total: state.result.explained_rows, onSort: sortBy,
                                         onSelect: selectRow });
}

function sortBy(key) {
  state.order = state.sortKey === key && state.order === "desc" ? "asc" : "desc";
  state.sortKey = key;
  state.page = 0;
  return refreshTable();
}

async function selectRow(row) {
  state.selected = row;
  drawTable();
  offerPlots();
  // keep the focus on the chosen row (the table was redrawn), without scrolling the wide table sideways
  document.querySelector(`#rows-table tr[data-row="${row.row}"]`)?.focus({ preventScroll: true });
  $("waterfall-caption").textContent = waterfallCaption(state.result, row);
  await charts.waterfall(state.result, row);
}

// "Waterfall of C0259: probability of churned = yes 0.9489 (log-odds 2.921)": the row by its name, the prediction
// in words (a binary one as the probability of the positive class, beside the log-odds the chart is drawn in)
function waterfallCaption(result, row) {
  const name = state.rowName(row.row);
  if (result.model.task === "binary") {
    return `Waterfall of ${name}: probability of ${result.target_variable} = ${result.model.positive_class} ` +
      `${fmt(row.prediction)} (log-odds ${fmt(row.raw_prediction)})`;
  }
  return `Waterfall of ${name}: predicted ${result.target_variable} ${fmt(row.prediction)}`;
}

async function pickFeature(feature) {
  state.feature = feature;
  $("dependence-feature").value = feature;
  const partner = $("dependence-colour").value || null;
  const columns = await featureSample(state.job, partner && partner !== feature ? [feature, partner] : [feature]);
  if (state.feature !== feature) return;
  await charts.dependence(state.result, feature, columns, state.rowName, partner !== feature ? partner : null);
}

// --- downloads -------------------------------------------------------------------------------------

// The service names a row by its id column's value when the result has one, else by its 0-based position.
function plotRowName(row) {
  const id = (state.meta?.id_columns ?? []).map(dataName).find((column) => row[column] != null);
  return id ? String(row[id]) : String(row.row);
}

function plotPath(format) {
  const kind = $("plot-kind").value;
  const query = new URLSearchParams({ format, wait: 10 });
  if (kind === "waterfall") {
    if (state.selected == null) throw new Error("Choose a row in the table first: the waterfall is of one row.");
    query.set("row", plotRowName(state.selected));
  }
  if (kind === "dependence") {
    query.set("feature", state.feature);
    if ($("dependence-colour").value && $("dependence-colour").value !== state.feature) {
      query.set("color", $("dependence-colour").value);
    }
  }
  if (kind === "interaction") {
    const pressed = document.querySelector("#interaction-pairs button[aria-pressed='true']")?.dataset.pair ?? 0;
    const pair = state.result.interactions.pairs[pressed];
    query.set("feature", pair.feature);
    query.set("with", pair.with);
  }
  const explained = (state.selected ?? state.rows[0])?.predicted_class;
  if (state.result.model.task === "multiclass" && kind !== "waterfall") query.set("class", explained);
  return [`/job_status/${encodeURIComponent(state.job)}/plots/${kind}?${query}`, kind];
}

async function download(path, name) {
  const status = $("download-state");
  try {
    status.textContent = "downloading…";
    saveFile(await fetchBlob(path), name);
    status.textContent = "";
  } catch (error) {
    showError(status, error);
  }
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
  $("reload-datasets").addEventListener("click", () => refreshDatasets($("dataset").value));
  $("dataset").addEventListener("change", () => selectDataset($("dataset").value));
  $("upload-file").addEventListener("change", () => {
    showError($("upload-state"), null);  // the last upload's refusal was of another file
    suggestName($("upload-file").files[0]);
  });
  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = await submitUpload();
    if (name) await refreshDatasets(name);
  });
  for (const id of ["target", "analysis-type", "sample-size", "exclude-columns"]) {
    $(id).addEventListener("change", revalidate);
    $(id).addEventListener("input", revalidate);
  }
  $("target").addEventListener("change", () => renderColumns(state.meta, $("target").value));
  $("add-filter").addEventListener("click", () => addFilter(revalidate).querySelector("select").focus());
  $("analysis-form").addEventListener("submit", runAnalysis);
  $("run-again").addEventListener("click", () => runAnalysis(null, state.request));
  $("cancel").addEventListener("click", cancelJob);
  editors.wire(revalidate);
  // a link pasted into this tab's address bar changes only the fragment: no reload, so it is opened here
  window.addEventListener("hashchange", () => {
    state.link = readLink();
    refreshDatasets();
  });
  wireResult();
}

function wireResult() {
  $("sort-by").addEventListener("change", () => { state.sortKey = $("sort-by").value; state.page = 0; refreshTable(); });
  $("sort-order").addEventListener("change", () => { state.order = $("sort-order").value; state.page = 0; refreshTable(); });
  $("prev-page").addEventListener("click", () => { state.page -= 1; refreshTable(); });
  $("next-page").addEventListener("click", () => { state.page += 1; refreshTable(); });
  $("dependence-feature").addEventListener("change", () => pickFeature($("dependence-feature").value));
  $("dependence-colour").addEventListener("change", () => pickFeature(state.feature));
  $("download-csv").addEventListener("click", () =>
    download(`/job_status/${encodeURIComponent(state.job)}/rows?format=csv`, `results-${state.job}.csv`));
  $("download-json").addEventListener("click", () =>
    download(`/job_status/${encodeURIComponent(state.job)}`, `result-${state.job}.json`));
  $("download-report").addEventListener("click", downloadReport);
  $("plot-kind").addEventListener("change", () => showError($("download-state"), null));  // another plot
  $("download-png").addEventListener("click", () => downloadPlot("png"));
  $("download-svg").addEventListener("click", () => downloadPlot("svg"));
}

wire();
refreshDatasets();
