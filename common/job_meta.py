"""What the service keeps in an RQ job's `meta`, typed: the web writes it when it enqueues a job, the work
horse while the job runs (progress, then its timings and the result's byte index), the worker parent and the
web read it. RQ stores `meta` as one JSON object beside the job (its JSON serializer), so every field here is
plain JSON; nothing reads it by key.

Writes go through `JobMeta.save`, which updates only the fields it is given and keeps any other key, so two
writers (a horse's progress, its parent's notes) never erase each other's fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rq.job import Job


class Progress(BaseModel):
    """The stage an analysis reports and its share of the work (common.jobstates.STAGES); while CatBoost
    trains (stage "training"), the trees built so far and the most it builds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = "queued"
    percent: int = 0
    iteration: int | None = None
    iterations: int | None = None


class JobMeta(BaseModel):
    """One job's meta (module docstring). Jobs of other kinds than analyses use only some fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # RQ or an older build may leave other keys

    progress: Progress = Field(default_factory=Progress)
    request_id: str | None = None  # X-Request-ID of the request that enqueued the job (common.logs)
    fingerprint: str | None = None  # identical analyses' fingerprint (store.reuse), when reuse is on
    # written by an analysis when it ends
    timings: dict[str, float | str] | None = None
    # byte ranges of the fields of a JSON result an earlier build stored (read only: nothing writes it any more)
    result_index: dict[str, list[int]] | None = None
    peak_rss_mb: float | None = None
    trained_in_this_job: bool | None = None
    # named by a horse for its worker parent (worker.kept_models)
    dataset: str | None = None
    model_id: str | None = None
    interval: int | None = None  # the scheduled cleanup's period (worker.scheduler)

    @classmethod
    def of(cls, job: Job) -> JobMeta:
        """The meta as RQ last loaded it (refresh the job first for another process's writes)."""
        return cls.model_validate(job.meta or {})

    def to_meta(self) -> dict[str, Any]:
        """The JSON for `Queue.enqueue(meta=...)`: the fields that were set."""
        return self.model_dump(exclude_unset=True)

    @staticmethod
    def save(job: Job, **fields: Any) -> None:
        """Set `fields` (checked against JobMeta) in the job's meta and save them; other keys stay."""
        JobMeta.note(job, **fields)
        job.save_meta()

    @staticmethod
    def note(job: Job, **fields: Any) -> None:
        """Like `save`, without saving: RQ saves the meta with the job when the horse ends."""
        job.meta.update(JobMeta.model_validate(fields).model_dump(include=set(fields)))
