// The dataset step: list, upload (with progress), and the chosen dataset's columns with their statistics.

import { getJSON, uploadDataset } from "./api.js";
import { $, el, fmt, options, showError } from "./dom.js";

export async function loadDatasets(selected) {
  const body = await getJSON("/datasets");
  const names = body.datasets.map((d) => d.name);
  options($("dataset"), names.map((name) => [name, name]), selected ?? $("dataset").value ?? names[0]);
  return body.datasets;
}

export const loadMetadata = (name) => getJSON(`/metadata?dataset=${encodeURIComponent(name)}`);

function statistics(column) {
  if (column.type === "numeric") {
    if (column.min == null) return "no finite values";
    return `min ${fmt(column.min)} · median ${fmt(column.median)} · max ${fmt(column.max)} · ` +
      `mean ${fmt(column.mean)} ± ${fmt(column.std)}`;
  }
  const top = Object.entries(column.top_values ?? {}).slice(0, 3).map(([v, n]) => `${v} (${fmt(n)})`);
  return top.join(", ") + (column.unique > 3 ? ", …" : "");
}

function role(meta, name, target) {
  if (name === target) return "target";
  if (name === meta.default_target) return "default target";
  if (meta.id_columns.includes(name)) return "id";
  if (meta.exclude_columns.includes(name)) return "excluded";
  return "feature";
}

// The columns table; `target` is the column the analysis form has chosen.
export function renderColumns(meta, target) {
  const head = el("tr", {}, ["Column", "Type", "Role", "Missing", "Distinct", "Statistics"].map(
    (label) => el("th", { scope: "col" }, label)));
  const rows = meta.columns.map((column) => el("tr", {},
    el("th", { scope: "row" }, column.name), el("td", {}, column.type), el("td", {}, role(meta, column.name, target)),
    el("td", { class: "num" }, fmt(column.missing)), el("td", { class: "num" }, fmt(column.unique)),
    el("td", {}, statistics(column))));
  $("columns-table").replaceChildren(el("caption", {}, `Columns of ${meta.dataset}`), el("thead", {}, head),
    el("tbody", {}, rows));
  $("dataset-info").textContent = `${fmt(meta.row_count)} rows, ${meta.columns.length} columns, version ` +
    `${meta.version}.`;
}

function uploadQuery() {
  const query = {};
  const fields = { default_target: "upload-target", id_columns: "upload-ids", exclude_columns: "upload-excluded",
                   labels: "upload-labels" };  // the service checks each (a bad one is its 400, shown)
  for (const [name, id] of Object.entries(fields)) {
    const value = $(id).value.trim();
    if (value) query[name] = value;
  }
  return query;
}

// Upload the chosen file; returns the stored dataset's name, or null when the service refused it.
export async function submitUpload() {
  const file = $("upload-file").files[0];
  const name = $("upload-name").value.trim();
  const bar = $("upload-progress");
  const state = $("upload-state");
  bar.hidden = false;
  bar.value = 0;
  state.classList.remove("error");
  state.textContent = "uploading…";
  try {
    const body = await uploadDataset(name, file, uploadQuery(), (share) => {
      bar.value = Math.round(share * 100);
      state.textContent = share < 1 ? `uploading ${bar.value} %` : "checking the file…";
    });
    bar.value = 100;
    state.textContent = `${body.created ? "created" : "replaced"} ${body.dataset}: ${fmt(body.rows)} rows`;
    return body.dataset;
  } catch (error) {
    bar.hidden = true;  // the bytes went, but nothing was stored
    state.classList.add("error");
    showError(state, error);
    return null;
  }
}

export function suggestName(file) {
  if (!file || $("upload-name").value) return;
  $("upload-name").value = file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64);
}
