"""The documentation: a short README that points into docs/, and a docs site that builds offline.

`make docs` (run by `make test`) builds the site with --strict, so a broken link or anchor, a page missing
from the nav or a missing included file fails there; these tests hold what that build does not."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from devtools.environment import REPO

README_MAX_LINES = 250
# A page or asset loaded from another site: a script, a stylesheet, a font, an image.
EXTERNAL_LOAD = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//"
                           r"|@import\s+url\(\s*['\"]?(?:https?:)?//|url\(\s*['\"]?https?://|fonts\.googleapis|fonts\.gstatic")


def test_readme_is_short_and_its_links_resolve() -> None:
    """The README stays an introduction (at most 250 lines); every relative link in it names a file that exists."""
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES, f"README.md has {len(readme.splitlines())} lines"
    targets = [t.split("#", 1)[0] for t in re.findall(r"\]\(([^)\s]+)\)", readme) if "://" not in t]
    assert any(t.startswith("docs/") for t in targets), "the README links to no page of docs/"
    missing = [t for t in targets if t and not (REPO / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_every_docs_page_is_in_the_nav() -> None:
    """Each page of docs/ is reachable from the site's navigation (mkdocs.yml `nav`)."""
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())

    def pages(entries: list) -> set[str]:
        found: set[str] = set()
        for entry in entries:
            values = entry.values() if isinstance(entry, dict) else [entry]
            for value in values:
                found |= pages(value) if isinstance(value, list) else {value}
        return found

    in_nav = pages(config["nav"])
    on_disk = {str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md")}
    assert on_disk - in_nav == set(), f"pages missing from the nav: {sorted(on_disk - in_nav)}"
    assert config["theme"]["font"] is False, "web fonts would be loaded from Google's CDN"


def test_site_builds_strictly_and_loads_nothing_from_another_site(tmp_path: Path) -> None:
    """mkdocs build --strict succeeds (its hook generates the OpenAPI document without Redis) and no page of the
    built site loads a script, stylesheet, font or image from another site: it works offline."""
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "POST" in (site / "reference.html").read_text(), "the API reference was not rendered"
    loads = [f"{path.relative_to(site)}: {match.group(0)}" for path in site.rglob("*")
             if path.suffix in (".html", ".css", ".js") for match in [EXTERNAL_LOAD.search(path.read_text())] if match]
    assert not loads, loads
