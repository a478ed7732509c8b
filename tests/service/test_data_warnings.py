"""Each data warning in a real result (real web, Redis and forking workers): a leak on the wide table with its
leak column kept, constant and near-empty columns dropped, a weak model of a noise target, an out-of-range
`data` row; request exclusions train their own model and are refused when they cannot work."""

from __future__ import annotations

import numpy as np
import pandas as pd
from shap_client import Client

from devtools import wide_table
from devtools.stack import Stack


def result(stack: Stack, body: dict) -> dict:
    job = stack.wait_job(stack.analyze({"reuse": False, "sample_size": 20, **body}))
    assert job["status"] == "finished", job
    return job["result"]


def small_table(rows: int = 300) -> bytes:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"a": rng.uniform(0, 10, rows).round(3), "b": rng.normal(size=rows).round(3)})
    frame["same"] = 1
    frame["sparse"] = np.where(np.arange(rows) < 6, 2.0, np.nan)  # 98 % missing
    frame["y"] = (2 * frame["a"] - frame["b"] + rng.normal(0, 0.1, rows)).round(3)
    frame["noise"] = rng.normal(size=rows).round(3)
    return frame.to_csv(index=False).encode()


def test_a_leak_is_named_with_its_advice_and_excluding_it_trains_another_model(stack: Stack) -> None:
    """The wide table's near-copy of Turnout_Pct is named in warnings and summary; exclude_columns (here through
    the Python client) removes it, with a model of its own."""
    stack.uploaded("wide-leak", wide_table.csv_bytes(rows=400), "?id_columns=zip&exclude_columns=Default_Rate")
    leaky = result(stack, {"dataset": "wide-leak", "target_variable": "Turnout_Pct"})
    leak_warning = next(w for w in leaky["warnings"] if w.startswith("likely target leakage"))
    assert wide_table.LEAK_COLUMN in leak_warning and "exclude_columns=['Turnout_Pct_Official']" in leak_warning
    assert "Caution: Turnout_Pct_Official nearly determines Turnout_Pct" in leaky["summary"]
    with Client(stack.base, stack.env.get("API_KEY")) as client:  # the Python client passes exclude_columns
        answer = client.analyze("Turnout_Pct", dataset="wide-leak", sample_size=20, reuse=False,
                                exclude_columns=[wide_table.LEAK_COLUMN]).result(timeout=120)
    clean = answer.raw
    assert not any("leakage" in w for w in answer.warnings)
    assert wide_table.LEAK_COLUMN not in clean["model"]["features"]
    assert clean["model"]["id"] != leaky["model"]["id"]
    assert not any("leakage" in w for w in clean["warnings"]) and "Caution" not in clean["summary"]


def test_dropped_columns_weak_model_and_out_of_range_rows_are_reported(stack: Stack) -> None:
    """Constant and near-empty columns are dropped and named; a noise target's model is called weak; a
    `data` row beyond the training range carries out_of_range and is counted."""
    stack.uploaded("checks", small_table())
    weak = result(stack, {"dataset": "checks", "target_variable": "noise"})
    text = " ".join(weak["warnings"])
    assert "dropped constant columns from the features: same" in text
    assert "dropped near-empty columns from the features: sparse" in text
    assert weak["model"]["features"] == ["a", "b", "y"]
    assert "weak model: held-out R²" in text and "describe a weak model" in weak["summary"]
    rows = [{"a": 5.0, "b": 0.0}, {"a": 50.0, "b": 0.0}]
    given = result(stack, {"dataset": "checks", "target_variable": "y", "data": rows, "exclude_columns": ["noise"]})
    assert [row.get("out_of_range") for row in given["results"]] == [None, ["a"]]
    assert any(w.startswith("1 of the 2 data rows hold values outside") for w in given["warnings"])
    assert not any("weak model" in w for w in given["warnings"])


def test_exclusions_that_cannot_work_are_refused_with_a_400(stack: Stack) -> None:
    """Unknown columns, the target itself, or every usable feature: a 400 saying what to change."""
    stack.uploaded("checks-refused", small_table())
    for exclude, code, words in ((["nope"], "unknown_column", "'nope'"), (["y"], "invalid_request", "the target"),
                                 (["a", "b", "noise"], "invalid_request", "No usable feature")):
        status, answer, _ = stack.post("/analyze", {"dataset": "checks-refused", "target_variable": "y",
                                                    "exclude_columns": exclude})
        assert (status, answer.get("code")) == (400, code), answer
        assert words in answer["error"]
