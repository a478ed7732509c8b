"""What schema fuzzing found (tests/service/test_schema_fuzz.py), each fixed at its cause and kept as a fast test."""

from __future__ import annotations

import pytest

from devtools.stack import Stack


def test_a_csv_whose_header_holds_a_lone_carriage_return_is_400_not_500(web_only: Stack):
    """csv.Error on the header row was a 500; it is an invalid_dataset 400 saying what to change."""
    status, body, _ = web_only.request("PUT", "/datasets/fuzzed", raw=b"\x1ba\rb,c\nx,y\n",
                                       headers={"Content-Type": "text/csv"})
    assert (status, body["code"]) == (400, "invalid_dataset"), body


@pytest.mark.parametrize("body", [{"reuse": 0}, {"sample_size": "5"}, {"dataset": 7}, {"analysis_type": 1},
                                  {"data": [{"Income": [1]}]}])
def test_a_field_of_another_json_type_is_400_never_coerced(web_only: Stack, body: dict):
    """0 is not false and "5" is not 5: what is accepted is what the document describes."""
    status, answer, _ = web_only.request("POST", "/analyze", body)
    assert (status, answer["code"]) == (400, "invalid_request"), answer


@pytest.mark.parametrize("filters", [None, "Income > 50000", ["Income > 50000"]])
def test_the_documented_forms_of_demographic_filters_are_accepted(web_only: Stack, filters: object):
    """null, one string and a list are the forms the document gives demographic_filters."""
    status, answer, _ = web_only.request("POST", "/analyze", {"demographic_filters": filters, "reuse": False})
    assert status == 202, answer
