"""The page's editors in a real browser (Debian's chromium, headless, through Playwright) against a real stack, as
tests/service/test_page_browser.py drives the rest of the page (its fixtures and helpers): a comparison of two
cohorts built with the filter builder, a what-if scenario, and one row edited until its new prediction and
waterfall show. Each checks what the page shows against what the API answered for the very job the page ran, and a
refusal shown beside its editor in the service's own words, gone once the input changes. A 240-row table keeps each
job well under a second."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from devtools.stack import Stack
from tests.service import test_page_browser as harness
from tests.service.test_page_browser import JOB_WAIT_MS, Seen, Shots, open_with_key, small_csv

# the page tests' fixtures, by name: one Chromium, one keyed stack (web, a worker, redis) for this module
browser, keyed_stack, page, seen = harness.browser, harness.keyed_stack, harness.page, harness.seen


@pytest.fixture(scope="module")
def sites(keyed_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The 240-row table, uploaded through the API (the page's upload has its own test), site as its id."""
    csv_path = small_csv(tmp_path_factory.mktemp("editors") / "sites.csv")
    status, body, _ = keyed_stack.request("PUT", "/datasets/sites?default_target=score&id_columns=site",
                                          raw=csv_path.read_bytes(), headers={"Content-Type": "text/csv"})
    assert status in (200, 201), body
    yield "sites"


def choose(page: Page, stack: Stack, analysis_type: str) -> None:
    open_with_key(page, stack)
    page.select_option("#dataset", "sites")
    page.wait_for_selector("#columns-table caption:has-text('Columns of sites')")
    page.select_option("#target", "score")
    page.select_option("#analysis-type", analysis_type)


def cohort_filter(page: Page, cohort: int, column: str, op: str, value: str) -> None:
    item = page.locator("#cohorts > li").nth(cohort)
    item.locator(".c-add-filter").click()
    row = item.locator(".c-filters li").last
    row.locator(".f-column").select_option(column)
    row.locator(".f-op").select_option(op)
    row.locator(".f-value").fill(value)


def finished_result(page: Page, stack: Stack) -> dict:
    page.click("#run")
    page.wait_for_selector("#summary:not(:empty)", timeout=JOB_WAIT_MS)
    job_id = page.locator("#results").get_attribute("data-job-id")
    status, body, _ = stack.get(f"/job_status/{job_id}")
    assert status == 200 and body["status"] == "finished", body
    return body["result"]


def shown(value: float) -> str:
    """A number as the page's fmt() writes one under 1,000: at most 4 significant digits."""
    return f"{value:.4g}"


