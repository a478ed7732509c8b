"""CPU time and context switches of the web process per request (bench/RESULTS.md, section 9). Not run
by `make bench`.

The service as `make run` starts it (1 worker); a job on a queue no worker serves stays queued. For
`/ping` and `/job_status/<that job>`, with 1 and with 16 keep-alive clients, the web process's user +
system CPU and its threads' voluntary + involuntary context switches are read from /proc around the
load and divided by the requests served. The web process runs Python on one core at a time (the GIL),
so under load its CPU per request sets its requests/s.

    .venv/bin/python bench/web_cpu.py [--duration 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from benchlib import emit, load, machine, rounded, running_service, scratch


def cpu_and_switches(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if "ctxt_switches:" in line:
                switches += int(line.split()[1])
    return cpu, switches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from common import jobstates
    from common.rqtypes import JSONQueue

    figures: dict[str, Any] = {}
    with scratch("web-cpu") as directory, running_service(directory / "svc", {"WORKER_COUNT": "1"},
                                                          workers=1) as service:
        web = service.pids("waitress-serve")[0]
        idle = JSONQueue("bench-idle", connection=service.redis_client())
        queued = idle.enqueue(jobstates.ANALYSIS_FUNC, kwargs={"request": {"dataset": "default"}}).id
        for round_ in range(args.rounds):
            for name, path in (("ping", "/ping"), ("queued", f"/job_status/{queued}")):
                for clients in (1, 16):
                    cpu_before, switches_before = cpu_and_switches(web)
                    result = load(service.port, path, clients=clients, processes=1 if clients == 1 else 2,
                                  duration=args.duration)
                    cpu_after, switches_after = cpu_and_switches(web)
                    served = max(1, result["requests"])
                    figures.setdefault(f"{name}_{clients}_clients", []).append({
                        "rps": result["rps"], "p99_ms": result["p99_ms"],
                        "cpu_us_per_request": rounded(1e6 * (cpu_after - cpu_before) / served, 0),
                        "switches_per_request": rounded((switches_after - switches_before) / served, 1),
                        "round": round_})
    figures["machine"] = machine()
    emit("web_cpu", figures)


if __name__ == "__main__":
    main()
