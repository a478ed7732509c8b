"""The strict demographic_filters grammar and its evaluation."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.filters import MAX_FILTERS, absent_values, apply_filters, missing_notes, parse_filter, parse_filters
from common.errors import InvalidFilter, UnknownColumn

TYPES = {"Income": "numeric", "Age": "numeric", "Province": "categorical", "Home Value": "numeric"}
FRAME = pd.DataFrame({"Income": [10.0, 20.0, 30.0, 40.0, None], "Age": [30, 40, 50, 60, 70],
                      "Province": ["ON", "QC", "ON", None, "BC"], "Home Value": [1, 2, 3, 4, 5]})


@pytest.mark.parametrize(("text", "keep"), [
    ("Income > 20", [False, False, True, True, False]),
    ("Income >= 20", [False, True, True, True, False]),
    ("Income < 20", [True, False, False, False, False]),
    ("Income <= 20", [True, True, False, False, False]),
    ("Income == 30", [False, False, True, False, False]),
    ("Income != 30", [True, True, False, True, True]),
    ("Province == ON", [True, False, True, False, False]),
    ("Province == 'QC'", [False, True, False, False, False]),
    ("Province != ON", [False, True, False, True, True]),
    ("Home Value > 3", [False, False, False, True, True]),
    ("  Age<=40 ", [True, True, False, False, False]),
])
def test_comparisons_select_the_expected_rows(text: str, keep: list[bool]) -> None:
    """Each operator keeps exactly the rows it names; missing values never match an ordering."""
    assert apply_filters(FRAME, parse_filters([text], TYPES)).tolist() == keep


def test_the_rows_a_filter_leaves_out_for_a_missing_value_are_counted() -> None:
    """A missing Income fails `Income > 20`: one warning says so; `!=` keeps such rows and says nothing."""
    notes = missing_notes(parse_filters(["Income > 20", "Age > 1", "Province != QC"], TYPES), FRAME)
    assert notes == ["filter 'Income > 20' leaves out the 1 rows whose Income is missing"]


def test_an_equality_no_row_matches_names_the_value_or_its_case() -> None:
    """`Province == on`: the value in its case; `Province == XX`: some of the column's values."""
    assert "Did you mean 'ON'?" in absent_values(parse_filters(["Province == on"], TYPES), FRAME)
    assert absent_values(parse_filters(["Province == XX", "Age > 1"], TYPES), FRAME) == (
        "no row has Province == 'XX'. Some of its values: ['BC', 'ON', 'QC'].")
    assert absent_values(parse_filters(["Province == ON"], TYPES), FRAME) == ""


def test_high_and_low_use_the_reference_quartiles() -> None:
    """'high X' keeps rows above the reference's 75th percentile, 'low X' below its 25th."""
    reference = pd.DataFrame({"Age": range(101)})
    assert apply_filters(FRAME, [parse_filter("high Age", TYPES)], reference).tolist() == [False] * 5
    assert apply_filters(FRAME, [parse_filter("low Age", TYPES)], reference).tolist() == [False] * 5
    assert apply_filters(FRAME, [parse_filter("HIGH Age", TYPES)]).tolist() == [False, False, False, False, True]


def test_filters_are_anded() -> None:
    """Several filters keep only rows every one keeps."""
    mask = apply_filters(FRAME, parse_filters(["Province == ON", "Age > 35"], TYPES))
    assert mask.tolist() == [False, False, True, False, False]


@pytest.mark.parametrize(("text", "error", "words"), [
    ("Salary > 5", UnknownColumn, "Salary"),
    ("high Salary", UnknownColumn, "Salary"),
    ("Income", InvalidFilter, "not understood"),
    ("", InvalidFilter, "empty"),
    ("Income > lots", InvalidFilter, "must be a number"),
    ("Income > inf", InvalidFilter, "finite"),
    ("Province < ON", InvalidFilter, "only == and !="),
    ("low Province", InvalidFilter, "numeric"),
    ("Income => 5", InvalidFilter, "Income => 5"),
])
def test_bad_filters_are_refused_with_a_message(text: str, error: type, words: str) -> None:
    """Unknown columns, unknown operators and type mismatches raise, naming the problem."""
    with pytest.raises(error, match=words):
        parse_filter(text, TYPES)


def test_no_filter_is_evaluated_with_eval() -> None:
    """A filter that looks like Python code is refused, never executed."""
    with pytest.raises((InvalidFilter, UnknownColumn)):
        parse_filter("__import__('os').system('true') == 1", TYPES)


def test_a_missing_value_is_refused() -> None:
    """`Province == ` has no value (a value of white space is written quoted: `Province == ' '`)."""
    with pytest.raises(InvalidFilter, match="not understood"):
        parse_filter("Province ==   ", TYPES)
    assert parse_filter("Province == ' '", TYPES).value == " "


@pytest.mark.parametrize("text", ["Income > = 5", "Income === 5", "Income =  = 5", "Income <> 5", "Income ! 5"])
def test_an_operator_run_that_is_no_operator_is_named(text: str) -> None:
    """The operator is the whole run of operator characters: one that is not one of the six is refused."""
    with pytest.raises(InvalidFilter, match="unknown operator"):
        parse_filter(text, TYPES)


def test_values_may_hold_operator_characters_after_their_first() -> None:
    """`Province == a=b` compares with 'a=b'; a value starting with one is quoted."""
    assert parse_filter("Province == a=b", TYPES).value == "a=b"
    assert parse_filter("Province == '=x'", TYPES).value == "=x"


def test_a_filter_over_the_length_cap_is_refused_without_echoing_it() -> None:
    """A filter longer than MAX_FILTER_CHARS is refused; the message quotes only its start."""
    text = "Income > " + "9" * 1_000_000
    with pytest.raises(InvalidFilter, match="at most") as caught:
        parse_filter(text, TYPES)
    assert len(caught.value.message) < 600


def test_too_many_filters_are_refused() -> None:
    """A request carries at most MAX_FILTERS filters."""
    with pytest.raises(InvalidFilter, match=f"at most {MAX_FILTERS}"):
        parse_filters(["Age > 1"] * (MAX_FILTERS + 1), TYPES)
    assert len(parse_filters(["Age > 1"] * MAX_FILTERS, TYPES)) == MAX_FILTERS