def test_a_comparison_of_two_cohorts_shows_each_cohorts_importance_and_intervals(
        page: Page, keyed_stack: Stack, sites: str, seen: Seen, tmp_path: Path) -> None:
    shots = Shots(page, tmp_path / "screens")
    choose(page, keyed_stack, "comparison")
    assert page.locator("#cohorts-box").is_visible() and page.locator("#scenarios-box").is_hidden()
    page.locator("#cohorts > li").nth(0).locator(".c-name").fill("north")
    page.locator("#cohorts > li").nth(1).locator(".c-name").fill("north")  # a JSON object holds a name once
    page.wait_for_selector("#cohorts-error:has-text(\"Cohort names 'north' are given more than once\")")
    cohort_filter(page, 0, "region", "==", "north")
    page.locator("#cohorts > li").nth(1).locator(".c-name").fill("warm")
    cohort_filter(page, 1, "x1", ">", "plenty")
    # the service's refusal of the cohort's filter, word for word, beside the cohort editor
    refused = keyed_stack.post("/filters/validate", {"dataset": sites, "target_variable": "score",
                                                     "analysis_type": "comparison",
                                                     "cohorts": {"north": ["region == north"],
                                                                 "warm": ["x1 > plenty"]}})
    assert refused[0] == 400 and "warm" in refused[1]["error"]
    page.wait_for_selector("#cohorts-error:not(:empty)")
    assert page.locator("#cohorts-error").inner_text() == refused[1]["error"]
    shots.take("cohort-refused")
    page.locator("#cohorts > li").nth(1).locator(".f-value").fill("5")
    assert page.locator("#cohorts-error").inner_text() == ""  # cleared as soon as the input changed
    page.wait_for_selector("#filter-state.ok")

    result = finished_result(page, keyed_stack)
    comparison = result["comparison"]
    assert [(c["name"], c["filters"]) for c in comparison["cohorts"]] == [("north", ["region == north"]),
                                                                           ("warm", ["x1 > 5"])]
    page.wait_for_selector("#cohort-importance-chart svg")
    shots.take("comparison")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("document.documentElement.scrollWidth <= 390")  # the editor and its charts refit
    shots.take("comparison-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    bars = min(10, len(result["feature_importance"])) * 2
    assert page.locator("#cohort-importance-chart svg g.mark-rect path").count() == bars
    cells = page.locator("#cohorts-table tbody tr")
    assert cells.count() == 2
    for index, cohort in enumerate(comparison["cohorts"]):
        texts = cells.nth(index).locator("th, td").all_inner_texts()
        assert texts[0] == cohort["name"] and texts[2] == str(cohort["rows"])
        assert texts[3] == shown(cohort["mean_prediction"])
    pair = comparison["pairs"][0]
    caption = page.locator(".pair-caption").first.inner_text()
    assert caption.startswith("north minus warm:") and shown(pair["difference"]).lstrip("-") in caption
    first = page.locator("table[data-pair='0'] tbody tr").first.locator("th, td").all_inner_texts()
    feature = pair["features"][0]
    assert first[0] == feature["feature"]
    assert all(shown(end).lstrip("-") in first[2] for end in feature["interval"])

    page.reload()  # the address holds the request and the job: the cohorts and their result come back
    page.wait_for_selector("#cohort-importance-chart svg", timeout=JOB_WAIT_MS)
    assert page.locator("#cohorts .c-name").evaluate_all("names => names.map((n) => n.value)") == ["north", "warm"]
    assert page.locator("#cohorts > li").nth(1).locator(".f-value").input_value() == "5"
    assert seen.errors == []


def test_a_what_if_scenario_shows_its_change_of_predictions_and_shap(
        page: Page, keyed_stack: Stack, sites: str, seen: Seen, tmp_path: Path) -> None:
    shots = Shots(page, tmp_path / "screens")
    choose(page, keyed_stack, "what_if")
    assert page.locator("#scenarios-box").is_visible() and page.locator("#cohorts-box").is_hidden()
    scenario = page.locator("#scenarios > li").first
    scenario.locator(".s-name").fill("x1 up")
    change = scenario.locator(".change").first
    change.locator(".s-column").select_option("region")
    change.locator(".s-op").select_option("add")
    change.locator(".s-value").fill("2")
    refused = keyed_stack.post("/filters/validate", {"dataset": sites, "target_variable": "score",
                                                     "analysis_type": "what_if",
                                                     "scenarios": [{"name": "x1 up", "add": {"region": 2}}]})
    assert refused[0] == 400 and refused[1]["code"] == "invalid_scenario"
    page.wait_for_selector("#scenarios-error:not(:empty)")
    assert page.locator("#scenarios-error").inner_text() == refused[1]["error"]
    change.locator(".s-column").select_option("x1")
    assert page.locator("#scenarios-error").inner_text() == ""
    page.wait_for_selector("#filter-state.ok")

    result = finished_result(page, keyed_stack)
    [answered] = result["scenarios"]
    assert (answered["name"], answered["add"], answered["set"]) == ("x1 up", {"x1": 2.0}, {})
    page.wait_for_selector("#scenario-shap-chart svg")
    shots.take("what-if")
    texts = page.locator("#scenarios-table tbody tr").first.locator("th, td").all_inner_texts()
    assert texts[0] == "x1 up" and texts[1] == "x1 + 2"
    assert texts[2] == f"{answered['rows_changed']} of {len(result['results'])}"
    assert texts[3] == ("+" if answered["mean_change"] > 0 else "") + shown(answered["mean_change"])
    assert texts[4].startswith("x1 ")  # the feature it moves the prediction through most
    bars = page.locator("#scenario-shap-chart svg g.mark-rect path").count()
    assert bars == min(10, len(result["feature_importance"]))
    # one tick per row (240 rows: no sampling), the spread of the mean change
    assert page.locator("#scenario-changes-chart svg g.mark-rect path").count() == len(answered["changes"])
    assert seen.errors == []


def test_editing_one_row_shows_its_new_prediction_and_waterfall(
        page: Page, keyed_stack: Stack, sites: str, seen: Seen, tmp_path: Path) -> None:
    shots = Shots(page, tmp_path / "screens")
    choose(page, keyed_stack, "correlation")
    result = finished_result(page, keyed_stack)
    page.locator("#rows-table tbody tr").nth(2).locator("td").first.click()  # the row offered is the one chosen
    number = int(page.input_value("#row-pick"))
    page.click("#row-load")
    page.wait_for_selector("#row-prediction:not(:empty)", timeout=JOB_WAIT_MS)
    job_id = page.locator("#results").get_attribute("data-job-id")
    query = f"format=json&columns=row,value_*&offset={number - 1}&limit=1"
    values = keyed_stack.get(f"/job_status/{job_id}/rows?{query}")[1]
    assert float(page.input_value("[data-column='x1']")) == values["value_x1"][0]
    assert page.input_value("[data-column='region']") == values["value_region"][0]
    loaded = result["results"][number - 1]["prediction"]
    assert shown(loaded) in page.locator("#row-prediction").inner_text()

    page.fill("[data-column='x1']", "9.5")  # score rises with x1
    page.wait_for_selector("#row-prediction:has-text('from the row as loaded')", timeout=JOB_WAIT_MS)
    edited_job = page.locator("#row-prediction").get_attribute("data-job-id")
    edited = keyed_stack.get(f"/job_status/{edited_job}")[1]["result"]
    assert edited["results"][0]["prediction"] != loaded
    assert shown(edited["results"][0]["prediction"]) in page.locator("#row-prediction").inner_text()
    assert page.locator("#row-waterfall-chart svg g.mark-rect path").count() == len(edited["feature_importance"])
    assert "9.5 = x1" in (page.locator("#row-waterfall-chart svg").text_content() or "")
    shots.take("row-edited")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("document.documentElement.scrollWidth <= 390")  # the inputs and the waterfall refit
    shots.take("row-edited-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.reload()  # the address holds the edited row's request: the editor reopens on it and predicts it again
    page.wait_for_selector("#row-prediction:not(:empty)", timeout=JOB_WAIT_MS)
    assert page.input_value("[data-column='x1']") == "9.5"
    page.fill("[data-column='x2']", "")  # missing is a value the model reads too
    page.wait_for_function(f"document.querySelector('#row-prediction').dataset.jobId !== '{edited_job}'",
                           timeout=JOB_WAIT_MS)
    page.click("#row-blank")
    page.wait_for_selector("#row-prediction:not(:empty)", timeout=JOB_WAIT_MS)
    assert page.input_value("[data-column='x1']") == ""
    assert page.locator("#row-error").inner_text() == ""
    assert seen.errors == []


def test_each_editor_restores_the_request_it_writes(page: Page, keyed_stack: Stack, sites: str) -> None:
    """restore(request) then toRequest() gives the request back: what a link holding the whole request relies on."""
    choose(page, keyed_stack, "comparison")
    comparison = {"analysis_type": "comparison",
                  "cohorts": {"north": ["region == north", "high x1"], "odd": ['region != "=x"'], "rest": []}}
    what_if = {"analysis_type": "what_if", "scenarios": [
        {"name": "both", "set": {"region": "east", "x2": 4.5}, "add": {"x1": -1}, "multiply": {"x3": 1.1}},
        {"name": "gone", "set": {"x2": None}}]}
    edited = {"analysis_type": "correlation", "data": [{"region": "west", "x1": 3.25, "x2": None, "x3": 7}]}
    written = page.evaluate("""async (requests) => {
        const editors = await import("/page/editors.js");
        const type = document.getElementById("analysis-type");
        const out = [];
        for (const request of requests) {
          type.value = request.analysis_type;
          editors.restore(request);
          out.push({ ...editors.requestParts(), ...(await import("/page/row_editor.js")).toRequest() });
        }
        return out;
    }""", [comparison, what_if, edited])
    assert written[0]["cohorts"] == comparison["cohorts"]
    assert written[1]["scenarios"] == what_if["scenarios"]
    assert written[2]["data"] == edited["data"]
    assert page.locator("#scenarios-box").is_hidden() and page.locator("#cohorts-box").is_hidden()
    page.wait_for_selector("#row-prediction:not(:empty)", timeout=JOB_WAIT_MS)  # a restored row is predicted


def test_the_row_editor_explains_a_class_target_from_a_blank_row(
        page: Page, keyed_stack: Stack, sites: str, seen: Seen) -> None:
    """region (four classes) as the target: a blank row's predicted class, its probability and its waterfall."""
    choose(page, keyed_stack, "correlation")
    page.select_option("#target", "region")
    page.click("#row-blank")
    page.wait_for_selector("#row-prediction:not(:empty)", timeout=JOB_WAIT_MS)
    assert page.locator("[data-column='region']").count() == 0 and page.locator("[data-column='score']").count() == 1
    job_id = page.locator("#row-prediction").get_attribute("data-job-id")
    result = keyed_stack.get(f"/job_status/{job_id}")[1]["result"]
    [row] = result["results"]
    assert result["model"]["task"] == "multiclass"
    assert page.locator("#row-prediction").inner_text() == (
        f"predicted region {row['prediction']}, probability: {shown(row['probability'])}")
    assert page.locator("#row-waterfall-chart svg g.mark-rect path").count() == len(result["feature_importance"])
    assert "missing = x1" in (page.locator("#row-waterfall-chart svg").text_content() or "")
    assert seen.errors == []
