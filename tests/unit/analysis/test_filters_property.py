"""Property-based tests of the filter grammar (hypothesis): valid filters round-trip, anything else is
refused with the service's own errors, and the parse time grows linearly with the filter's length."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.filters import MAX_FILTER_CHARS, parse_filter
from common.errors import InvalidFilter, UnknownColumn

TYPES = {"Income": "numeric", "Age": "numeric", "Province": "categorical", "Home Value": "numeric"}
NUMERIC = [name for name, kind in TYPES.items() if kind == "numeric"]
PADDING = st.text(alphabet=" \t", max_size=40)
# The characters the old pattern choked on (white space, operator characters) and a few others
ADVERSARIAL = st.text(alphabet=" \t<>=!'\"AIncome5.-e", min_size=1, max_size=12)


@st.composite
def valid_comparisons(draw: st.DrawFn) -> tuple[str, str, str, float | str]:
    column = draw(st.sampled_from(list(TYPES)))
    if TYPES[column] == "numeric":
        op = draw(st.sampled_from([">", ">=", "<", "<=", "==", "!="]))
        value: float | str = draw(st.floats(allow_nan=False, allow_infinity=False, width=32))
        written = repr(value)
    else:
        op = draw(st.sampled_from(["==", "!="]))
        value = draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_-. =", min_size=1, max_size=20)
                     .filter(lambda v: v == v.strip()))
        written = repr(value) if "=" in value or " " in value else value
    text = draw(PADDING) + column + draw(PADDING) + op + draw(PADDING) + written + draw(PADDING)
    return text, column, op, value


@given(valid_comparisons())
@settings(max_examples=300, deadline=None)
def test_every_comparison_of_the_grammar_parses_to_its_parts(case: tuple[str, str, str, float | str]) -> None:
    """`<column> <op> <value>` with any white space around its parts parses to those parts."""
    text, column, op, value = case
    parsed = parse_filter(text, TYPES)
    assert (parsed.column, parsed.op, parsed.value) == (column, op, value)


@given(st.sampled_from(["high", "low", "HIGH", "Low"]), st.sampled_from(NUMERIC), PADDING,
       st.text(alphabet=" \t", min_size=1, max_size=10))
@settings(max_examples=100, deadline=None)
def test_every_quantile_filter_parses(which: str, column: str, pad: str, gap: str) -> None:
    """`high <column>` / `low <column>` in any case and with any white space parses."""
    parsed = parse_filter(pad + which + gap + column + pad, TYPES)
    assert (parsed.column, parsed.op) == (column, which.lower())


@given(st.lists(ADVERSARIAL, min_size=1, max_size=40).map("".join))
@settings(max_examples=500, deadline=None)
def test_any_text_parses_or_is_refused_with_a_filter_error(text: str) -> None:
    """Whatever a client writes, the parser answers a Filter or InvalidFilter/UnknownColumn, nothing else."""
    try:
        parse_filter(text, TYPES)
    except (InvalidFilter, UnknownColumn) as refused:
        assert refused.status == 400


def _parse_seconds(text: str) -> float:
    """The least of five timed parses of `text` (the cap lifted, so the whole text is read)."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        with contextlib.suppress(InvalidFilter, UnknownColumn):
            parse_filter(text, TYPES, max_chars=len(text))
        best = min(best, time.perf_counter() - started)
    return best


@given(st.lists(ADVERSARIAL, min_size=1, max_size=6))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_parse_time_grows_linearly_with_the_length(pieces: list[str]) -> None:
    """A filter made 16x longer by repeating its pieces takes at most about 16x as long to parse (a
    backtracking pattern takes 256x); 200 KB of such text parses in well under 50 ms."""
    unit = "".join(pieces)
    short = unit * max(1, 12_500 // len(unit))
    long = unit * max(1, 200_000 // len(unit))
    short_s, long_s = _parse_seconds(short), _parse_seconds(long)
    assert long_s < 0.05, f"{len(long)} characters took {long_s * 1000:.1f} ms"
    assert long_s <= 64 * short_s + 0.005, (short_s, long_s)


@pytest.mark.parametrize("text", ["A" + " " * 24_000 + "B", "Income" + " " * 50 * 2**20 + "> 1",
                                  "=" * 10 * 2**20, "high" + "\t" * 5 * 2**20])
def test_any_filter_up_to_the_body_limit_is_refused_at_once(text: str) -> None:
    """A filter longer than MAX_FILTER_CHARS (up to a 50 MiB body) is refused in under 50 ms."""
    started = time.perf_counter()
    with pytest.raises(InvalidFilter, match=f"at most {MAX_FILTER_CHARS}"):
        parse_filter(text, TYPES)
    assert time.perf_counter() - started < 0.05
