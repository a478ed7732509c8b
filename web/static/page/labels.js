// Readable names of features (docs/datasets.md, "Labels"): the page shows a feature by the label its result gives it
// (feature_importance's `label`) and keeps its column name in the data, the downloads and every API call.

export function namer(result) {
  const labels = new Map(result.feature_importance.filter((f) => f.label).map((f) => [f.feature, f.label]));
  return (feature) => labels.get(feature) ?? feature;
}

// What a result's SHAP values and raw predictions are in: log-odds of a binary target's positive class, the score of
// each row's predicted class (multiclass), else the target's own units (null).
export function scaleOf(result) {
  if (result.model?.task === "binary") return `log-odds of ${result.target_variable} = ${result.model.positive_class}`;
  return result.model?.task === "multiclass" ? `score of each row's predicted class of ${result.target_variable}` : null;
}

export const probability = (logOdds) => 1 / (1 + Math.exp(-logOdds));
