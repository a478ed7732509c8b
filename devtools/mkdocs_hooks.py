"""MkDocs hooks (mkdocs.yml `hooks:`): before each build, write the service's OpenAPI document to
docs/openapi.json (git-ignored), which docs/reference.md renders with the neoteroi.mkdocsoad plugin.

The document is generated in a child interpreter (`python -m devtools.openapi_export`): building the app
configures logging and starts a thread, neither of which belongs in MkDocs' own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

OPENAPI_FILE = "openapi.json"  # inside docs_dir: published with the site, beside the reference page


def on_pre_build(config: Any) -> None:
    output = Path(config["docs_dir"]) / OPENAPI_FILE
    done = subprocess.run([sys.executable, "-m", "devtools.openapi_export", str(output)], capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"devtools.openapi_export failed (exit {done.returncode}):\n{done.stderr}")
