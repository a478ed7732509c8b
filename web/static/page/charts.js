import { fmt } from "./dom.js";
import { namer, probability, scaleOf } from "./labels.js";

// The interactive charts, drawn in the browser with Vega-Lite (vendored: /page/vendor) from the columns the page
// read through /rows (resultdata.js). Colours are Okabe-Ito's colour-blind-safe palette: blue and vermillion for
// negative and positive SHAP values, a blue-to-vermillion gradient for a number's place among its values (low
// to high, as the service's plots: explain/plots.py VALUE_COLOURS), and the qualitative Okabe-Ito colours for categories, which have no order to imply.

export const NEGATIVE = "#0072B2";
export const POSITIVE = "#D55E00";
// Okabe & Ito (2008), without black (the text's colour) and with grey last, for the eighth and later categories
export const CATEGORY_COLOURS = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
  "#999999"];
export const BAR_FEATURES = 15;
const WATERFALL_FEATURES = 10;
const CHAR_PX = 6.6;  // about one character of the axis titles' 11 px font
const views = {};

// width "container" fits each chart to its box; heights follow the number of features (a step per band)
const BASE = { autosize: { type: "fit-x", contains: "padding" },
               config: { font: "system-ui, sans-serif", axis: { labelLimit: 180 }, view: { stroke: null },
                         range: { category: CATEGORY_COLOURS } } };

// names take at most a third of a narrow chart (a phone), so the marks keep room to be read
const labelRoom = (container) => Math.min(180, Math.max(60, Math.round(container.clientWidth / 3)));
function fitted(container) {
  const labelLimit = labelRoom(container);
  return { ...BASE, config: { ...BASE.config, axis: { labelLimit }, title: { limit: container.clientWidth } } };
}

// An axis title that fits its axis: split before its parenthesis (or halved at a space) into two lines when it
// is wider than the room, rather than cut by Vega's title limit.
export function axisTitle(text, room) {
  if (text.length * CHAR_PX <= room) return text;
  const at = text.indexOf(" (") > 0 ? text.indexOf(" (") : text.lastIndexOf(" ", Math.ceil(text.length / 2));
  return at > 0 ? [text.slice(0, at), text.slice(at + 1)] : text;
}

const width = (id) => document.getElementById(id).clientWidth;

