// The editors of the deeper questions, in one place for app.js: the cohort editor (comparison), the scenario
// editor (what-if) and the single-row editor. Each module exports toRequest() (its part of a request) and
// restore(request) (a request back into its controls), so an address holding the whole request reopens them.

import * as cohorts from "./cohorts.js";
import { $ } from "./dom.js";
import * as rowEditor from "./row_editor.js";
import * as scenarios from "./scenarios.js";

export const EDITORS = [cohorts, scenarios, rowEditor];
// each question's editor and the words by which the service's refusals of its part name it
const QUESTIONS = [{ editor: cohorts, box: "cohorts-box", words: /\bcohorts?\b/i },
                   { editor: scenarios, box: "scenarios-box", words: /\bscenarios?\b/i }];

// Each editor on a newly chosen dataset; `onChange` re-checks the analysis request (app.js's revalidate).
export function setDataset(meta, onChange) {
  for (const editor of EDITORS) editor.setDataset(meta, onChange);
}

// The parts of the analysis request (Run analysis) the editors hold: cohorts or scenarios, as the type asks.
export const requestParts = () => ({ ...cohorts.toRequest(), ...scenarios.toRequest() });

export function restore(request) {
  for (const editor of EDITORS) editor.restore(request);
  showType();
}

// Only the chosen type's editor is shown (and only its part is sent).
export function showType() {
  const type = $("analysis-type").value;
  for (const { editor, box } of QUESTIONS) $(box).hidden = editor.TYPE !== type;
}

// A refusal of the analysis request (or null once one is accepted): shown beside the editor whose part it names,
// in the service's own words; true when an editor took it, so that it is not shown twice.
export function refusal(error) {
  const type = $("analysis-type").value;
  let taken = false;
  for (const { editor, words } of QUESTIONS) {
    const mine = error != null && editor.TYPE === type && words.test(error.message ?? "");
    editor.showError(mine ? error : null);
    taken ||= mine;
  }
  return taken;
}

export async function showResult(result) {
  await Promise.all([cohorts.showResult(result), scenarios.showResult(result)]);
}

export function wire(onChange) {
  cohorts.wire();
  scenarios.wire();
  rowEditor.wire();
  $("analysis-type").addEventListener("change", () => { showType(); refusal(null); onChange(); });
  showType();
}
