"""Turn what RQ recorded about a failed job into the API's `{"type", "message"}`."""

from __future__ import annotations

import re

WORKER_DIED = "WorkerDied"
_HORSE_KILLED = re.compile(r"Work-horse terminated unexpectedly; waitpid returned (\d+)(?: \(signal (\d+)\))?")
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Timeout)\w*): ?(?P<msg>.*)$")


def describe_failure(exc_string: str | None) -> dict[str, str]:
    """The type and a human message of a failure, from RQ's exception string."""
    text = (exc_string or "").strip()
    if not text:
        return {"type": "UnknownError", "message": "The job failed without an error message."}
    if "stuck in intermediate queue" in text:
        return {"type": WORKER_DIED, "message": "The worker that took this job died before it could start it "
                "and no retries were left; submit the analysis again."}
    if "AbandonedJobError" in text:
        return {"type": WORKER_DIED, "message": "The worker running this job died (its heartbeat stopped) and "
                "no retries were left; submit the analysis again."}
    horse = _HORSE_KILLED.search(text)
    if horse:
        signal = f" by signal {horse.group(2)}" if horse.group(2) else ""
        return {"type": WORKER_DIED, "message": f"The worker process running this job died{signal} and no "
                "retries were left; submit the analysis again."}
    if "JobTimeoutException" in text:
        return {"type": "JobTimeout", "message": text.splitlines()[-1].split(": ", 1)[-1]}
    lines = [line for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line.strip())
        if match:
            return {"type": match["type"].rsplit(".", 1)[-1], "message": match["msg"] or match["type"]}
    return {"type": "Error", "message": lines[-1].strip()}
