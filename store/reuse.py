"""Identical analyses are answered from the first one's stored result (issue 12, no repeated work).

An analysis is identified by its fingerprint: the result format (RESULT_FORMAT), the dataset's version
(resolved by the web from the dataset's stored meta), the whole resolved request (target, filters, sample
size, analysis type, `data`, the cohorts in their order) and the settings that cut it (INTERACTION_MAX_ROWS
for interactions). The same dataset version, target and features give the same model id, so the model is
part of
it too. The web puts the fingerprint in the job's meta; the worker, once the result is stored, records
`fingerprint -> job id` with the result's own TTL; the web answers a later identical request with that
job (its id, `"status": "finished"`, `"cached": true`) when the job is still finished and its result
still stored. Light: hashlib and orjson only, so the web can use it."""

from __future__ import annotations

import hashlib

import orjson
import redis

from analysis.dataset_meta import DatasetMeta
from analysis.request import AnalyzeRequest
from common import jobstates, keys
from common.rqtypes import JSONJob

# The shape of the stored result: bump it when a result gains or changes a part (2: warnings, feature
# values, labels, questions), so a result stored by an older build is not served as an identical one.
RESULT_FORMAT = 2


def fingerprint(request: AnalyzeRequest, dataset_version: str, *, interaction_max_rows: int | None = None) -> str:
    """A hash of everything that decides the result: the result format, the dataset version, the resolved
    request and, for an interactions analysis, the row cap (INTERACTION_MAX_ROWS) its rows were cut to."""
    fields = request.model_dump(exclude={"reuse", "callback_url"})  # neither decides the result
    # OPT_SORT_KEYS makes key order irrelevant, but the comparison's pairs follow the cohorts' order: it is
    # kept as a list of pairs
    cohorts = fields.pop("cohorts")
    ordered = list(cohorts.items()) if cohorts is not None else None
    cap = interaction_max_rows if request.analysis_type == "interactions" else None
    payload = orjson.dumps([RESULT_FORMAT, dataset_version, fields, ordered, cap], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()[:32]


def dataset_key(meta: DatasetMeta) -> str:
    """What of a dataset decides a result: its version, and its labels when it has any (they change the
    summary's words and feature_importance's `label`s, so a relabelled dataset is not answered by an older
    result). Without labels it is the bare version, so fingerprints made before labels existed still match."""
    labels = meta.labels
    if not labels:
        return meta.version
    digest = hashlib.sha256(orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    return f"{meta.version}+labels:{digest}"


def finished_job_for(client: redis.Redis, digest: str) -> str | None:
    """The id of a finished job with this fingerprint whose result is still stored, else None."""
    raw = client.get(keys.reusable_result(digest))
    if raw is None:
        return None
    job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
    with client.pipeline(transaction=False) as pipe:
        pipe.hget(JSONJob.key_for(job_id), "status")
        pipe.exists(keys.job_result_head(job_id), keys.job_result(job_id))  # or an earlier build's whole JSON
        status, stored = pipe.execute()
    status = status.decode() if isinstance(status, bytes) else status
    return job_id if status == jobstates.FINISHED and stored else None


def remember(client: redis.Redis, digest: str, job_id: str, ttl: int) -> None:
    """Record that `job_id`'s stored result answers `digest` (the worker calls it once the result is stored)."""
    client.set(keys.reusable_result(digest), job_id, ex=ttl)
