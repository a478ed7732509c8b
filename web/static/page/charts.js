import { fmt } from "./dom.js";
import { namer, probability, scaleOf } from "./labels.js";

// The interactive charts, drawn in the browser from the result with Vega-Lite (vendored: /page/vendor).
// Colours are Okabe-Ito's colour-blind-safe blue and vermillion, and Vega's blue-orange scheme for values.

export const NEGATIVE = "#0072B2";
export const POSITIVE = "#D55E00";
const CATEGORY_GREY = "#777777";  // a text feature's points in the beeswarm: no order among its values
export const BAR_FEATURES = 15;
const SWARM_FEATURES = 12;
const SWARM_ROWS = 1500;
const WATERFALL_FEATURES = 10;
const DEPENDENCE_ROWS = 5000;  // more points say nothing more and slow the browser down
const views = {};

// width "container" fits each chart to its box; heights follow the number of features (a step per band)
const BASE = { autosize: { type: "fit-x", contains: "padding" },
               config: { font: "system-ui, sans-serif", axis: { labelLimit: 180 }, view: { stroke: null } } };

// names take at most a third of a narrow chart (a phone), so the marks keep room to be read
function fitted(container) {
  const labelLimit = Math.min(180, Math.max(60, Math.round(container.clientWidth / 3)));
  return { ...BASE, config: { ...BASE.config, axis: { labelLimit }, title: { limit: container.clientWidth } } };
}

async function draw(id, spec, renderer = "svg") {
  views[id]?.finalize();
  const container = document.getElementById(id);
  const embedded = await window.vegaEmbed(container, { ...fitted(container), ...spec }, { actions: false, renderer });
  views[id] = embedded;
  return embedded.view;
}

export function clear(id) {
  views[id]?.finalize();
  delete views[id];
  document.getElementById(id).replaceChildren();
}

// Mean |SHAP| per feature, most important first, each named by its label; a click on a bar calls
// onPick(feature) with the column name.
export async function importanceBar(importance, onPick) {
  const nameOf = namer({ feature_importance: importance });
  const shown = importance.slice(0, BAR_FEATURES).map((f) => ({ ...f, name: nameOf(f.feature) }));
  const view = await draw("bar-chart", {
    width: "container", height: { step: 26 }, data: { values: shown },
    mark: { type: "bar", color: NEGATIVE, cursor: "pointer" },
    encoding: {
      y: { field: "name", type: "nominal", sort: null, title: null },
      x: { field: "importance", type: "quantitative", title: "mean |SHAP value|" },
      tooltip: [{ field: "name", title: "feature" }, { field: "importance", format: ".4~g", title: "mean |SHAP|" }],
    },
  });
  view.addEventListener("click", (_event, item) => item?.datum?.feature && onPick(item.datum.feature));
}

// A stable pseudo-random offset in [-0.45, 0.45] per row, so the swarm does not move between redraws.
const jitter = (index) => (((index * 2654435761) % 4294967296) / 4294967296 - 0.5) * 0.9;

// Each value's place among its feature's values (0 lowest, 1 highest); null where the value is unknown.
function ranks(values) {
  const known = [...new Set(values.filter((v) => v != null))];
  known.sort((a, b) => (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b))));
  const place = new Map(known.map((v, i) => [v, known.length > 1 ? i / (known.length - 1) : 0.5]));
  return values.map((v) => (v == null ? null : place.get(v)));
}

function swarmPoints(result, valuesOf, rowName) {
  const features = result.feature_importance.slice(0, SWARM_FEATURES).map((f) => f.feature);
  const nameOf = namer(result);
  const rows = result.results.length;
  const step = Math.max(1, Math.ceil(rows / SWARM_ROWS));
  return features.flatMap((feature) => {
    const values = valuesOf(feature);
    const placed = ranks(values);
    // categories have no low and high: their points stay grey (as the service's beeswarm draws them)
    const categorical = values.some((v) => typeof v === "string");
    const points = [];
    for (let i = 0; i < rows; i += step) {
      points.push({ feature, name: nameOf(feature), row: rowName(i), shap: result.shap_values[feature][i], value: values[i] ?? "unknown",
                    rank: placed[i], categorical, jitter: jitter(i) });
    }
    return points;
  });
}

