"""Issue 22, findings 2 and 6: one rule for names, whatever the format and whatever they name. Parquet
column names were not held to the CSV's 500 characters (three 20,001-character names made a 60.7 MB result
and a 4.8 MB SVG), and labels with U+0085, U+2028 or U+202E were stored though the docs say one line.
Names of columns (CSV, Parquet, multipart), labels, cohorts and scenarios now refuse Cc, Cf, Zl and Zp
characters and duplicates after trimming; cell values holding them are kept (and escaped when shown)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devtools.redis_server import RedisServer
from devtools.stack import Stack
from tests.hostile.helpers import assert_refusal, csv_bytes, multipart

PARQUET = {"Content-Type": "application/vnd.apache.parquet"}
CSV = {"Content-Type": "text/csv"}
BAD = {"NEL": "\u0085", "LS": "\u2028", "PS": "\u2029", "RLO": "\u202e", "LRI": "\u2066", "ZWSP": "\u200b",
       "LF": "\n", "CR": "\r", "TAB": "\t", "BOM": "\ufeff"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    server = RedisServer(tmp_path_factory.mktemp("names") / "redis").start()
    running = Stack(server).start_web()  # every refusal here is the web's, before anything is enqueued
    yield running
    running.stop()
    server.stop()


def parquet_of(columns: dict[str, list]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def rows(n: int = 30) -> dict[str, list]:
    return {"y": [i % 2 for i in range(n)], "x": [i % 7 for i in range(n)]}


def test_parquet_column_names_over_500_characters_are_refused(stack: Stack) -> None:
    columns = rows() | {"f" * 20_001 + str(i): list(range(30)) for i in range(3)}
    status, body, _ = stack.request("PUT", "/datasets/longnames", raw=parquet_of(columns), headers=PARQUET)
    assert_refusal(status, body, 400, "invalid_dataset")
    assert "500" in body["error"], body


@pytest.mark.parametrize("char", list(BAD.values()), ids=list(BAD))
def test_a_column_name_with_a_control_format_or_separator_character_is_refused_in_every_format(
        stack: Stack, char: str) -> None:
    name = f"x{char}2026-12-07 14:00:00,000 web INFO forged"
    parquet = parquet_of(rows() | {name: list(range(30))})
    status, body, _ = stack.request("PUT", "/datasets/bad", raw=parquet, headers=PARQUET)
    assert_refusal(status, body, 400, "invalid_dataset")
    form, headers = multipart("data.parquet", parquet)
    status, body, _ = stack.request("PUT", "/datasets/bad", raw=form, headers=headers)
    assert_refusal(status, body, 400, "invalid_dataset")
    if char not in "\n\r":  # a CSV cannot carry a raw line break in an unquoted header
        header = f'y,x,"{name}"\n'.encode()
        csv = header + b"".join(f"{i % 2},{i % 7},{i}\n".encode() for i in range(30))
        if char == "\ufeff":
            csv = b"y,x,\xef\xbb\xbfz\n" + csv.split(b"\n", 1)[1]  # a BOM inside the header, not at its start
        status, body, _ = stack.request("PUT", "/datasets/bad", raw=csv, headers=CSV)
        assert_refusal(status, body, 400, "invalid_dataset")


def test_names_that_differ_only_by_surrounding_spaces_are_duplicates(stack: Stack) -> None:
    status, body, _ = stack.request("PUT", "/datasets/dups", raw=csv_bytes(30, y=lambda i: i % 2, x=1, **{"x ": 2}),
                                    headers=CSV)
    assert_refusal(status, body, 400, "invalid_dataset")
    assert "repeats" in body["error"], body
    status, body, _ = stack.request("PUT", "/datasets/dups", raw=parquet_of(rows() | {" x": list(range(30))}),
                                    headers=PARQUET)
    assert_refusal(status, body, 400, "invalid_dataset")


@pytest.mark.parametrize("char", ["\u0085", "\u2028", "\u202e", "\u2066", "\n"], ids=["NEL", "LS", "RLO", "LRI", "LF"])
def test_a_label_with_a_control_format_or_separator_character_is_refused(stack: Stack, char: str) -> None:
    status, body, _ = stack.request("PUT", "/datasets/labelled", raw=csv_bytes(30, y=lambda i: i % 2, x=lambda i: i),
                                    headers=CSV)
    assert status in (200, 201), body
    status, body, _ = stack.request("PUT", "/datasets/labelled/labels", {"x": f"Income{char}evil"})
    assert_refusal(status, body, 400, "invalid_labels")
    status, body, _ = stack.request("PUT", "/datasets/labelled?labels=" + quote(json.dumps({"x": f"a{char}b"})),
                                    raw=csv_bytes(30, y=lambda i: i % 2, x=lambda i: i), headers=CSV)
    assert_refusal(status, body, 400, "invalid_labels")
    assert stack.get("/metadata?dataset=labelled")[1]["labels"] == {}


@pytest.mark.parametrize("char", ["\u202e", "\u2028", "\u0085", "\n"], ids=["RLO", "LS", "NEL", "LF"])
def test_cohort_and_scenario_names_follow_the_rule(stack: Stack, char: str) -> None:
    cohorts = {f"urban{char}x": ["Urban_Rural == Urban"], "rest": []}
    status, body, _ = stack.request("POST", "/analyze", {"analysis_type": "comparison", "cohorts": cohorts})
    assert_refusal(status, body, 400, "invalid_request")
    scenario = {"name": f"more{char}income", "multiply": {"Income": 1.1}}
    status, body, _ = stack.request("POST", "/analyze", {"analysis_type": "what_if", "scenarios": [scenario]})
    assert_refusal(status, body, 400, "invalid_request")


def test_cell_values_with_such_characters_are_kept_and_escaped_when_shown(stack: Stack) -> None:
    """Values are data: stored as sent; an error message quoting one shows it escaped, on one line."""
    value = "Ur\u202eban\u2028\n2026-12-07 forged"
    data = csv_bytes(30, y=lambda i: i % 2, x=lambda i: i, place=lambda i: f'"{value}"' if i % 2 else "a")
    status, body, _ = stack.request("PUT", "/datasets/values", raw=data, headers=CSV)
    assert status in (200, 201), body
    top = next(c for c in body["columns"] if c["name"] == "place")["top_values"]
    assert value in top, top
    status, body, _ = stack.request("POST", "/analyze", {"dataset": "values", "target_variable": "y",
                                                         "demographic_filters": [f"nowhere{value} > 1"]})
    assert status == 400, body
    assert "\n" not in body["error"] and "\u2028" not in body["error"] and "\u202e" not in body["error"], body
