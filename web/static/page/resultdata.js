// What the page reads of a finished analysis, and only that (docs/page.md, "What the page downloads"): the
// result's small fields through `?fields=`, its question part when it has one, and per-row data through
// GET /job_status/<id>/rows in its columnar JSON form: a page of the table, the beeswarm's bounded sample and the
// chosen feature's sample. The whole result (13 MB for 20,000 rows) is fetched only when "Full result" is asked.

import { jobRows, jobStatus } from "./api.js";

// The result's fields every analysis has that the page shows (analysis/result.py, FIELDS).
export const SUMMARY_FIELDS = ["analysis_type", "target_variable", "dataset", "explained_rows", "selected_rows",
  "summary", "feature_importance", "base_value", "model", "version_info", "warnings"];
// The question part of an analysis type, fetched apart: asking for a field a result lacks is a 400.
const PARTS = { interactions: "interactions", comparison: "comparison", what_if: "scenarios" };
export const PAGE_ROWS = 25;
export const SWARM_FEATURES = 12;
export const SWARM_ROWS = 1500;
export const FEATURE_ROWS = 5000;  // a dependence chart's points: more say nothing more and slow the browser
const SEED = 1;

// The rows table's name of a dataset column (analysis/rows_table.py, data_name): a column named like one of the
// service's own is shown as data_<name>.
const SERVICE_COLUMNS = new Set(["row", "prediction", "raw_prediction", "predicted_class", "probability"]);
export function dataName(name) {
  let shown = name;
  while (SERVICE_COLUMNS.has(shown) || /^(probability_|shap_|value_)/.test(shown)) shown = `data_${shown}`;
  return shown;
}

// {column: [values]} -> [{column: value}], one object a row.
export function rowObjects(columns) {
  const names = Object.keys(columns);
  const count = names.length ? columns[names[0]].length : 0;
  return Array.from({ length: count }, (_, i) => Object.fromEntries(names.map((name) => [name, columns[name][i]])));
}

// A finished job's result as the page holds it: the summary fields, plus its question part.
export async function loadResult(body) {
  const result = { ...body.result };
  const part = PARTS[result.analysis_type];
  if (part) Object.assign(result, (await jobStatus(body.job_id, [part])).result);
  return result;
}

// The `columns=` value naming these columns; a name with a comma cannot be listed: its prefix is asked instead
// (an id column's is left out: the row is then named by its position).
function columnList(names) {
  const listed = (name) => (!name.includes(",") ? name : name.startsWith("shap_") ? "shap_*"
    : name.startsWith("value_") ? "value_*" : null);
  return [...new Set(names.map(listed).filter(Boolean))].join(",") || "row";
}

// How the page names a row (docs/summary.md, "Rows"): its id columns' values joined with " / ", a name several
// rows share followed by the row's position, a row without ids by its position, as the service does. The ids of
// every row are read once (a few bytes a row) so that a shared name is known.
export async function rowNamer(jobId, idColumns) {
  const ids = idColumns.map(dataName);
  let names = new Map();
  if (ids.length) {
    const columns = await jobRows(jobId, { columns: columnList(ids) });
    const present = ids.filter((id) => id in columns);
    const joined = columns.row.map((_, i) => present.map((c) => columns[c][i]).filter((v) => v != null).join(" / "));
    const count = new Map();
    for (const name of joined) count.set(name, (count.get(name) ?? 0) + 1);
    names = new Map(columns.row.map((row, i) => [row, joined[i] && count.get(joined[i]) === 1 ? joined[i]
      : joined[i] ? `${joined[i]} (row ${row})` : null]));
  }
  return (row) => names.get(row) ?? `row ${row}`;
}

// The sort column of the table's "prediction": a multiclass prediction is a class label, so its rows sort by the
// score of the class each was explained for.
export const predictionColumn = (result) => (result.model.task === "multiclass" ? "raw_prediction" : "prediction");

// One page of the table, sorted by `sortKey` (prediction, or shap_<feature>): every column of those rows, so a
// chosen row has its SHAP and feature values for its waterfall.
export async function tablePage(jobId, result, view) {
  const sort = view.sortKey === "prediction" ? predictionColumn(result) : view.sortKey;
  const columns = await jobRows(jobId, { columns: "*", sort, order: view.order, offset: view.page * PAGE_ROWS,
                                         limit: PAGE_ROWS });
  return rowObjects(columns);
}

// The beeswarm's rows: a seeded uniform sample of SWARM_ROWS rows, the top features' SHAP and values.
export async function swarmSample(jobId, result) {
  const features = result.feature_importance.slice(0, SWARM_FEATURES).map((f) => f.feature);
  const columns = features.flatMap((f) => [`shap_${f}`, `value_${f}`]);
  return jobRows(jobId, { columns: columnList(columns), sample: SWARM_ROWS, seed: SEED });
}

// A sample of FEATURE_ROWS rows of these features' SHAP and values (a dependence chart and its colour).
export function featureSample(jobId, features) {
  const columns = features.flatMap((f) => [`shap_${f}`, `value_${f}`]);
  return jobRows(jobId, { columns: columnList(columns), sample: FEATURE_ROWS, seed: SEED });
}
