"""Sweeps: a failing job is recorded and the sweep goes on, summary.json, the HParams dashboard
through a real TensorBoard server, and ``wgan-cli report``."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from helpers import CLI, job_dir, run_cli, scalars, wait_until_logged

SMALL = ["critic=gp", "steps=20", "eval.every=10", "eval.n=100", "model.width=32", "batch_size=32", "log_every=5"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """4 jobs: lr_d 1e-4 (two seeds, completes) and 1e9 (two seeds, diverges at step 1)."""
    root = tmp_path_factory.mktemp("sweep")
    result = run_cli("train", "-m", *SMALL, "optim.lr_d=1e-4,1e9", "seed=0,1", f"hydra.sweep.dir={root}")
    return root, result


def lr_d(overrides: list[str]) -> float:
    return float(dict(o.split("=", 1) for o in overrides)["optim.lr_d"])


@pytest.mark.slow
def test_a_failing_job_is_recorded_and_the_sweep_goes_on(sweep):
    root, result = sweep
    assert result.returncode == 2, result.stderr  # two jobs failed
    summaries = {int(p.parent.name.split("_")[0]): json.loads(p.read_text()) for p in root.glob("*/summary.json")}
    assert sorted(summaries) == [0, 1, 2, 3]
    assert {s["status"] for s in summaries.values()} == {"completed", "failed"}
    for s in summaries.values():
        if lr_d(s["overrides"]) > 1:  # Hydra's sweeper writes 1e9 as 1000000000.0
            assert s["status"] == "failed" and "loss/critic=nan" in s["reason"] and s["steps"] == 0
        else:
            assert s["status"] == "completed" and s["steps"] == 20 and s["final"]["w1/exact"] > 0
            assert s["best"]["w1/exact"] <= s["final"]["w1/exact"] and s["wall_seconds"] > 0
    assert "2 of 4 jobs failed" in result.stdout + result.stderr
    assert f"compare the jobs: wgan-cli report {root}" in result.stdout + result.stderr


@pytest.mark.slow
def test_joblib_runs_two_local_jobs_in_worker_processes(tmp_path):
    result = run_cli("train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *SMALL,
                     "optim.lr_d=1e-4,1e9", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 1, result.stderr  # one of two failed
    summaries = [json.loads((job_dir(tmp_path, i) / "summary.json").read_text()) for i in range(2)]
    assert [s["status"] for s in summaries] == ["completed", "failed"]
    assert "1 of 2 jobs failed" in result.stdout + result.stderr
    assert len(scalars(job_dir(tmp_path, 0))["w1/exact"]) == 2


@pytest.mark.slow
def test_a_joblib_job_whose_process_dies_is_recorded_and_the_other_job_finishes(tmp_path):
    """Under joblib each job trains in a process of its own: SIGKILL to one (as the kernel's OOM
    killer sends) fails that job alone; the other finishes and writes its summary, and the sweep's
    exit code counts the failure."""
    process = subprocess.Popen(
        [CLI, "train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "steps=400", "eval.every=100",
         "log_every=10", "seed=0,1", f"hydra.sweep.dir={tmp_path}"], text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    victim = tmp_path / "1_seed=1"
    wait_until_logged(victim, process, step=20, tag="loss/critic")
    pid = json.loads((victim / ".lock").read_text())["pid"]  # the process that trains the job
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 1, stderr[-3000:]
    assert "Traceback" not in stderr and "TerminatedWorkerError" not in stdout + stderr
    killed = json.loads((victim / "summary.json").read_text())
    assert killed["status"] == "failed" and "killed by SIGKILL" in killed["reason"]
    healthy = json.loads((tmp_path / "0_seed=0" / "summary.json").read_text())
    assert healthy["status"] == "completed" and healthy["steps"] == 400
    assert (victim / "checkpoints").is_dir() or killed["steps"] == 0  # whatever it saved is kept
    assert "1 of 2 jobs failed" in stdout + stderr


@pytest.mark.slow
def test_report_groups_by_the_varied_override_and_matches_the_events(sweep, tmp_path):
    root, _ = sweep
    result = run_cli("report", str(root), "--format", "json", "--out", str(tmp_path / "r.png"))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["varied"] == ["optim.lr_d"]
    rows = {float(r["optim.lr_d"]): r for r in out["rows"]}
    assert rows[1e9]["failed"] == 2 and rows[1e9]["w1/exact mean"] is None
    finals = []  # summary.json's final values (float64), which the events hold as float32
    for job in sorted(root.iterdir()):
        if job.is_dir() and "optim.lr_d=0.0001" in (job / ".hydra" / "overrides.yaml").read_text():
            finals.append(json.loads((job / "summary.json").read_text())["final"]["w1/exact"])
            assert scalars(job)["w1/exact"][-1][1] == pytest.approx(finals[-1], rel=1e-6)
    assert rows[1e-4]["runs"] == 2 and rows[1e-4]["failed"] == 0
    reached = [json.loads((job / "summary.json").read_text())["time_to_quality"] for job in sorted(root.iterdir())
               if job.is_dir() and "optim.lr_d=0.0001" in (job / ".hydra" / "overrides.yaml").read_text()]
    steps = [q["step"] for q in reached if q["step"] is not None]
    assert rows[1e-4]["reached bar"] == f"{len(steps)}/2" and rows[1e9]["reached bar"] == "0/2"
    assert rows[1e-4]["steps to bar"] == (pytest.approx(np.mean(steps)) if steps else None)
    precision = [json.loads((job / "summary.json").read_text())["final"]["prdc/precision"]
                 for job in sorted(root.iterdir())
                 if job.is_dir() and "optim.lr_d=0.0001" in (job / ".hydra" / "overrides.yaml").read_text()]
    assert rows[1e-4]["prdc/precision mean"] == pytest.approx(np.mean(precision), rel=1e-9)
    assert rows[1e9]["prdc/precision mean"] is None  # the diverged jobs have no final values
    assert "critic~w1/exact spearman mean" not in rows[1e-4]  # two evaluations a run: no rank correlation
    assert out["quality_bar"] == "w1/exact <= 2 x w1/noise_floor"
    assert rows[1e-4]["w1/exact mean"] == pytest.approx(np.mean(finals), rel=1e-6)
    assert rows[1e-4]["w1/exact std"] == pytest.approx(np.std(finals, ddof=1), rel=1e-6)
    assert (tmp_path / "r.png").stat().st_size > 5000
    shown = run_cli("report", str(root), "--out", str(tmp_path / "m.png"))
    markdown = shown.stdout.splitlines()
    assert markdown[0] == "| rank | group | runs | w1/exact | floor | best | reached bar | steps to bar |"
    assert max(len(line) for line in markdown) <= 100  # fits a terminal
    first = {float(line.split("optim.lr_d=")[1].split(" ")[0]): line for line in markdown[2:]}
    assert f"{rows[1e-4]['w1/exact mean']:.4g} ± {rows[1e-4]['w1/exact std']:.2g}" in first[1e-4]
    assert "| 2 (2 failed) |" in first[1e9]
    if not steps:  # no run reached the bar: said plainly, and no winner named without it
        assert "no group reached the quality bar (w1/exact <= 2 x w1/noise_floor)" in shown.stderr
    wide = run_cli("report", str(root), "--wide", "--out", str(tmp_path / "w.png")).stdout.splitlines()
    assert wide[0].startswith("| rank | optim.lr_d | runs | failed | killed | w1/exact mean | w1/exact std | "
                              "w1/noise_floor mean | w1/exact best mean |")
    csv_lines = run_cli("report", str(root), "--format", "csv", "--out", str(tmp_path / "c.png")).stdout.splitlines()
    assert csv_lines[0] == ("rank,optim.lr_d,runs,failed,killed,w1/exact mean,w1/exact std,w1/noise_floor mean,"
                            "w1/exact best mean,prdc/precision mean,"
                            "prdc/recall mean,prdc/density mean,prdc/coverage mean,toy/modes mean,"
                            "toy/high_quality mean,reached bar,steps to bar,seconds to bar") and len(csv_lines) == 3
    assert out["jobs"] == out["expected_jobs"] == 4 and out["warnings"] == []


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "nowhere", "no such folder"),
    (lambda d: d, "not a sweep dir"),
])
def test_report_bad_input_is_one_line(tmp_path, make, message):
    result = run_cli("report", str(make(tmp_path)))
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr


def test_report_without_finished_runs_is_one_line(tmp_path):
    (tmp_path / "0" / ".hydra").mkdir(parents=True)
    (tmp_path / "0" / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 1 and "no finished runs" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, body: dict | None = None):  # noqa: ANN201
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_a_real_tensorboard_serves_the_scalars_and_the_hparams_sessions(sweep):
    root, _ = sweep
    port = free_port()
    tensorboard = Path(sys.executable).with_name("tensorboard")
    server = subprocess.Popen([str(tensorboard), "--logdir", str(root), "--host", "127.0.0.1", "--port", str(port),
                               "--reload_interval", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                tags = fetch(f"{base}/data/plugin/scalars/tags")
                if sum("w1/exact" in t for t in tags.values()) >= 2:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "TensorBoard did not come up"
            time.sleep(1)
        completed = [run for run, t in tags.items() if "w1/exact" in t]
        assert len(completed) == 2 and all(run.endswith("/tb") for run in completed)
        experiment = fetch(f"{base}/data/plugin/hparams/experiment", {"experimentName": ""})
        names = [h["name"] for h in experiment["hparamInfos"]]
        assert {"critic.name", "optim.lr_d", "seed", "n_critic"} <= set(names)
        # the swept columns first, marked as differing (TensorBoard checks its first five)
        assert names[:2] == ["optim.lr_d", "seed"] and [h.get("differs", False) for h in experiment["hparamInfos"]][:3] == [True, True, False]
        assert "w1/exact" in {m["name"]["tag"] for m in experiment["metricInfos"]}
        groups = fetch(f"{base}/data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                                      "STATUS_RUNNING"],
            "colParams": [], "startIndex": 0, "sliceSize": 100,
        })
        # the custom-scalars page opens on the sweep's comparison: one line per job (its tb/ run), none per sub-run
        layout = fetch(f"{base}/data/plugin/custom_scalars/layout")
        assert layout["category"][0]["title"] == "Compare the sweep's jobs"
        compare = layout["category"][0]["chart"][0]
        assert compare["title"].startswith("w1/exact, one line per job") and compare["multiline"]["tag"] == ["^w1/exact$"]
        for run in sorted(tags):
            query = urllib.parse.urlencode({"run": run, "tag": "^w1/exact$"})
            drawn = set(fetch(f"{base}/data/plugin/custom_scalars/scalars?{query}")["tag_to_events"])
            assert drawn == ({"w1/exact"} if run in completed else set()), run
        # the bracket chart (critic estimate vs exact vs noise floor) draws every sub-run of the sweep
        chart = [c for cat in layout["category"] for c in cat["chart"] if c["multiline"]["tag"] == ["^w1/bracket$"]][0]
        for run in completed:  # each series a sub-run of the job's tb/: its own colour, named in the legend
            for series in ("critic", "exact", "noise_floor"):
                drawn = set()
                for regex in chart["multiline"]["tag"]:
                    query = urllib.parse.urlencode({"run": f"{run}/{series}", "tag": regex})
                    drawn |= set(fetch(f"{base}/data/plugin/custom_scalars/scalars?{query}")["tag_to_events"])
                assert drawn == {"w1/bracket"}, (run, series)
        sessions = [g["hparams"] for g in groups["sessionGroups"]]
        assert len(sessions) == 4
        # each row is named by its run's overrides, not a hash
        jobs = [OmegaConf.load(p) for p in root.glob("*/.hydra/overrides.yaml")]
        swept = [" ".join(o for o in job if o.startswith(("optim.lr_d=", "seed="))) for job in jobs]
        assert sorted(g["name"] for g in groups["sessionGroups"]) == sorted(swept)  # only what differs: names fit
        assert all(g["name"].startswith("optim.lr_d=") and " seed=" in g["name"] for g in groups["sessionGroups"])
        assert "gap/critic" not in {m["name"]["tag"] for m in experiment["metricInfos"]}  # never logged: no empty column
        # integers as their digits (HParams has no integer type), reals as numbers
        assert sorted((s["optim.lr_d"], s["seed"]) for s in sessions) == [(1e-4, "0"), (1e-4, "1"), (1e9, "0"), (1e9, "1")]
        infos = {h["name"]: h for h in experiment["hparamInfos"]}
        assert {"clip", "gp", "sn", "orthonormal"} <= set(infos["critic.name"]["domainDiscrete"])
        # the option named on the command line, which critic.name and optim.name do not say
        assert all(s["critic option"] == "gp" and s["optim recipe"] == "wgan_gp" for s in sessions)
        assert infos["batch_size"].get("type") != "DATA_TYPE_FLOAT64" and all(s["batch_size"] == "32" for s in sessions)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_report_names_the_keys_a_critic_sweep_also_changes(tmp_path):
    """critic=clip,sn compares two recipes as well as two strategies; the report says which keys."""
    tiny = ["steps=2", "eval.every=0", "eval.n=50", "model.width=16", "batch_size=16", "log_every=1"]
    result = run_cli("train", "-m", *tiny, "critic=clip,sn", f"hydra.sweep.dir={tmp_path / 'a'}")
    assert result.returncode == 0, result.stderr
    report = run_cli("report", str(tmp_path / "a"), "--format", "json", "--out", str(tmp_path / "a.png"))
    out = json.loads(report.stdout)
    differ = out["also_differ"]
    assert differ["n_critic"] == ["5", "1"] and differ["optim.name"] == ["rmsprop", "adam"]
    # ranked by the metric (lower W1 first), the floor beside it, the winner named
    means = [r["w1/exact mean"] for r in out["rows"]]
    assert [r["rank"] for r in out["rows"]] == [1, 2] and means == sorted(means)
    assert all(r["w1/noise_floor mean"] > 0 for r in out["rows"])
    assert out["winner"]["group"] == f"critic={out['rows'][0]['critic']}" and out["winner"]["clear"] is None
    assert not any(k.startswith("critic.") for k in differ)
    shown = run_cli("report", str(tmp_path / "a"), "--out", str(tmp_path / "b.png"))
    assert "also differ in: " in shown.stderr and "n_critic (5 | 1)" in shown.stderr
    assert f"no winner named: critic={out['rows'][0]['critic']} " in shown.stderr  # one run per group
    assert "one run per group: no seeds' spread to compare it with" in shown.stderr
    (tmp_path / "b.png").write_bytes(b"the user's notes")  # an existing --out is the user's: kept
    again = run_cli("report", str(tmp_path / "a"), "--out", str(tmp_path / "b.png"))
    assert again.returncode == 1 and again.stderr.endswith("b.png: exists; give --force to replace it\n"), again.stderr
    assert (tmp_path / "b.png").read_bytes() == b"the user's notes"
    forced = run_cli("report", str(tmp_path / "a"), "--out", str(tmp_path / "b.png"), "--force")
    assert forced.returncode == 0 and (tmp_path / "b.png").read_bytes().startswith(b"\x89PNG")
    same = run_cli("train", "-m", *tiny, "critic=clip,sn", "optim=wgan_gp", f"hydra.sweep.dir={tmp_path / 'c'}")
    assert same.returncode == 0, same.stderr
    report = run_cli("report", str(tmp_path / "c"), "--format", "json", "--out", str(tmp_path / "c.png"))
    assert json.loads(report.stdout)["also_differ"] == {}


@pytest.mark.slow
def test_report_trusts_summaries_and_names_killed_missing_and_truncated_jobs(tmp_path):
    root = tmp_path / "sweep"
    result = run_cli("train", "-m", "steps=4", "eval.every=2", "eval.n=64", "model.width=16",
                     "fid.cache_dir='/tmp/データ','/tmp/b'", "seed=0,1,2", f"hydra.sweep.dir={root}")
    assert result.returncode == 0, result.stderr
    truth = {job: json.loads((job_dir(root, job) / "summary.json").read_text())["final"]["w1/exact"] for job in range(4)}
    (job_dir(root, 1) / "summary.json").unlink()  # killed before it could write one
    events = next((job_dir(root, 2) / "tb").glob("events.out.tfevents.*"))
    last_eval = scalars(job_dir(root, 2))["w1/exact"][-1]
    data = events.read_bytes()
    for cut in range(200, len(data), 200):  # the tail, down to the final evaluation, is lost
        events.write_bytes(data[: len(data) - cut])
        if scalars(job_dir(root, 2))["w1/exact"][-1] != last_eval:
            break
    assert scalars(job_dir(root, 2))["w1/exact"][-1][0] == 2
    shutil.rmtree(job_dir(root, 5))  # never started
    report = run_cli("report", str(root), "--format", "json", "--out", str(tmp_path / "r.png"))
    assert report.returncode == 0, report.stderr
    out = json.loads(report.stdout)
    assert out["jobs"] == 5 and out["expected_jobs"] == 6
    warnings = "\n".join(out["warnings"])
    assert f"job {job_dir(root, 2).name}: its events end at step 2" in warnings and "the table uses summary.json" in warnings
    assert "1 job(s) without a final result (killed, interrupted or running): 1" in warnings
    assert "1 of 6 jobs never started" in warnings
    rows = {r["fid.cache_dir"].strip("'"): r for r in out["rows"]}
    first = rows["/tmp/データ"]  # jobs 0, 1, 2 (seeds pooled): 1 killed, 2 from its summary
    assert first["runs"] == 3 and first["killed"] == 1
    assert first["w1/exact mean"] == pytest.approx(np.mean([truth[0], truth[2]]), rel=1e-6)
    assert rows["/tmp/b"]["runs"] == 2 and rows["/tmp/b"]["killed"] == 0  # jobs 3 and 4; 5 never started
    assert "Glyph" not in report.stderr and report.stderr.count("warning: ") == 3, report.stderr


def test_report_averages_each_groups_rank_correlation_between_critic_and_quality():
    from wgan_cli.sweep_results import mean_of, references

    jobs = [{"spearman": {"w1/exact": 0.9, "w1/probe": None}}, {"spearman": {"w1/exact": 0.7}}, {"spearman": {}}]
    assert references(jobs) == ["w1/exact"]
    assert mean_of(jobs, "w1/exact", "spearman") == pytest.approx(0.8) and mean_of(jobs[2:], "w1/exact", "spearman") is None


def test_report_names_a_winner_only_when_the_gap_exceeds_the_seeds_spread():
    from wgan_cli.commands.report import bar_line, winner_line
    from wgan_cli.sweep_results import higher_is_better, winner

    def group(name: str, finals: list[float]) -> dict:
        return {"critic": name, "w1/exact mean": float(np.mean(finals)), "_members": [{"final": f} for f in finals]}

    clear = winner([group("gp", [0.10, 0.12]), group("clip", [0.30, 0.31])], "w1/exact", ["critic"], False)
    assert clear["group"] == "critic=gp" and clear["next"] == "critic=clip"
    assert clear["gap"] == pytest.approx(0.195) and clear["spread"] == pytest.approx(0.02) and clear["clear"]
    line = winner_line({"metric": "w1/exact", "winner": clear})
    assert line.startswith("winner: critic=gp 0.11 vs critic=clip 0.305") and "larger than the seeds' spread (0.02)" in line
    missed = winner_line({"metric": "w1/exact", "winner": clear, "bar_missed": True})
    assert missed.startswith("winner (among runs that all missed the quality bar): critic=gp")
    assert bar_line({"bar_missed": True, "quality_bar": "w1/exact <= 2 x w1/noise_floor"}).startswith(
        "no group reached the quality bar (w1/exact <= 2 x w1/noise_floor)")
    assert bar_line({"bar_missed": False, "quality_bar": "w1/exact <= 2 x w1/noise_floor"}) is None
    close = winner([group("gp", [0.10, 0.30]), group("clip", [0.25, 0.26])], "w1/exact", ["critic"], False)
    assert close["clear"] is False
    line = winner_line({"metric": "w1/exact", "winner": close})
    assert line.startswith("no winner named: ") and line.endswith("within the seeds' spread (0.2): not a clear winner")
    single = winner([group("gp", [0.1]), group("clip", [0.3])], "w1/exact", ["critic"], False)
    line = winner_line({"metric": "w1/exact", "winner": single})
    assert single["clear"] is None and line.startswith("no winner named: ") and "one run per group" in line
    assert higher_is_better("prdc/coverage") and higher_is_better("toy/modes") and higher_is_better("fid/is1k")
    assert not higher_is_better("w1/exact") and not higher_is_better("fid/fid1k_train")


def group_members(pgid: int) -> list[int]:
    """Live processes of the process group ``pgid`` (zombies excluded), from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest.mark.slow
