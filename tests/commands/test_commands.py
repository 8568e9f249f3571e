"""The subcommands share one shell: the same one-line errors, and one rule for which generator a
run's samples come from."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from helpers import FAST, run_cli
from wgan_cli.errors import UserError


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


@pytest.mark.slow
def test_sample_keeps_the_users_file_unless_forced(ema_run, tmp_path):
    keep = tmp_path / "keep.csv"
    keep.write_text("mine")
    refused = run_cli("sample", str(ema_run), "-n", "8", "--out", str(keep))
    assert refused.returncode == 1 and refused.stderr == f"wgan-cli: error: --out {keep}: exists; give --force to replace it\n"
    assert keep.read_text() == "mine"
    forced = run_cli("sample", str(ema_run), "-n", "8", "--out", str(keep), "--force")
    assert forced.returncode == 0, forced.stderr
    assert keep.read_text().startswith("x,y\n") and len(keep.read_text().splitlines()) == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]  # no temporary file left


@pytest.mark.slow
def test_sample_on_a_full_disk_is_one_line_and_keeps_the_users_file(ema_run, small_disk):
    keep = small_disk / "keep.csv"
    keep.write_text("x,y\n1,2\n")
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - 8 * 1024))
    result = run_cli("sample", str(ema_run), "-n", "20000", "--out", str(keep), "--force")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr == f"wgan-cli: error: no space left on device writing {keep}; the previous file is intact\n"
    assert keep.read_text() == "x,y\n1,2\n"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "keep.csv"]


@pytest.mark.slow
def test_fid_keeps_existing_statistics_unless_forced(tmp_path):
    stats = tmp_path / "mine.npz"
    stats.write_bytes(b"mine")
    result = run_cli("fid", "digits", "--save-stats", str(stats))
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"wgan-cli: error: --save-stats {stats}: exists; give --force to replace it\n"
    assert stats.read_bytes() == b"mine"


@pytest.mark.parametrize("array, message", [
    (np.array(3.0), "a single number (a 0-d array); expected samples, an array [N, d]"),
    (np.random.default_rng(0).standard_normal((20, 2)) * 1e300, "where squared distances overflow float64"),
])
def test_samples_no_distance_can_be_computed_on_are_refused(tmp_path, array, message):
    from wgan_cli.commands.w1 import load_samples

    np.save(tmp_path / "x.npy", array)
    with pytest.raises(UserError, match=re.escape(message)):
        load_samples(str(tmp_path / "x.npy"))
    np.save(tmp_path / "y.npy", np.random.default_rng(0).standard_normal((20, 2)) * 1e100)
    assert load_samples(str(tmp_path / "y.npy")).shape == (20, 2)  # large but computable: kept


@pytest.mark.slow
def test_w1_probe_is_a_held_out_lower_bound_where_exact_w1_is_biased_up(tmp_path):
    """Two 10-D gaussians 0.5 apart: W1 = 0.5 exactly. Between 1000 samples each, exact W1 reads
    several times that (sampling bias); the probe, read on points it did not fit, stays below W1
    (within its standard error) and well above zero."""
    import json

    rng = np.random.default_rng(0)
    shift = np.zeros(10)
    shift[0] = 0.5
    np.save(tmp_path / "a.npy", rng.standard_normal((1000, 10)))
    np.save(tmp_path / "b.npy", rng.standard_normal((1000, 10)) + shift)
    result = run_cli("w1", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--method", "exact,probe",
                     "--steps", "3000", "--json")
    assert result.returncode == 0, result.stderr
    methods = json.loads(result.stdout)["methods"]
    exact, probe = methods["exact"]["value"], methods["probe"]
    assert exact > 1.5  # 3x and more the true 0.5
    assert 0.15 < probe["value"] < 0.5 + 3 * probe["standard_error"]
    assert probe["empirical_lipschitz"] <= 1.0 + 1e-4  # 1-Lipschitz by construction
    assert all(kept < ran < 3000 for kept, ran in zip(probe["updates"], probe["stopped_at"]))  # each fold stopped early
    assert len(probe["witnesses"]) == probe["folds"] == 5  # read at its best on each fold's held-back fifth


@pytest.mark.slow
def test_report_reads_a_sweep_with_a_lost_tb_folder_and_a_summary_that_is_no_object(ema_run, tmp_path):
    import json
    import shutil

    sweep = tmp_path / "sweep"
    for job in ("0", "1", "2"):
        shutil.copytree(ema_run, sweep / job)
        (sweep / job / ".hydra" / "overrides.yaml").write_text(f"- seed={job}\n")  # three jobs, not one thrice
    shutil.rmtree(sweep / "1" / "tb")  # finished, then its events were lost
    (sweep / "2" / "summary.json").write_text("[1, 2]")  # valid JSON, not a summary
    result = run_cli("report", str(sweep), "--format", "json", "--out", str(tmp_path / "r.png"))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    out = json.loads(result.stdout)
    assert "job 1: its tb/ folder is missing; the table uses summary.json" in "\n".join(out["warnings"])
    assert out["rows"][0]["runs"] == 3 and out["rows"][0]["killed"] == 1  # job 2: no readable summary


@pytest.mark.slow
@pytest.mark.parametrize("change, message", [
    (lambda s: s["config"]["model"].update(width=64), "the checkpoint's generator weights do not fit its own config"),
    (lambda s: s.update(step="abc"), "not a wgan-cli checkpoint (its step is 'abc', not a count of steps)"),
])
def test_sample_refuses_a_checkpoint_that_contradicts_itself(ema_run, tmp_path, change, message):
    import torch

    state = torch.load(ema_run / "checkpoints" / "last.pt", weights_only=True)
    change(state)
    torch.save(state, tmp_path / "bad.pt")
    result = run_cli("sample", str(tmp_path / "bad.pt"), "-n", "8", "--out", str(tmp_path / "x.npy"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr  # fid loads it the same way
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.npy").exists()


def test_completion_ignores_a_cursor_offset_that_is_no_number():
    import os
    import subprocess

    from helpers import CLI

    env = {**os.environ, "COMP_LINE": "wgan-cli fi", "COMP_POINT": "abc"}
    result = subprocess.run([CLI, "-sc", "query=bash"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and result.stdout.split() == ["fid"] and result.stderr == ""


@pytest.mark.slow
def test_fid_refuses_more_generated_images_than_memory_holds_before_generating(tmp_path):
    run = tmp_path / "digits"
    trained = run_cli("train", "data=digits", "steps=1", "eval.every=0", "fid.every=0", f"hydra.run.dir={run}")
    assert trained.returncode == 0, trained.stderr
    result = run_cli("fid", str(run), "digits", "-n", "100000000", "--device", "cpu", timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("wgan-cli: error: --num-samples=100000000: keeping the Inception features of "
                                    "the generated images needs about ") and "the largest that fits is about" in result.stderr
