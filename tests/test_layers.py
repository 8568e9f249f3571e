"""The package's layers (pyproject.toml, [tool.importlinter]): a module imports only from the
layers below its own, checked by import-linter over every import, those inside functions too."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
                          cwd=package_parent, env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layers():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, planted, message", [
    ("metrics/w1.py", "from wgan_cli.training import Trainer", "wgan_cli.metrics is not allowed to import wgan_cli.training"),
    ("errors.py", "from wgan_cli.config import Config", "wgan_cli.errors is not allowed to import wgan_cli.config"),
    ("rundir.py", "from wgan_cli.resume import starting_checkpoint",
     "wgan_cli.rundir is not allowed to import wgan_cli.resume"),
])
def test_an_upward_import_inside_a_function_breaks_the_layers(tmp_path, module, planted, message):
    shutil.copytree(ROOT / "wgan_cli", tmp_path / "wgan_cli", ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "wgan_cli" / module, "a") as f:
        f.write(f"\n\ndef _planted():  # noqa: ANN202\n    {planted}\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1 and message in result.stdout, result.stdout[-3000:]


def unmarked_imports_inside_functions(package: Path) -> list[str]:
    """``path:line`` of every import inside a function that does not say why it waits (``# lazy:``)."""
    found = []
    for path in sorted(package.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        functions = [f for f in ast.walk(ast.parse(source)) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
        imports = {node.lineno: node for f in functions for node in ast.walk(f) if isinstance(node, (ast.Import, ast.ImportFrom))}
        for line, node in sorted(imports.items()):
            if "# lazy:" not in "\n".join(lines[line - 1:node.end_lineno]):
                found.append(f"{path.relative_to(package.parent)}:{line}")
    return found


def test_an_import_inside_a_function_says_what_it_keeps_out_of_start_up(tmp_path):
    """Imports wait inside functions only to keep torch (or another heavy library) out of the
    start-up of the torch-free commands (tests/test_surface.py runs those with torch unimportable);
    each says so. A plain one inside a function is found."""
    assert unmarked_imports_inside_functions(ROOT / "wgan_cli") == []
    shutil.copytree(ROOT / "wgan_cli", tmp_path / "wgan_cli", ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "wgan_cli" / "paths.py", "a") as f:
        f.write("\n\ndef _planted():  # noqa: ANN202\n    import json\n")
    assert unmarked_imports_inside_functions(tmp_path / "wgan_cli") == [f"wgan_cli/paths.py:{len((tmp_path / 'wgan_cli' / 'paths.py').read_text().splitlines())}"]


def private_uses(package: Path) -> list[str]:
    """Uses of other libraries from the inside: unittest.mock in production code, a private torch
    function (``torch._name``), an import of a private name or module of tensorboard. (torch's
    ``_BatchNorm`` base class and ``_python_dispatch.TorchDispatchMode`` have no public twin yet.)"""
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        where = f"{path.relative_to(package.parent)}"
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else None
                names = [module or ""] + [a.name for a in node.names]
                if any(n.startswith("unittest.mock") or n == "mock" and module == "unittest" for n in names):
                    found.append(f"{where}:{node.lineno} unittest.mock")
                if module and module.split(".")[0] == "tensorboard" and (
                        any(part.startswith("_") for part in module.split("."))
                        or any(a.name.startswith("_") for a in node.names)):
                    found.append(f"{where}:{node.lineno} private import from {module}")
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "torch"
                    and node.attr.startswith("_") and not node.attr.endswith("__")):
                found.append(f"{where}:{node.lineno} torch.{node.attr}")
    return found


def test_torch_tensorboard_and_mock_are_used_through_their_public_doors(tmp_path):
    assert private_uses(ROOT / "wgan_cli") == []
    planted = tmp_path / "wgan_cli"
    planted.mkdir()
    (planted / "bad.py").write_text("from unittest import mock\nimport torch\n"
                                    "from tensorboard.summary.writer.event_file_writer import _AsyncWriterThread\n"
                                    "torch._foreach_lerp_([], [], 0.5)\n")
    assert [f.split(" ", 1)[1] for f in private_uses(planted)] == [
        "unittest.mock", "private import from tensorboard.summary.writer.event_file_writer", "torch._foreach_lerp_"]
