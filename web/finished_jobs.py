"""The finished analysis a route about its result names: 404 unknown (or its result expired), 409 unfinished."""

from __future__ import annotations

from rq.job import Job

from common import jobstates
from common.errors import JobNotFinished, NotFound
from web.answers import fetch
from web.services import Services


def finished(svc: Services, job_id: str) -> Job:
    """The analysis job `job_id`, which has finished; NotFound when there is no such job, JobNotFinished
    (409) when it has not finished (still queued or running, or it failed, was stopped or canceled)."""
    job = fetch(svc, job_id)
    if job.func_name != jobstates.ANALYSIS_FUNC:  # e.g. a dataset's training job: no explained rows
        raise NotFound(f"Job {job_id!r} is not an analysis (it is {job.description or job.func_name!r}); only "
                       "analyses have feature values and plots.")
    found = job.get_status(refresh=False)
    status = found.value if found is not None else "unknown"  # "canceled", not "JobStatus.CANCELED"
    if status != jobstates.FINISHED:
        hint = "poll GET /job_status/<id> until it is finished" if status not in jobstates.TERMINAL else \
            "it has no result; submit the analysis again"
        raise JobNotFinished(f"Job {job_id!r} is {status}, not finished: {hint}.", details={"status": status})
    return job
