"""Turn what RQ recorded about a failed job into the API's `{"type", "message"}`."""

from __future__ import annotations

import re

WORKER_DIED = "WorkerDied"
_HORSE_KILLED = re.compile(r"Work-horse terminated unexpectedly; waitpid returned (\d+)(?: \(signal (\d+)\))?")
_DOTTED_NAME = re.compile(r"[A-Za-z_][\w.]*")  # one repeat, matched whole: linear on any line
_EXCEPTION_WORDS = ("Error", "Exception", "Exit", "Interrupt", "Timeout")


def _exception_line(line: str) -> tuple[str, str] | None:
    """(type, message) of a line `pkg.SomeError: message`, else None. Split by hand, not by a pattern
    with adjacent repeats: the line may quote what a client sent and must not make a regex backtrack."""
    name, colon, message = line.partition(":")
    if not colon or not _DOTTED_NAME.fullmatch(name):
        return None
    last = name.rsplit(".", 1)[-1]
    if not any(word in (last if "." in name else name[1:]) for word in _EXCEPTION_WORDS):
        return None
    return name, message.removeprefix(" ")


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
        found = _exception_line(line.strip())
        if found:
            kind, message = found
            return {"type": kind.rsplit(".", 1)[-1], "message": message or kind}
    return {"type": "Error", "message": lines[-1].strip()}
