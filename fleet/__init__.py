"""RQ fleet operations shared by the web, the workers, the scheduler and the operator CLIs: worker
liveness, unique names, the repair/cleanup of stuck jobs, queue statistics and the operator's client."""
