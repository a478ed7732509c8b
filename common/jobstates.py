"""The job-state vocabulary (RQ's own) and the progress stages an analysis reports."""

from rq.job import JobStatus

QUEUED = JobStatus.QUEUED.value
STARTED = JobStatus.STARTED.value
DEFERRED = JobStatus.DEFERRED.value
SCHEDULED = JobStatus.SCHEDULED.value
FINISHED = JobStatus.FINISHED.value
FAILED = JobStatus.FAILED.value
STOPPED = JobStatus.STOPPED.value
CANCELED = JobStatus.CANCELED.value

TERMINAL = frozenset({FINISHED, FAILED, STOPPED, CANCELED})

# Progress stages of an analysis, in order, with the percent reached when each begins. "loading_model"
# finds (or waits for) a stored model; "training" is CatBoost building one, its percent moving with the
# iteration count from its own to the next stage's (worker.jobs.report_training).
STAGES = {
    "queued": 0,
    "loading_data": 5,
    "loading_model": 10,
    "training": 10,
    "computing_shap": 50,
    "building_result": 85,
    "done": 100,
}

# The dotted paths of job functions: the web enqueues by name and never imports the worker.
ANALYSIS_FUNC = "worker.jobs.run_analysis"
TRAINING_FUNC = "worker.jobs.run_training"  # a dataset's default_target, trained when it is uploaded
CLEANUP_FUNC = "fleet.cleanup.scheduled_cleanup"
CALLBACK_FUNC = "worker.callback_job.send_callback"
PLOT_FUNC = "worker.plot_job.render_plot"  # a plot of a finished analysis, on the plots queue
