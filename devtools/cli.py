"""Running the operator CLIs as an operator would: separate processes, the entry points the package
installs beside the venv's Python (shap-diagnose, shap-repair, shap-verify)."""

from __future__ import annotations

import subprocess

from devtools.environment import REPO, VENV_BIN


def run_cli(name: str, *args: str, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess:
    """Run one of the operator CLIs (an installed entry point, e.g. `shap-diagnose`) as an operator would."""
    return subprocess.run([str(VENV_BIN / name), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