// Also the editors' charts (cohorts.js, scenarios.js): one embedding, one fitting, one finalize per container.
export async function draw(id, spec, renderer = "svg") {
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

// Each number's place among its feature's numbers (0 lowest, 1 highest); null for a category or an unknown.
function ranks(values) {
  const known = [...new Set(values.filter((v) => typeof v === "number"))].sort((a, b) => a - b);
  const place = new Map(known.map((v, i) => [v, known.length > 1 ? i / (known.length - 1) : 0.5]));
  return values.map((v) => (typeof v === "number" ? place.get(v) : null));
}

// The swarm's points from its sample's columns ({row, shap_<f>, value_<f>}): a number is coloured by its rank, a
// category by its own colour (kind "category"), so no order among categories is implied.
function swarmPoints(result, columns, rowName) {
  const nameOf = namer(result);
  const features = result.feature_importance.map((f) => f.feature).filter((f) => `shap_${f}` in columns);
  return features.flatMap((feature) => {
    const values = columns[`value_${feature}`] ?? [];
    const placed = ranks(values);
    return columns[`shap_${feature}`].map((shap, i) => {
      const value = values[i] ?? null;
      return { feature, name: nameOf(feature), row: rowName(columns.row[i]), shap, value: value ?? "unknown",
               rank: placed[i], category: typeof value === "string" ? value : null, jitter: jitter(columns.row[i]) };
    });
  });
}

// SHAP value of each sampled row for the top features; colour is the feature's value.
export async function beeswarm(result, columns, onPick, rowName) {
  const points = swarmPoints(result, columns, rowName);
  const scale = scaleOf(result);
  const order = [...new Set(points.map((p) => p.name))];
  // the plot's width: the chart's, less the feature names' room and the padding
  const plot = width("beeswarm-chart") - labelRoom(document.getElementById("beeswarm-chart")) - 30;
  const title = axisTitle(`SHAP value (${scale ?? "impact on the prediction"})`, plot);
  const tooltip = [{ field: "name", title: "feature" }, { field: "value" }, { field: "shap", title: "SHAP", format: ".4~g" },
    { field: "row" }];
  const dot = { type: "circle", size: 14, opacity: 0.8, cursor: "pointer" };
  const view = await draw("beeswarm-chart", {
    width: "container", height: { step: 34 }, data: { values: points },
    encoding: {
      y: { field: "name", type: "nominal", sort: order, title: null },
      yOffset: { field: "jitter", type: "quantitative", scale: { domain: [-0.5, 0.5] } },
      x: { field: "shap", type: "quantitative", title },
      tooltip,
    },
    layer: [
      { transform: [{ filter: "datum.category == null" }], mark: dot,
        encoding: { color: { field: "rank", type: "quantitative", title: "feature value", scale: { range: [NEGATIVE, POSITIVE] },
          legend: { labelExpr: "datum.value === 0 ? 'low' : datum.value === 1 ? 'high' : ''",
                    values: [0, 1], orient: "bottom", gradientLength: 120 } } } },
      { transform: [{ filter: "datum.category != null" }], mark: dot,
        encoding: { fill: { field: "category", type: "nominal", title: "category", scale: { range: CATEGORY_COLOURS },
                            legend: { orient: "top", columns: 4, symbolLimit: 16 } } } },
    ],
    resolve: { scale: { color: "independent" } },
  }, "canvas");
  // the x title's lines, for a reader of the page's DOM (a test measures them against the plot: a canvas)
  Object.assign(document.getElementById("beeswarm-chart").dataset, { xTitle: JSON.stringify([title].flat()),
                                                                      plotWidth: plot });
  view.addEventListener("click", (_event, item) => item?.datum?.feature && onPick(item.datum.feature));
}

function waterfallSteps(result, row, base) {
  const nameOf = namer(result);
  const contributions = result.feature_importance.map(({ feature }) =>
    ({ feature, name: nameOf(feature), shap: row[`shap_${feature}`] ?? 0, value: row[`value_${feature}`] }));
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

// The x domain of the waterfall with room on the right for the labels written after each bar's end (about 7
// characters), so the largest value's label is not cut at a phone's width.
function waterfallDomain(steps, plotWidth) {
  const low = Math.min(...steps.map((s) => Math.min(s.start, s.end)));
  const high = Math.max(...steps.map((s) => s.tip));
  const span = high - low || Math.abs(high) || 1;
  const labelShare = Math.min(0.6, (7 * CHAR_PX) / Math.max(60, plotWidth - 7 * CHAR_PX));
  return [low - span * 0.02, high + span * labelShare];
}

// How one row's prediction is built from the base value, feature by feature; `row` is a /rows row (every column),
// drawn in `target` (the row editor draws its edited row's in its own box).
export async function waterfall(result, row, target = "waterfall-chart") {
  // a multiclass result has a base value per class: the row is explained for its predicted class
  const base = typeof result.base_value === "number" ? result.base_value : result.base_value[row.predicted_class];
  const steps = waterfallSteps(result, row, base);
  const raw = row.raw_prediction;
  const scale = scaleOf(result);
  const room = width(target);
  // a binary result's f(x) is log-odds: its probability is shown beside it
  const chance = result.model?.task === "binary"
    ? `probability ${fmt(probability(raw))} (base ${fmt(probability(base))})` : "";
  const heading = `f(x) = ${fmt(raw)}   from E[f(x)] = ${fmt(base)}`;
  await draw(target, {
    width: "container", height: { step: 24 }, data: { values: steps },
    // "value = name" labels get half a narrow chart, so a name is read whole at a phone's width
    config: { ...fitted(document.getElementById(target)).config, axisY: { labelLimit: Math.min(260, Math.max(60, Math.round(room / 2))) } },
    title: { text: chance && (heading.length + chance.length + 3) * CHAR_PX > room ? [heading, chance]
      : `${heading}${chance ? `   ${chance}` : ""}`, subtitle: scale ? `in ${scale}` : undefined, fontSize: 12,
             fontWeight: "normal", anchor: "start", frame: "bounds" },  // from the chart's left edge: never cut
    encoding: { y: { field: "label", type: "nominal", sort: null, title: null } },
    layer: [
      { mark: { type: "bar" },
        encoding: {
          x: { field: "start", type: "quantitative", scale: { domain: waterfallDomain(steps, room / 2), nice: false },
               title: axisTitle(scale ? `model output (${scale})` : "model output (predicted value)", room / 2 - 20) },
          x2: { field: "end" },
          color: { condition: { test: "datum.shap >= 0", value: POSITIVE }, value: NEGATIVE },
          tooltip: [{ field: "label", title: "feature" }, { field: "shap", title: "SHAP", format: "+.4~g" }],
        } },
      { mark: { type: "text", align: "left", dx: 4, fontSize: 11 },
        encoding: { x: { field: "tip", type: "quantitative" }, text: { field: "shap", format: "+.3~g" } } },
    ],
  });
}

// The colour of a dependence chart: the partner feature's value, a number on the blue-to-vermillion gradient, a category
// in its own Okabe-Ito colour.
function partnerColour(points, partnerName) {
  const numeric = points.every((p) => p.partner == null || typeof p.partner === "number");
  return numeric
    ? { field: "partner", type: "quantitative", title: partnerName, scale: { range: [NEGATIVE, POSITIVE] },
        legend: { orient: "bottom", gradientLength: 120 } }
    : { field: "partner", type: "nominal", title: partnerName, scale: { range: CATEGORY_COLOURS },
        legend: { orient: "bottom", columns: 4, symbolLimit: 16 } };
}

// SHAP value against the feature's value for every sampled row where the value is known; with `partner`, each
// point coloured by the partner feature's value (an interaction's other feature). `columns` from /rows.
export async function dependence(result, feature, columns, rowName, partner = null, id = "dependence-chart") {
  const nameOf = namer(result);
  const name = nameOf(feature);
  const scale = scaleOf(result);
  const values = columns[`value_${feature}`];
  const partners = partner ? columns[`value_${partner}`] : null;
  const points = columns[`shap_${feature}`].map((shap, i) => ({ row: rowName(columns.row[i]), shap, value: values[i],
    partner: partners?.[i] ?? null })).filter((p) => p.value != null);
  const numeric = points.every((p) => typeof p.value === "number");
  const room = width(id) - 70;
  const tooltip = [{ field: "row" }, { field: "value", title: name }, { field: "shap", title: "SHAP", format: ".4~g" }];
  if (partner) tooltip.push({ field: "partner", title: nameOf(partner) });
  await draw(id, {
    width: "container", height: 260, data: { values: points },
    mark: { type: "circle", size: 22, opacity: 0.7, color: NEGATIVE },
    encoding: {
      x: { field: "value", type: numeric ? "quantitative" : "nominal", title: axisTitle(name, room),
           scale: numeric ? { zero: false } : {} },
      y: { field: "shap", type: "quantitative", title: axisTitle(`SHAP value of ${name}${scale ? ` (${scale})` : ""}`, 250) },
      ...(partner ? { color: partnerColour(points, nameOf(partner)) } : {}),
      tooltip,
    },
  }, "canvas");
  // what the canvas shows, for a reader of the page's DOM (a test): the feature and its colour
  Object.assign(document.getElementById(id).dataset, { feature, colouredBy: partner ?? "" });
  return points.length;
}
