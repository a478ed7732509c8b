#!/usr/bin/env python3
"""supervisord event listener: when a program goes FATAL (it cannot stay up), stop supervisord so
the platform restarts the whole container instead of leaving it half alive."""

from __future__ import annotations

import os
import sys

from supervisor import childutils


def main() -> None:
    rpc = childutils.getRPCInterface(dict(os.environ))
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        if headers["eventname"] == "PROCESS_STATE_FATAL":
            details, _ = childutils.eventdata(payload + "\n")
            print(f"fatal_listener: {details.get('processname')} is FATAL; stopping supervisord",
                  file=sys.stderr, flush=True)
            childutils.listener.ok(sys.stdout)
            rpc.supervisor.shutdown()
            return
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
