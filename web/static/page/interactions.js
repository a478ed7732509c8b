// An interactions analysis on the page: its top pairs (the result's `interactions` part) as a list, and the chosen
// pair's dependence chart: the first feature's SHAP value against its value, coloured by its partner's value
// (the /rows sample's shap_ and value_ columns), as shap's dependence plot with an interaction index draws it.

import * as charts from "./charts.js";
import { $, el, fmt } from "./dom.js";
import { namer } from "./labels.js";
import { featureSample } from "./resultdata.js";

// The list of pairs, strongest first; a click (or Enter) on one draws its chart. Hidden for other analyses.
export async function showInteractions(jobId, result, rowName) {
  const pairs = result.interactions?.pairs ?? [];
  $("interactions-figure").hidden = pairs.length === 0;
  if (!pairs.length) return;
  const nameOf = namer(result);
  const choose = (index) => choosePair(jobId, result, pairs[index], index, rowName);
  $("interaction-pairs").replaceChildren(...pairs.map((pair, index) => el("li", {},
    el("button", { type: "button", class: "pair", "aria-pressed": "false", "data-pair": index,
                   onclick: () => choose(index) },
      `${nameOf(pair.feature)} × ${nameOf(pair.with)}`, el("span", { class: "hint" }, ` ${fmt(pair.mean_abs_interaction)}`)))));
  await choose(0);
}

async function choosePair(jobId, result, pair, index, rowName) {
  for (const button of $("interaction-pairs").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.pair === String(index)));
  }
  const nameOf = namer(result);
  $("interaction-caption").textContent = `${nameOf(pair.feature)}'s SHAP value by its value, coloured by ` +
    `${nameOf(pair.with)} (mean |interaction| ${fmt(pair.mean_abs_interaction)})`;
  const columns = await featureSample(jobId, [pair.feature, pair.with]);
  await charts.dependence(result, pair.feature, columns, rowName, pair.with, "interaction-chart");
}