@pytest.mark.parametrize("to_group", [False, True], ids=["kill PID", "kill -PGID"])
def test_a_signalled_joblib_sweep_saves_every_job_leaves_no_process_and_resumes(tmp_path, to_group):
    """kill PID reaches the main process alone (its workers would train on, orphaned); scancel and
    docker stop signal the whole group (each worker must save once, not take it as a second signal)."""
    import os
    import signal

    from helpers import CLI

    args = ["train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", "steps=3000", "eval.every=0",
            "checkpoint.every=0", "model.width=32", "log_every=10", f"hydra.sweep.dir={tmp_path}"]
    process = subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 240
    while not all(re.search(r"step \d+/3000", (tmp_path / job / "train.log").read_text())
                  for job in ("0_seed=0", "1_seed=1") if (tmp_path / job / "train.log").is_file()) or len(list(tmp_path.glob("*/train.log"))) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "the jobs did not start training"
        time.sleep(0.2)
    (os.killpg if to_group else os.kill)(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 143, stderr[-2000:]
    assert "Traceback" not in stderr and "SIGTERM at step " in stderr.strip().splitlines()[-1]
    if not to_group:
        assert "wgan-cli: SIGTERM: asking the sweep's 2 running job(s) to save and stop" in stderr
    for job in ("0_seed=0", "1_seed=1"):
        summary = json.loads((tmp_path / job / "summary.json").read_text())
        saved = __import__("torch").load(tmp_path / job / "checkpoints" / "last.pt", weights_only=True)
        assert summary["status"] == "interrupted" and 0 < saved["step"] == summary["steps"] < 3000, job
    deadline = time.monotonic() + 10
    while group_members(process.pid):
        assert time.monotonic() < deadline, f"left behind: {group_members(process.pid)}"
        time.sleep(0.5)
    resumed = run_cli(*args)  # the same command continues both jobs
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for job in ("0_seed=0", "1_seed=1"):
        assert json.loads((tmp_path / job / "summary.json").read_text())["status"] == "completed"
        assert "resumed from" in (tmp_path / job / "train.log").read_text()


def test_a_sweep_marks_the_hparams_columns_it_varies():
    from wgan_cli.sweep import varies

    assert varies("seed", {"seed"}) and varies("critic.weight", {"critic"}) and varies("critic option", {"critic"})
    assert not varies("optim recipe", {"critic"}) and not varies("seed", {"critic"}) and not varies("seed", set())


@pytest.mark.slow
def test_a_sweep_dir_run_again_with_an_overlapping_list_trains_each_overrides_once(tmp_path):
    """A job is its overrides: seed=0,1 then seed=1,2 into one sweep dir leaves three job dirs,
    seed 1 resumed (not trained again), the report comparing this sweep's two and naming the third."""
    import torch

    tiny = ["steps=4", "eval.every=2", "eval.n=64", "model.width=16"]
    first = run_cli("train", "-m", *tiny, "seed=0,1", f"hydra.sweep.dir={tmp_path}")
    assert first.returncode == 0, first.stderr
    before = torch.load(tmp_path / "1_seed=1" / "checkpoints" / "last.pt", weights_only=True)
    again = run_cli("train", "-m", *tiny, "seed=1,2", f"hydra.sweep.dir={tmp_path}")
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["0_seed=0", "1_seed=1", "2_seed=2"]
    after = torch.load(tmp_path / "1_seed=1" / "checkpoints" / "last.pt", weights_only=True)
    assert after["step"] == 4 and all(torch.equal(before["generator"][k], v) for k, v in after["generator"].items())
    assert "the run is complete (step 4 of 4)" in (tmp_path / "1_seed=1" / "train.log").read_text()
    assert "0 of 2 jobs failed" in again.stderr + again.stdout  # this sweep's jobs, not the dir's three
    report = run_cli("report", str(tmp_path), "--format", "json")
    assert report.returncode == 0, report.stderr
    out = json.loads(report.stdout)
    assert out["jobs"] == 2 and out["expected_jobs"] == 2 and out["other_jobs"] == ["0_seed=0"]
    assert out["rows"][0]["runs"] == 2  # seeds 1 and 2, each once
    assert "left out of the comparison: 0_seed=0" in report.stderr


@pytest.mark.slow
def test_continue_runs_the_newest_sweep_again_with_more_seeds(tmp_path):
    """``wgan-cli continue`` finds the newest sweep under outputs/multirun and runs its command again
    with the overrides given replacing the recorded ones: finished jobs are kept, the new seed runs."""
    tiny = ["steps=4", "eval.every=2", "eval.n=64", "model.width=16"]
    nothing = run_cli("continue", cwd=tmp_path)
    assert nothing.returncode == 1 and nothing.stderr.strip().startswith("wgan-cli: error: no sweep under outputs/multirun")
    first = run_cli("train", "-m", *tiny, "seed=0,1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (sweep,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    assert f"wgan-cli continue {sweep.relative_to(tmp_path)}" in first.stderr + first.stdout
    again = run_cli("continue", "seed=0,1,2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[0] == ("wgan-cli train -m " + " ".join(tiny) + " seed=0,1,2 "
                                            f"hydra.sweep.dir={sweep.relative_to(tmp_path)}")
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0_seed=0", "1_seed=1", "2_seed=2"]
    for job in ("0_seed=0", "1_seed=1"):
        assert "the run is complete (step 4 of 4)" in (sweep / job / "train.log").read_text()
    assert json.loads((sweep / "2_seed=2" / "summary.json").read_text())["status"] == "completed"
