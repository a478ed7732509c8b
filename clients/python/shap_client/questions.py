"""The parts of a comparison (analysis_type "comparison") and of a what-if analysis ("what_if") as pandas
objects. Values are on the model's raw scale: a regression's prediction, a binary target's log-odds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Comparison:
    """`cohorts`: one row per cohort (index name; rows, mean_prediction[, mean_probability]).
    `mean_shap`, `mean_abs_shap`: one row per feature, one column per cohort. `differences`: one row per pair
    and feature (first, second, feature, difference, low, high, share), largest |difference| first within a
    pair. `pairs`: one row per pair (first, second, difference, low, high). `positions`: each cohort's rows
    (indexes of the result's `rows` and `shap_values`)."""

    cohorts: pd.DataFrame
    mean_shap: pd.DataFrame
    mean_abs_shap: pd.DataFrame
    differences: pd.DataFrame
    pairs: pd.DataFrame
    positions: dict[str, list[int]]
    bootstrap: dict[str, Any]
    scale: str

    @classmethod
    def from_json(cls, part: dict[str, Any]) -> Comparison:
        import pandas as pd

        cohorts = part["cohorts"]
        table = pd.DataFrame([{k: v for k, v in c.items() if k not in ("mean_shap", "mean_abs_shap", "positions")}
                              for c in cohorts]).set_index("name")
        differences = pd.DataFrame(
            [{"first": p["cohorts"][0], "second": p["cohorts"][1], "feature": f["feature"],
              "difference": f["difference"], "low": f["interval"][0], "high": f["interval"][1], "share": f["share"]}
             for p in part["pairs"] for f in p["features"]],
            columns=["first", "second", "feature", "difference", "low", "high", "share"])
        pairs = pd.DataFrame([{"first": p["cohorts"][0], "second": p["cohorts"][1], "difference": p["difference"],
                               "low": p["interval"][0], "high": p["interval"][1]} for p in part["pairs"]],
                             columns=["first", "second", "difference", "low", "high"])
        return cls(cohorts=table, mean_shap=pd.DataFrame({c["name"]: c["mean_shap"] for c in cohorts}),
                   mean_abs_shap=pd.DataFrame({c["name"]: c["mean_abs_shap"] for c in cohorts}),
                   differences=differences, pairs=pairs, positions={c["name"]: c["positions"] for c in cohorts},
                   bootstrap=part["bootstrap"], scale=part["scale"])


@dataclass
class ScenarioOutcome:
    """One what-if scenario. `rows`: one row per explained row, aligned with the result's `rows`
    (prediction, raw_prediction, change[, probability_change]). `shap_values`, `shap_change`: one row per
    explained row, one column per feature. `mean_shap_change`: a Series by feature (adds up to mean_change)."""

    name: str
    changes: dict[str, dict[str, Any]]  # {"set": ..., "add": ..., "multiply": ...} as sent
    rows_changed: int
    mean_change: float
    mean_probability_change: float | None
    mean_shap_change: pd.Series
    rows: pd.DataFrame
    shap_values: pd.DataFrame
    shap_change: pd.DataFrame = field(repr=False)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> ScenarioOutcome:
        import pandas as pd

        per_row = {"prediction": item["predictions"], "raw_prediction": item["raw_predictions"],
                   "change": item["changes"]}
        if item.get("probability_changes") is not None:
            per_row["probability_change"] = item["probability_changes"]
        return cls(name=item["name"], changes={k: item.get(k) or {} for k in ("set", "add", "multiply")},
                   rows_changed=item["rows_changed"], mean_change=item["mean_change"],
                   mean_probability_change=item.get("mean_probability_change"),
                   mean_shap_change=pd.Series(item["mean_shap_change"], dtype=float),
                   rows=pd.DataFrame(per_row), shap_values=pd.DataFrame(item["shap_values"]),
                   shap_change=pd.DataFrame(item["shap_change"]))


def parts(result: dict[str, Any]) -> dict[str, Any]:
    """The AnalysisResult fields of a result's question parts (None / {} when it has none)."""
    comparison = result.get("comparison")
    return {"comparison": Comparison.from_json(comparison) if comparison else None,
            "scenarios": {item["name"]: ScenarioOutcome.from_json(item) for item in result.get("scenarios") or []}}
