"""A non-editable install (a built wheel in a fresh venv) finds its configs from any directory."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    (whl,) = out.glob("wgan_cli-*.whl")
    return whl


def test_wheel_ships_every_config_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("wgan_cli/configs/") for n in names if n.startswith("wgan_cli/configs/") and n.endswith(".yaml")}
    in_repo = {str(p.relative_to(REPO / "configs")) for p in (REPO / "configs").rglob("*.yaml")}
    assert shipped == in_repo


def test_wheel_ships_every_module(wheel):
    """Every module of the package is in the wheel (pyproject.toml lists the packages one by one)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    in_repo = {p.relative_to(REPO).as_posix() for p in (REPO / "wgan_cli").rglob("*.py")}
    assert in_repo - names == set()


@pytest.mark.slow
def test_installed_wheel_trains_from_an_unrelated_directory(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    # dependencies come from this environment's site-packages, appended after the new venv's own
    deps = [p for p in site.getsitepackages() if Path(p).exists()]
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    where = subprocess.run([py, "-c", "import wgan_cli; print(wgan_cli.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert str(env_dir) in where, f"imported the source tree, not the wheel: {where}"

    cli = env_dir / "bin" / "wgan-cli"
    info = subprocess.run([cli, "train", "--info", "searchpath"], cwd=work, env=env, capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "pkg://wgan_cli.configs" in info.stdout
    run = subprocess.run([cli, "train", "steps=2", "model.width=16", "batch_size=16", "eval.n=32", "critic=gp"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    (last,) = (work / "outputs").glob("*/*/checkpoints/last.pt")
    assert last.stat().st_size > 0


def test_every_upper_bound_on_a_dependency_names_its_incompatibility():
    """A cap keeps users off newer releases (torch's included): one only where a known
    incompatibility exists, said in a comment on its line or the lines just above it."""
    import re
    import tomllib

    text = (REPO / "pyproject.toml").read_text()
    project = tomllib.loads(text)["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    lines = text.splitlines()
    capped = [r for r in requirements if re.search(r"<(?!=?\s*$)", r)]
    assert capped, "the test reads the requirements"
    for requirement in capped:
        (at,) = [i for i, line in enumerate(lines) if f'"{requirement}"' in line]
        said = [lines[i] for i in range(max(0, at - 2), at + 1)]
        assert any("#" in line for line in said), f"{requirement}: a cap without a reason"
    names = {re.split(r"[<>=\[ ]", r)[0] for r in capped}
    assert not names & {"torch", "torchvision"}
