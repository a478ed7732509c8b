"""The feature ranking's mean |SHAP| (explain.run._mean_magnitude) is numpy's `np.abs(values).mean(axis=0)` bit for
bit, however many rows (made a chunk of rows at a time past MAGNITUDE_CHUNK)."""

from __future__ import annotations

import numpy as np
import pytest

from explain import run


@pytest.mark.parametrize("rows", [1, 100, run.MAGNITUDE_CHUNK, run.MAGNITUDE_CHUNK + 1, 3 * run.MAGNITUDE_CHUNK + 17])
def test_mean_magnitude_is_numpys_bit_for_bit(rows: int) -> None:
    rng = np.random.default_rng(rows)
    matrix = rng.normal(size=(rows, 41)) * rng.lognormal(0, 4, 41)  # magnitudes far apart: rounding shows
    matrix[rng.random(matrix.shape) < 0.05] = -0.0
    values = matrix[:, :-1]  # a strided view, as the explained values of the SHAP matrix are
    assert run._mean_magnitude(values).tobytes() == np.abs(values).mean(axis=0).tobytes()
    single = values.astype(np.float32)
    assert run._mean_magnitude(single).tobytes() == np.abs(single).mean(axis=0).tobytes()
