"""The fingerprint of an analysis (store.reuse): what makes two requests identical, in-process."""

from __future__ import annotations

import hashlib

import orjson

from analysis.request import AnalyzeRequest
from store import reuse


def test_the_cohorts_order_is_part_of_the_fingerprint() -> None:
    """The comparison's pairs follow the request's cohort order, so the same cohorts in another order are
    another result."""
    first = AnalyzeRequest(analysis_type="comparison", cohorts={"a": ["Age > 40"], "b": ["Age <= 40"]})
    second = AnalyzeRequest(analysis_type="comparison", cohorts={"b": ["Age <= 40"], "a": ["Age > 40"]})
    assert reuse.fingerprint(first, "v") != reuse.fingerprint(second, "v")


def test_a_result_of_an_older_format_is_not_identical() -> None:
    """The fingerprint carries the result format, so results stored by a build before it are not served."""
    request = AnalyzeRequest()
    fields = request.model_dump(exclude={"reuse", "callback_url"})
    old = hashlib.sha256(orjson.dumps(["v", fields], option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    assert reuse.fingerprint(request, "v") != old


def test_the_interactions_row_cap_is_part_of_an_interactions_fingerprint() -> None:
    """An interactions result capped at another INTERACTION_MAX_ROWS is not identical; other analyses
    ignore the setting."""
    interactions = AnalyzeRequest(analysis_type="interactions")
    assert (reuse.fingerprint(interactions, "v", interaction_max_rows=100)
            != reuse.fingerprint(interactions, "v", interaction_max_rows=200))
    plain = AnalyzeRequest()
    assert (reuse.fingerprint(plain, "v", interaction_max_rows=100)
            == reuse.fingerprint(plain, "v", interaction_max_rows=200))
