"""Looking at the processes a service started, through /proc: command lines, sessions, children."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from devtools.waiting import wait_until


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def session_pids(session: int) -> list[int]:
    """Every live process in a session: supervisord puts each program in its own process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session:
                    found.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return found


def children(pid: int) -> list[int]:
    """Direct child processes of `pid`, forked by any of its threads (an RQ worker's work horse is its only
    child). Reads /proc/<pid>/task/<tid>/children: cheap enough for a sampling loop."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def work_horse(worker_pid: int, timeout: float = 30) -> int:
    """The pid of the work horse a worker parent forked (its only child)."""
    return wait_until(lambda: (children(worker_pid) or [0])[0], timeout, message=f"the work horse of {worker_pid}")