// SHAP value of every row (up to SWARM_ROWS) for the top features; colour is the feature's value.
export async function beeswarm(result, valuesOf, onPick, rowName) {
  const points = swarmPoints(result, valuesOf, rowName);
  const scale = scaleOf(result);
  const order = [...new Set(points.map((p) => p.name))];
  const view = await draw("beeswarm-chart", {
    width: "container", height: { step: 34 }, data: { values: points },
    mark: { type: "circle", size: 14, opacity: 0.8, cursor: "pointer" },
    encoding: {
      y: { field: "name", type: "nominal", sort: order, title: null },
      yOffset: { field: "jitter", type: "quantitative", scale: { domain: [-0.5, 0.5] } },
      x: { field: "shap", type: "quantitative", title: `SHAP value (${scale ?? "impact on the prediction"})` },
      color: { condition: { test: "datum.categorical", value: CATEGORY_GREY },
               field: "rank", type: "quantitative", title: "feature value", scale: { scheme: "blueorange" },
               legend: { labelExpr: "datum.value === 0 ? 'low' : datum.value === 1 ? 'high' : ''",
                         values: [0, 1], orient: "bottom", gradientLength: 120 } },
      tooltip: [{ field: "name", title: "feature" }, { field: "value" }, { field: "shap", title: "SHAP", format: ".4~g" },
                { field: "row" }],
    },
  }, "canvas");
  view.addEventListener("click", (_event, item) => item?.datum?.feature && onPick(item.datum.feature));
}

function waterfallSteps(result, index, valuesOf, base) {
  const nameOf = namer(result);
  const contributions = result.feature_importance.map(({ feature }) =>
    ({ feature, name: nameOf(feature), shap: result.shap_values[feature][index] ?? 0, value: valuesOf(feature)[index] }));
  contributions.sort((a, b) => Math.abs(b.shap) - Math.abs(a.shap));
  const top = contributions.slice(0, WATERFALL_FEATURES);
  const rest = contributions.slice(WATERFALL_FEATURES);
  // value first, as shap's waterfall writes it: a label too long for the axis loses the end of the name
  const steps = top.map((c) => ({ label: c.value == null ? `missing = ${c.name}` : `${fmt(c.value)} = ${c.name}`, ...c }));
  if (rest.length) {
    steps.push({ label: `${rest.length} other features`, feature: null, value: null,
                 shap: rest.reduce((sum, c) => sum + c.shap, 0) });
  }
  let level = base;  // drawn from the bottom (the rest) up to the largest contribution
  for (const step of [...steps].reverse()) {
    step.start = level;
    level += step.shap;
    step.end = level;
    step.tip = Math.max(step.start, step.end);  // where the value's label goes
  }
  return steps;
}

// How one row's prediction is built from the base value, feature by feature.
export async function waterfall(result, index, valuesOf) {
  const row = result.results[index];
  // a multiclass result has a base value per class: the row is explained for its predicted class
  const base = typeof result.base_value === "number" ? result.base_value : result.base_value[row.explained_class];
  const steps = waterfallSteps(result, index, valuesOf, base);
  const raw = row.raw_prediction;
  const scale = scaleOf(result);
  // a binary result's f(x) is log-odds: its probability is shown beside it
  const chance = result.model?.task === "binary"
    ? `   probability ${fmt(probability(raw))} (base ${fmt(probability(base))})` : "";
  await draw("waterfall-chart", {
    width: "container", height: { step: 24 }, data: { values: steps },
    title: { text: `f(x) = ${fmt(raw)}   from E[f(x)] = ${fmt(base)}${chance}`,
             subtitle: scale ? `in ${scale}` : undefined, fontSize: 12, fontWeight: "normal" },
    encoding: { y: { field: "label", type: "nominal", sort: null, title: null } },
    layer: [
      { mark: { type: "bar" },
        encoding: {
          x: { field: "start", type: "quantitative", scale: { zero: false },
               title: scale ? `model output (${scale})` : "model output (predicted value)" },
          x2: { field: "end" },
          color: { condition: { test: "datum.shap >= 0", value: POSITIVE }, value: NEGATIVE },
          tooltip: [{ field: "label", title: "feature" }, { field: "shap", title: "SHAP", format: "+.4~g" }],
        } },
      { mark: { type: "text", align: "left", dx: 4, fontSize: 11 },
        encoding: { x: { field: "tip", type: "quantitative" }, text: { field: "shap", format: "+.3~g" } } },
    ],
  });
}

// SHAP value against the feature's value for every row where the value is known.
export async function dependence(result, feature, valuesOf, rowName) {
  const name = namer(result)(feature);
  const scale = scaleOf(result);
  const values = valuesOf(feature);
  const step = Math.max(1, Math.ceil(values.length / DEPENDENCE_ROWS));
  const points = result.shap_values[feature].map((shap, i) => ({ row: rowName(i), shap, value: values[i] }))
    .filter((p, i) => p.value != null && i % step === 0);
  const numeric = points.every((p) => typeof p.value === "number");
  await draw("dependence-chart", {
    width: "container", height: 260, data: { values: points },
    mark: { type: "circle", size: 22, opacity: 0.7, color: NEGATIVE },
    encoding: {
      x: { field: "value", type: numeric ? "quantitative" : "nominal", title: name, scale: { zero: false } },
      y: { field: "shap", type: "quantitative", title: `SHAP value of ${name}${scale ? ` (${scale})` : ""}` },
      tooltip: [{ field: "row" }, { field: "value", title: name }, { field: "shap", title: "SHAP", format: ".4~g" }],
    },
  }, "canvas");
  return points.length;
}
