"""The README is the front door and the docs build: ``mkdocs build --strict`` fails on a broken
link or anchor between pages, and every link of the README resolves to a file or a heading."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def anchors(markdown: str) -> set[str]:
    """The ids MkDocs gives headings: lower case, punctuation dropped, spaces as hyphens."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)}


def test_the_docs_build_strictly(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    result = subprocess.run([str(mkdocs), "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "extending" / "index.html").is_file()


def test_every_readme_link_resolves():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(#[^)\s]+)?\)", readme)
    local = [(path, anchor) for path, anchor in links if not path.startswith("http")]
    assert len(local) >= 8
    for path, anchor in local:
        target = ROOT / path
        assert target.is_file(), path
        if anchor:
            assert anchor[1:] in anchors(target.read_text()), f"{path}{anchor}"


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "make demo" in readme and "make test" in readme and "docs/dashboard.png" in readme
    assert "wgan-cli train critic=gp data=cifar10" in readme
