"""`AnalysisResult`: a finished analysis as pandas objects, and as a `shap.Explanation`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shap_client.questions import Comparison, ScenarioOutcome, parts

if TYPE_CHECKING:
    import pandas as pd
    import shap


@dataclass
class AnalysisResult:
    """`importance`: one row per feature, most important first (columns `feature`, `importance`, `label`: the
    readable name the dataset gives the column, else its name).
    `rows`: one row per explained row (id columns, target, `prediction`, `raw_prediction`, ...,
    `top_contributors`; `out_of_range`, the features outside the training range, when some `data` row has
    such values, NaN on the other rows). `warnings`: what the service did unasked and what it found about
    the data (sampling, dropped columns, likely target leakage, a weak model, out-of-range rows).
    `shap_values`: one row per explained row, aligned with `rows` (same index), one column per feature.
    `raw` is the service's JSON as it came. `comparison` (analysis_type comparison) and `scenarios`
    (what_if, by name): shap_client.questions.

    For an interactions analysis (else None): `interaction_pairs`, the top pairs (columns `feature`,
    `with`, `mean_abs_interaction`, strongest first); `interaction_values`, one column per top pair (columns
    a MultiIndex of (feature, with)) and one row per explained row, aligned with `rows`; `main_effects`, one
    column per feature and one row per explained row, aligned with `rows`.

    `positive_class` (binary targets, else None): the class whose probability `prediction` is; the SHAP
    values, `base_value` and `raw_prediction` are log-odds of it."""

    summary: str
    importance: pd.DataFrame
    rows: pd.DataFrame
    shap_values: pd.DataFrame
    base_value: float | dict[str, float]
    model: dict[str, Any]
    warnings: list[str]
    raw: dict[str, Any] = field(repr=False)
    positive_class: str | None = None
    comparison: Comparison | None = None
    scenarios: dict[str, ScenarioOutcome] = field(default_factory=dict)
    interaction_pairs: pd.DataFrame | None = None
    interaction_values: pd.DataFrame | None = None
    main_effects: pd.DataFrame | None = None

    @classmethod
    def from_json(cls, result: dict[str, Any]) -> AnalysisResult:
        import pandas as pd  # the `pandas` extra

        importance = pd.DataFrame(result.get("feature_importance") or [], columns=["feature", "importance", "label"])
        importance["label"] = importance["label"].where(importance["label"].notna(), importance["feature"])
        rows = pd.DataFrame(result.get("results") or [])
        shap_values = pd.DataFrame(result.get("shap_values") or {}, index=rows.index if len(rows) else None)
        return cls(summary=result.get("summary", ""), importance=importance, rows=rows, shap_values=shap_values,
                   base_value=result.get("base_value", 0.0), model=result.get("model") or {},
                   warnings=list(result.get("warnings") or []), raw=result,
                   positive_class=(result.get("model") or {}).get("positive_class"), **parts(result),
                   **_interaction_frames(result.get("interactions"), rows.index if len(rows) else None))

    def base_values(self) -> Any:
        """One base value per explained row: a multiclass row is explained for its `explained_class`."""
        import numpy as np

        if isinstance(self.base_value, dict):
            by_class = {str(k): v for k, v in self.base_value.items()}
            return np.array([by_class[str(c)] for c in self.rows["explained_class"]], dtype=float)
        return np.full(len(self.shap_values), float(self.base_value))

    def feature_values(self) -> pd.DataFrame:
        """The rows' feature values that the service reported (each row's top contributors); NaN where it
        did not, or where the value is not a number (beeswarm colours those grey)."""
        import numpy as np
        import pandas as pd

        values = pd.DataFrame(np.nan, index=self.shap_values.index, columns=self.shap_values.columns)
        for position, contributors in enumerate(self.rows.get("top_contributors", [])):
            for item in contributors or []:
                value = item.get("value")
                if isinstance(value, int | float) and not isinstance(value, bool) and item["feature"] in values:
                    values.iat[position, values.columns.get_loc(item["feature"])] = value
        return values

    def explanation(self, data: pd.DataFrame | None = None) -> shap.Explanation:
        """A `shap.Explanation` of the explained rows (the `shap` extra). `data` (the explained rows' feature
        values, in the result's row order, e.g. `Job.feature_values()`) colours the plots, text values as
        the position of each among the column's sorted values (shown as text); without it,
        `feature_values()` is used. Features are named by their labels, as the service's plots name them."""
        import shap

        frame = self.feature_values() if data is None else data[list(self.shap_values.columns)]
        shown = dict(zip(self.importance["feature"], self.importance["label"], strict=True))
        return shap.Explanation(values=self.shap_values.to_numpy(dtype=float), base_values=self.base_values(),
                                data=_numbers(frame), feature_names=[shown.get(f, f) for f in self.shap_values.columns],
                                display_data=None if data is None else frame.to_numpy(dtype=object),
                                output_names=self.output_name())

    def output_name(self) -> str:
        """What the SHAP values are in: log-odds of the positive class (binary), the predicted class's score
        (multiclass), else the predicted target."""
        target = self.raw.get("target_variable", "prediction")
        if self.positive_class is not None:
            return f"log-odds of {target} = {self.positive_class}"
        return f"score of the predicted class of {target}" if isinstance(self.base_value, dict) else str(target)


def _numbers(frame: pd.DataFrame) -> Any:
    """The frame as floats: numbers as they are (missing: NaN), a text column as each value's position among
    its sorted distinct values (missing: NaN), so that plots can colour by it."""
    import numpy as np
    import pandas as pd

    columns = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            columns.append(column.to_numpy(dtype=float, na_value=np.nan))
        else:
            codes = pd.Categorical(column.astype(object).where(column.notna(), None)).codes.astype(float)
            columns.append(np.where(codes < 0, np.nan, codes))
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def _interaction_frames(found: dict[str, Any] | None, index: Any) -> dict[str, Any]:
    """The pandas views of an interactions result's `interactions` field (none for other analyses)."""
    if not found:
        return {}
    import pandas as pd

    pairs = found.get("pairs") or []
    mains = found.get("main_effects") or []
    return {
        "interaction_pairs": pd.DataFrame([{k: p[k] for k in ("feature", "with", "mean_abs_interaction")}
                                           for p in pairs], columns=["feature", "with", "mean_abs_interaction"]),
        "interaction_values": pd.DataFrame(
            {(p["feature"], p["with"]): p["values"] for p in pairs}, index=index,
            columns=pd.MultiIndex.from_tuples([(p["feature"], p["with"]) for p in pairs], names=["feature", "with"])),
        "main_effects": pd.DataFrame({m["feature"]: m["values"] for m in mains}, index=index),
    }
