"""A binary target's positive class (analysis.datasets.positive_class, explain.training.class_order): named
by the rule or the request, carried by the plan, fixed as CatBoost's second class so the raw scores and SHAP
values are log-odds of it (still equal to CatBoost's ShapValues within 1e-9), named in the result's model,
its summary and the model's id."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
from catboost import Pool

from analysis import datasets
from analysis.encoding import encode
from analysis.plan import PlanLimits, make_plan
from analysis.request import AnalyzeRequest
from common.errors import InvalidRequest
from explain import engine
from explain.run import explain_plan
from explain.training import TrainedModel, model_id_for, train

LIMITS = PlanLimits(max_rows=10_000, what_if_max_cells=10**9, interaction_max_rows=500)


@pytest.mark.parametrize(("classes", "positive"), [
    (["no", "yes"], "yes"), (["Yes", "no"], "Yes"), (["FALSE", "TRUE"], "TRUE"), (["0", "1"], "1"),
    (["0.0", "1.0"], "1.0"), (["negative", "positive"], "positive"), (["approved", "denied"], "denied"),
    (["2", "10"], "10"),  # numbers in numeric order
])
def test_the_default_positive_class_rule(classes: list[str], positive: str) -> None:
    assert datasets.default_positive_class(classes) == positive


def table(rows: int = 400) -> tuple[dict, pd.DataFrame]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"id": [f"C{i:04d}" for i in range(rows)], "tenure": rng.uniform(0, 10, rows),
                          "plan": rng.choice(["basic", "plus"], rows)})
    frame["decision"] = np.where(frame.tenure + rng.normal(size=rows) > 5, "approved", "denied")
    return datasets.describe(datasets.to_csv_bytes(frame), datasets.DatasetOptions(id_columns=("id",)),
                             name="loans", max_rows=10_000)


def test_the_request_names_the_positive_class_or_gets_a_400_naming_both() -> None:
    meta, frame = table()
    plan, _ = make_plan(frame, meta, AnalyzeRequest(dataset="loans", target_variable="decision"), LIMITS)
    assert plan.positive_class == "denied"  # no yes-like name: the second in sorted order
    asked = AnalyzeRequest(dataset="loans", target_variable="decision", positive_class="approved")
    assert make_plan(frame, meta, asked, LIMITS)[0].positive_class == "approved"
    with pytest.raises(InvalidRequest, match="'approved' and 'denied'"):
        make_plan(frame, meta, asked.model_copy(update={"positive_class": "maybe"}), LIMITS)
    with pytest.raises(InvalidRequest, match="two-class target"):
        make_plan(frame, meta, asked.model_copy(update={"target_variable": "tenure"}), LIMITS)
    assert model_id_for("v", "decision", ["tenure"], "approved") != model_id_for("v", "decision", ["tenure"], "denied")
    assert model_id_for("v", "y", ["a"]) == model_id_for("v", "y", ["a"], None)  # other models keep their ids


@pytest.mark.parametrize("positive", ["approved", "denied"])
def test_the_model_scores_log_odds_of_the_positive_class_exactly(positive: str) -> None:
    """Either class as positive (approved is CatBoost's first class by default): it is the model's second
    class, the raw scores are its log-odds, the SHAP values equal ShapValues within 1e-9, and the result and
    its summary name it."""
    meta, frame = table()
    request = AnalyzeRequest(dataset="loans", target_variable="decision", positive_class=positive)
    plan, _ = make_plan(frame, meta, request, LIMITS)
    model, model_meta = train(frame, "decision", plan.features, thread_count=1, task=plan.task,
                              positive_class=plan.positive_class)
    assert model_meta.classes is not None and model_meta.classes[1] == positive
    x = frame[plan.features]
    probability = model.predict_proba(Pool(x, cat_features=model_meta.cat_features))[:, 1]
    high_tenure = (frame.tenure > 8).to_numpy()
    assert (probability[high_tenure].mean() > 0.5) == (positive == "approved")
    tables = engine.prepare_tables(model, x, model_meta.cat_features).tables
    assert tables is not None
    shap, _, used = engine.shap_matrix(model, tables, x, model_meta.cat_features, 1, 256)
    assert used == engine.LEAF_TABLE
    native = model.get_feature_importance(data=Pool(x, cat_features=model_meta.cat_features), type="ShapValues")
    assert np.max(np.abs(shap - native)) <= 1e-9
    result = explain_plan(frame, meta, plan, TrainedModel("m", model, model_meta), thread_count=1, batch_size=256)
    assert result.model.to_json()["positive_class"] == positive
    assert f"predicted probability of decision = {positive}" in result.summary


def test_the_clients_result_names_the_positive_class_and_the_explanations_output() -> None:
    """The Python client reads model.positive_class; its shap.Explanation names its output as log-odds of it."""
    from shap_client.result import AnalysisResult

    meta, frame = table()
    plan, _ = make_plan(frame, meta, AnalyzeRequest(dataset="loans", target_variable="decision"), LIMITS)
    model, model_meta = train(frame, "decision", plan.features, thread_count=1, positive_class=plan.positive_class)
    result = explain_plan(frame, meta, plan, TrainedModel("m", model, model_meta), thread_count=1, batch_size=256)
    found = AnalysisResult.from_json(orjson.loads(encode(result)))
    assert found.positive_class == "denied"
    assert found.explanation().output_names == "log-odds of decision = denied"
