"""A CSV's delimiter and decimal mark: detected from a bounded prefix, or named by the client; what cannot be
decided is refused naming the parameter to send."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from analysis import csv_format, datasets
from analysis.csv_format import CsvFormat, Requested
from common.errors import InvalidDataset, InvalidRequest


def table(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"Region": rng.choice(["North", "South"], rows), "Income": rng.normal(50, 9, rows).round(2),
                         "Age": rng.integers(20, 70, rows), "Score": rng.normal(0, 1, rows).round(3)})


def european(frame: pd.DataFrame, sep: str = ";") -> bytes:
    """How a spreadsheet in much of Europe exports it: `sep` between cells, a decimal comma."""
    return frame.to_csv(index=False, sep=sep, decimal=",").encode()


@pytest.mark.parametrize(("sep", "expected"), [(",", CsvFormat(",", ".")), (";", CsvFormat(";", ",")),
                                               ("\t", CsvFormat("\t", ","))])
def test_every_delimiter_and_the_decimal_comma_are_detected(sep: str, expected: CsvFormat) -> None:
    data = european(table(), sep) if sep != "," else table().to_csv(index=False).encode()
    assert csv_format.detect(data) == expected


def test_a_semicolon_csv_with_decimal_commas_is_read_as_numbers() -> None:
    frame = table()
    data = european(frame)
    meta, parsed = datasets.describe(data, datasets.DatasetOptions(), name="eu", max_rows=1000,
                                     fmt=csv_format.detect(data))
    assert meta.column_types() == {"Region": "categorical", "Income": "numeric", "Age": "numeric", "Score": "numeric"}
    np.testing.assert_allclose(parsed["Income"].to_numpy(dtype=float), frame["Income"].to_numpy())


def test_the_same_bytes_read_another_way_are_another_version() -> None:
    data = european(table())
    point = datasets.describe(data, datasets.DatasetOptions(), name="eu", max_rows=1000, fmt=CsvFormat(";", "."))
    comma = datasets.describe(data, datasets.DatasetOptions(), name="eu", max_rows=1000, fmt=CsvFormat(";", ","))
    assert point[0].version != comma[0].version
    assert point[0].column_types()["Income"] != "numeric"  # "48,5" is text when read with a point


def test_a_header_split_evenly_by_two_delimiters_names_the_parameter() -> None:
    data = b"a,b;c,d\n" + b"1,2;3,4\n" * 20
    with pytest.raises(InvalidDataset, match="delimiter=") as caught:
        csv_format.detect(data)
    assert caught.value.details == {"parameter": "delimiter", "candidates": ["comma", "semicolon"]}
    assert csv_format.detect(data, Requested(delimiter=";")) == CsvFormat(";", ",")


def test_decimal_commas_beside_decimal_points_name_the_parameter() -> None:
    data = b"a;b\n" + b"1,5;2.5\n" * 20
    with pytest.raises(InvalidDataset, match="decimal=") as caught:
        csv_format.detect(data)
    assert caught.value.details["parameter"] == "decimal"
    assert csv_format.detect(data, Requested(decimal=".")) == CsvFormat(";", ".")


def test_a_one_column_csv_says_to_name_the_delimiter() -> None:
    data = b"a|b\n" + b"1|2\n" * 20
    fmt = csv_format.detect(data)
    with pytest.raises(InvalidDataset, match="send delimiter="):
        datasets.describe(data, datasets.DatasetOptions(), name="x", max_rows=100, fmt=fmt)


def test_a_quoted_comma_is_not_a_delimiter() -> None:
    data = b'name,notes\n' + b'x,"a;b;c"\n' * 20
    assert csv_format.detect(data) == CsvFormat(",", ".")


@pytest.mark.parametrize(("delimiter", "decimal", "expected"), [
    ("semicolon", "comma", Requested(";", ",")), ("\t", None, Requested("\t", None)), (";", "", Requested(";", None)),
    ("TAB", ".", Requested("\t", "."))])
def test_the_parameters_accept_characters_and_words(delimiter: str, decimal: str | None, expected: Requested) -> None:
    assert Requested.parse(delimiter, decimal) == expected


@pytest.mark.parametrize(("delimiter", "decimal"), [("|", None), (None, "'"), (",", ","), ("x" * 5000, None)])
def test_other_parameters_are_refused(delimiter: str | None, decimal: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        Requested.parse(delimiter, decimal)
    assert len(caught.value.message) < 400


def test_detection_reads_a_bounded_prefix() -> None:
    """A hostile upload (one huge unclosed quote, or a huge first line) costs what its first SNIFF_BYTES
    cost: the detection never reads beyond them."""
    for hostile in (b'"' + b"a;" * 20_000_000, b"a" * 40_000_000 + b"\n1\n"):
        started = time.process_time()
        csv_format.detect(hostile)
        assert time.process_time() - started < 5  # generous: reading 40 MB with csv would take far longer


def test_a_prefix_cut_inside_a_row_still_decides() -> None:
    frame = table(5000)
    data = european(frame)
    assert len(data) > csv_format.SNIFF_BYTES
    assert csv_format.detect(data) == CsvFormat(";", ",")
