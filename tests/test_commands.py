"""The subcommands share one shell: the same one-line errors, and one rule for which generator a
run's samples come from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import FAST, run_cli


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory) -> Path:
    """A run whose EMA generator exists but whose averaging starts after its last step."""
    run_dir = tmp_path_factory.mktemp("ema") / "run"
    result = run_cli("train", *FAST, "steps=3", "eval.every=0", "ema.decay=0.9", "ema.start=100",
                     f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr
    return run_dir


@pytest.mark.slow
def test_sample_names_the_generator_it_used(ema_run, tmp_path):
    """Before ema.start the samples come from the raw generator, and the line says so."""
    result = run_cli("sample", str(ema_run), "--num-samples", "8", "--out", str(tmp_path / "a.npy"))
    assert result.returncode == 0, result.stderr
    assert "(generator, step 3" in result.stdout and "EMA" not in result.stdout
    import torch

    from wgan_cli.checkpoint import generator_from_checkpoint, load_checkpoint

    state = load_checkpoint(ema_run)
    generator, noise_dim = generator_from_checkpoint(state)
    raw = {k: v for k, v in state["generator"].items()}
    assert all(torch.equal(generator.state_dict()[k], raw[k]) for k in raw)
    assert np.load(tmp_path / "a.npy").shape == (8, 2)


@pytest.mark.parametrize("command", [
    ["sample", "{run}", "--out", "/proc/wgan-cli-test/x.npy"],
    ["w1", "/nowhere/a.npy", "/nowhere/b.npy"],
    ["report", "/nowhere"],
    ["fid", "/nowhere/a", "/nowhere/b"],
])
@pytest.mark.slow
def test_every_subcommand_reports_bad_input_in_one_line(ema_run, command):
    result = run_cli(*[c.format(run=ema_run) for c in command])
    assert result.returncode in (1, 2), result.stderr
    assert result.stderr.startswith("wgan-cli: error: ") and result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("module, argv, message", [
    ("sample", ["run", "--out", ""], "--out '': give a file or folder name"),
    ("sample", ["run", "--out", "  "], "--out '': give a file or folder name"),
    ("report", ["sweep", "--out", ""], "--out '': give a file name"),
    ("fid", ["digits", "--save-stats", "mystats"], "--save-stats 'mystats': give a file name ending in .npz"),
    ("fid", ["digits", "--save-stats", ""], "--save-stats '': give a file name ending in .npz"),
])
def test_an_output_name_that_names_no_file_is_refused_before_any_work(module, argv, message, capsys, tmp_path,
                                                                     monkeypatch):
    import importlib

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        importlib.import_module(f"wgan_cli.commands.{module}").parse_args(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().endswith(f"error: {message}")
    assert list(tmp_path.iterdir()) == []  # nothing written where the user stands
