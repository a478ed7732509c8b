"""The census-like wide benchmark table: deterministic, the promised shape, uploadable as it is."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np

from analysis import datasets
from devtools import wide_table
from devtools.environment import REPO


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    """Two generations with one seed are byte-identical CSVs; a different seed changes the values."""
    first = wide_table.csv_bytes()
    assert hashlib.sha256(first).digest() == hashlib.sha256(wide_table.csv_bytes()).digest()
    assert wide_table.csv_bytes(seed=wide_table.SEED + 1) != first


def test_shape_ids_targets_and_missing_share() -> None:
    """1,700 rows, 134 numeric columns, a unique zero-padded zip, complete targets, sparse holes elsewhere."""
    frame = wide_table.generate()
    assert frame.shape == (1700, 135)
    assert len(frame.select_dtypes("number").columns) == 134
    assert frame[wide_table.ID_COLUMN].is_unique
    assert frame[wide_table.ID_COLUMN].str.fullmatch(r"\d{5}").all()
    for target in (*wide_table.TARGETS, wide_table.LEAK_COLUMN):
        assert frame[target].notna().all()
    missing = frame.isna().mean()
    sparse = missing[list(wide_table.SPARSE_COLUMNS)]
    assert ((sparse > 0.015) & (sparse < 0.06)).all()
    assert missing.drop(list(wide_table.SPARSE_COLUMNS)).median() < 0.005
    near_copy = np.corrcoef(frame["Turnout_Pct"], frame[wide_table.LEAK_COLUMN])[0, 1]
    assert near_copy > 0.99


def test_percentages_match_their_counts() -> None:
    """Each Pct_ column of a count group is its count over the group's total, rounded to 0.1."""
    frame = wide_table.generate().dropna(subset=["Age_0_14", "Total_Population", "Pct_Age_0_14"])
    expected = (100 * frame["Age_0_14"] / frame["Total_Population"]).round(1)
    assert np.allclose(frame["Pct_Age_0_14"], expected, atol=0.051)


def test_service_parser_reads_it_with_the_upload_options(tmp_path: Path) -> None:
    """The CLI's CSV passes the service's own validation; with OPTIONS the zip is an id column, read as
    text (its leading zeros kept)."""
    out = tmp_path / "wide.csv"
    subprocess.run([sys.executable, "-m", "devtools.wide_table", "--out", str(out)], check=True,
                   cwd=REPO)
    meta, frame = datasets.describe(out.read_bytes(), wide_table.options(), name="wide", max_rows=100000)
    assert meta.rows == 1700
    assert frame[wide_table.ID_COLUMN].tolist() == wide_table.generate()[wide_table.ID_COLUMN].tolist()  # "01583"
    assert meta.id_columns == [wide_table.ID_COLUMN]
    assert len(datasets.feature_columns(meta, wide_table.TARGETS[0])) == 131
    assert wide_table.upload_query() == ("id_columns=zip&exclude_columns=Turnout_Pct,Turnout_Pct_Official"
                                         "&default_target=Default_Rate")
