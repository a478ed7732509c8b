"""Each extra of the Python client, installed as a new user would (`pip install './clients/python[extra]'` into
a fresh venv), runs the README's example against a real stack: the `shap` extra must bring what
`shap.plots.beeswarm(job.explanation())` draws with (matplotlib), the `pandas` one what `result.importance` needs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.environment import REPO
from devtools.stack import Stack

pytestmark = pytest.mark.slow  # two fresh venvs with pandas (and shap) installed: about a minute each


def readme_example() -> str:
    """The README's Python client example, as written."""
    section = (REPO / "README.md").read_text().split("## The Python client", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert found, "the README's Python client section has no example"
    return found.group(1)


def without_shap(example: str) -> str:
    """The example's lines a `pandas` install can run: the ones that do not name shap."""
    return "\n".join(line for line in example.splitlines() if "shap" not in line.replace("shap_client", ""))


@pytest.mark.parametrize("extra", ["pandas", "shap"])
def test_each_extra_runs_the_documented_example(stack: Stack, tmp_path: Path, extra: str) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    source = tmp_path / "client"  # pip builds in the source tree: a copy keeps the repository clean
    shutil.copytree(REPO / "clients" / "python", source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    package = f"{source}[{extra}]"
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", package], capture_output=True,
                               text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    example = readme_example() if extra == "shap" else without_shap(readme_example())
    assert ("shap.plots.beeswarm" in example) == (extra == "shap")
    script = tmp_path / "example.py"
    script.write_text(example.replace('"http://localhost:10000"', repr(stack.base)) + "\nprint('example ran')\n")
    env = {"PATH": os.environ.get("PATH", ""), "MPLBACKEND": "Agg", "HOME": str(tmp_path)}
    ran = subprocess.run([str(venv / "bin" / "python"), str(script)], capture_output=True, text=True, timeout=600,
                         env=env, cwd=tmp_path)
    assert ran.returncode == 0 and "example ran" in ran.stdout, ran.stderr[-3000:]
