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


def test_the_extending_pages_code_references_resolve():
    """Every file, class, contract attribute and plugin-context field docs/extending.md names
    exists: a rename breaks this test, not the reader."""
    import dataclasses

    from wgan_cli.critic.base import LipschitzStrategy
    from wgan_cli.training.tasks import TaskContext

    page = (ROOT / "docs" / "extending.md").read_text()
    files = {p.relative_to(ROOT).as_posix() for folder in ("wgan_cli", "scripts", "examples", "tests", "configs")
             for p in (ROOT / folder).rglob("*") if p.is_file()}
    named = set(re.findall(r"[\w/]+\.py\b", page))
    assert len(named) >= 60
    missing = [n for n in named if not any(f == n or f.endswith("/" + n) for f in files)]
    assert not missing, f"docs/extending.md names files that do not exist: {missing}"
    classes = {"AdversarialLoss", "GradientPenalty", "ImageSource", "TaskContext", "Task", "DivConfig", "Networks",
               "RunState", "Records"}
    assert classes <= set(re.findall(r"`(\w+)`", page))
    defined = "\n".join((ROOT / f).read_text() for f in files if f.endswith(".py"))
    assert all(re.search(rf"^class {name}\b", defined, re.M) for name in classes)
    fields = {f.name for f in dataclasses.fields(TaskContext)} | {"draw"}
    used = set(re.findall(r"`ctx\.(\w+)", page))
    assert used and used <= fields, used - fields
    contract = set(re.findall(r"`(needs_double_backward|estimates_w1|capturable|has_network|prepare|penalty|after_step|"
                              r"generator_loss)[`(]", page))
    assert len(contract) >= 6 and all(hasattr(LipschitzStrategy, name) for name in contract)
