"""A model's checked lookup tables in Redis: its SHAP leaf tables (worker.model_store) and its interaction
tables (worker.interaction_store). Each kind is built once per model, checked against CatBoost's native
values on the model's first training rows, and stored as its bytes, or, for a model the tables cannot
follow, as NATIVE_MARK and the note that says why, so that no later job builds and checks them again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from analysis.features import feature_frame
from analysis.model_meta import ModelMeta

NATIVE_MARK = b"native:"  # stored instead of tables for a model they cannot follow, before the note


def native_note(raw: Any) -> str | None:
    """The note stored for a model its tables cannot follow (`raw` as Redis gave it), else None."""
    if isinstance(raw, bytes) and raw.startswith(NATIVE_MARK):
        return raw[len(NATIVE_MARK):].decode(errors="replace")
    return None


def prepare[Tables](frame: pd.DataFrame, meta: ModelMeta, rows: int, encode: Callable[[Any], bytes],
                    check: Callable[[pd.DataFrame], tuple[Tables | None, str]]) -> tuple[Tables | None, str, bytes]:
    """Build and check a model's tables on its first `rows` training rows (those with a target, as the model
    reads them): `check` answers the tables or None, and a note; `encode` makes the tables' bytes. Returns
    the tables, the note and the bytes to store."""
    # encode takes Any: mypy solves Tables from check's `Tables | None` as the union itself, so a typed
    # encode of the tables alone would be refused
    trained_rows = frame[frame[meta.target].notna()] if meta.target in frame.columns else frame
    tables, note = check(feature_frame(trained_rows.iloc[:rows], meta.features, meta.cat_features))
    return tables, note, encode(tables) if tables is not None else NATIVE_MARK + note.encode()
