"""What a stored dataset is, beside its rows: its name and version, each column's type and statistics, the
options it was uploaded with and its labels. Built by analysis.datasets.describe, stored as JSON beside the
rows (store.dataset_store), served by GET /metadata and GET /datasets, and read by attribute everywhere.

Datasets have no TTL, so a dataset stored by an earlier build must load: every field the earlier builds did
not always write has a default, and the JSON written today is the same as theirs (`to_json`: the fields that
were set)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ColumnType = Literal["numeric", "categorical", "id"]


class ColumnStats(BaseModel):
    """One column's type and statistics (numbers: min, max, mean, std and quartiles of its finite values;
    text: its ten commonest values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: ColumnType
    missing: int
    non_finite: int | None = None
    unique: int | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    p25: float | None = None
    median: float | None = None
    p75: float | None = None
    top_values: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class DatasetMeta(BaseModel):
    """One dataset version's metadata (module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    rows: int
    columns: list[ColumnStats]
    id_columns: list[str] = Field(default_factory=list)
    exclude_columns: list[str] = Field(default_factory=list)
    default_target: str | None = None
    created_at: float | None = None
    size_bytes: int | None = None  # the upload's bytes
    upload_format: str | None = None  # csv or parquet
    storage: str | None = None  # how the rows are stored (analysis.datasets.STORAGE; older ones: CSV text)
    labels: dict[str, str] | None = None  # readable column names (analysis.labels); None before labels existed
    stored_bytes: int | None = None  # the stored rows' bytes
    origin: str | None = None  # who stored it: an upload, or the built-in table (store.default_dataset)

    def column(self, name: str) -> ColumnStats:
        """A column's statistics (the name is one of `names`)."""
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column_types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.columns}

    def columns_json(self) -> list[dict[str, Any]]:
        """The columns as GET /metadata shows them."""
        return [c.to_json() for c in self.columns]

    def to_json(self) -> bytes:
        """The stored form: the fields that were set, as earlier builds wrote them."""
        return self.model_dump_json(exclude_unset=True).encode()
