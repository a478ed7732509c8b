"""Running the operator CLIs as an operator would: separate processes with the venv's Python."""

from __future__ import annotations

import subprocess
import sys

from devtools.environment import REPO


def run_script(name: str, *args: str, env: dict[str, str] | None = None,
               timeout: float = 180) -> subprocess.CompletedProcess:
    """Run one of scripts/<name>.py as an operator would, with the venv's Python."""
    return subprocess.run([sys.executable, str(REPO / "scripts" / f"{name}.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
