#!/usr/bin/env python3
"""supervisord event listener: when a program goes FATAL (it cannot stay up), stop supervisord so
the platform restarts the whole container instead of leaving it half alive."""

from __future__ import annotations

import os
import sys
import xmlrpc.client

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
            try:
                rpc.supervisor.shutdown()
            except xmlrpc.client.Fault as fault:  # e.g. SHUTDOWN_STATE: supervisord is already stopping
                print(f"fatal_listener: supervisord did not accept shutdown: {fault.faultString}",
                      file=sys.stderr, flush=True)
            return
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
