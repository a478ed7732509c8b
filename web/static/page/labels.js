// Readable names of features (docs/datasets.md, "Labels"): the page shows a feature by the label its result gives it
// (feature_importance's `label`) and keeps its column name in the data, the downloads and every API call.

export function namer(result) {
  const labels = new Map(result.feature_importance.filter((f) => f.label).map((f) => [f.feature, f.label]));
  return (feature) => labels.get(feature) ?? feature;
}
