"""Where this checkout lives, and the environment the processes a test or benchmark starts inherit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def inherited_environ() -> dict[str, str]:
    """This process's environment without the service settings a test sets itself (Redis, key, workers)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "API_KEY", "WORKER_"))}
