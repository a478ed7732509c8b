"""The typed parts of the "deeper questions" in an analysis request: `cohorts` (analysis_type
"comparison") and `scenarios` (analysis_type "what_if"). Pydantic only, no pandas, so the web imports
it at start-up; what needs the dataset's rows is checked in analysis.comparison and analysis.what_if."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from analysis import names as name_rule
from analysis.names import MAX_COLUMN_NAME_CHARS, MAX_QUESTION_NAME_CHARS
from common.errors import shown

MIN_COHORTS, MAX_COHORTS = 2, 6
REST = "rest"  # the cohort of the selected rows that no other cohort holds; its filter list stays empty
MAX_SCENARIOS = 10
MAX_CHANGES = 50  # columns one of set/add/multiply of a scenario may name
MAX_NAME_CHARS = MAX_QUESTION_NAME_CHARS  # a cohort's or a scenario's name
MAX_COLUMN_CHARS = MAX_COLUMN_NAME_CHARS
MAX_VALUE_CHARS = 1000  # a categorical value a scenario sets



def _one_line(name: str) -> str:
    """The one rule for names (analysis.names) beyond the length StringConstraints checks: no control, format
    (bidi) or line-separator characters."""
    bad = name_rule.refused_characters(name)
    if bad:
        raise ValueError(f"name {shown(name)} holds control characters, format characters or line separators "
                         f"({', '.join(bad[:10])}); a name is one line of visible text")
    return name


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_CHARS),
                 AfterValidator(_one_line)]
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_COLUMN_CHARS)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
SetValue = Annotated[str, StringConstraints(max_length=MAX_VALUE_CHARS)] | Finite | None
MAX_FILTERS = 100  # filters in one request (analysis.filters refuses more too)
CohortFilters = Annotated[list[str], Field(max_length=MAX_FILTERS)]


def _distinct_names(cohorts: object) -> object:
    """Names are compared as stripped (Name strips them): "a" and "a " would become one cohort, silently."""
    if isinstance(cohorts, dict):
        counts = Counter(name.strip() for name in cohorts if isinstance(name, str))  # linear: any size comes here
        twice = sorted(name for name, count in counts.items() if count > 1)[:MAX_COHORTS]
        if twice:
            raise ValueError(f"cohort names {shown(twice)} are given more than once (names are compared without "
                             "their leading and trailing spaces); give each cohort its own name")
    return cohorts


Cohorts = Annotated[dict[Name, CohortFilters], BeforeValidator(_distinct_names), Field(
    min_length=MIN_COHORTS, max_length=MAX_COHORTS, description=(
    f"analysis_type comparison: {MIN_COHORTS}-{MAX_COHORTS} named cohorts, each a list of filters (the grammar "
    "of demographic_filters, applied on top of them); \"rest\": [] names the selected rows no other cohort "
    "holds. Cohorts may overlap (warnings says so)."), examples=[
        {"urban": ["Urban_Rural == Urban"], "rural": ["Urban_Rural == Rural"]},
        {"high income": ["high Income"], "rest": []}])]


class Scenario(BaseModel):
    """One what-if scenario: the selected rows with some feature values changed, then predicted again.
    Each column is named in at most one of set / add / multiply; add and multiply need numeric columns."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True, json_schema_extra={
        "examples": [{"name": "income +10%", "multiply": {"Income": 1.1}},
                     {"name": "urban, better credit", "set": {"Urban_Rural": "Urban"},
                      "add": {"Credit_Score_Avg": 20}}]})

    name: Name = Field(description="Names the scenario in the result; unique within the request.")
    set: dict[ColumnName, SetValue] = Field(default_factory=dict, max_length=MAX_CHANGES, description=(
        "Column -> the value every row gets (a number for numeric columns, a string for categorical ones, "
        "null for missing)."))
    add: dict[ColumnName, Finite] = Field(default_factory=dict, max_length=MAX_CHANGES, description=(
        "Numeric column -> number added to each row's value."))
    multiply: dict[ColumnName, Finite] = Field(default_factory=dict, max_length=MAX_CHANGES, description=(
        "Numeric column -> factor each row's value is multiplied by."))

    @model_validator(mode="after")
    def _changes_something_once(self) -> Scenario:
        named = [*self.set, *self.add, *self.multiply]
        if not named:
            raise ValueError(f"scenario {shown(self.name)} changes nothing; give it set, add or multiply")
        twice = sorted({c for c in named if named.count(c) > 1})
        if twice:
            raise ValueError(f"scenario {shown(self.name)} names {shown(twice)} in more than one of set/add/multiply; "
                             "name each column once")
        return self

    def columns(self) -> list[str]:
        return [*self.set, *self.add, *self.multiply]

    def describe(self) -> str:
        """The changes in words, for summaries: "Income x 1.1, Province = 'ON'"."""
        parts = [f"{c} = {v!r}" for c, v in self.set.items()]
        parts += [f"{c} {'+' if v >= 0 else '-'} {abs(v):g}" for c, v in self.add.items()]
        parts += [f"{c} x {v:g}" for c, v in self.multiply.items()]
        return ", ".join(parts)


def check_question(analysis_type: str, cohorts: dict[str, list[str]] | None,
                   scenarios: list[Scenario] | None) -> None:
    """`cohorts` belongs to comparison and `scenarios` to what_if, each needed there and refused elsewhere."""
    if (analysis_type == "comparison") != (cohorts is not None):
        raise ValueError("cohorts is needed with analysis_type comparison and only there" if cohorts is None
                         else f"cohorts needs analysis_type comparison (not {analysis_type})")
    if (analysis_type == "what_if") != (scenarios is not None):
        raise ValueError("scenarios is needed with analysis_type what_if and only there" if scenarios is None
                         else f"scenarios needs analysis_type what_if (not {analysis_type})")
    if cohorts and cohorts.get(REST):
        raise ValueError(f"cohort {REST!r} holds the rows no other cohort holds; give it no filters ([])")
    if cohorts is not None and len(cohorts) - (REST in cohorts) < 1:
        raise ValueError(f"cohorts needs at least one cohort besides {REST!r}")
    names = [s.name for s in scenarios or []]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"scenario names must be unique; {shown(repeated)} repeat")

