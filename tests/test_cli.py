"""The real CLI in a subprocess: runs, sweeps, Hydra flags, bad input, completion."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from helpers import FAST, bracket_series, event_accumulator, run_cli, scalars

EVAL_TAGS = ["w1/critic", "w1/exact", "w1/noise_floor"] + [
    f"lipschitz/grad_norm_{p}_{s}" for p in ("real", "fake", "interp") for s in ("mean", "max")
]


@pytest.fixture(scope="module")
def gp_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("gp") / "run"
    result = run_cli(
        "train", "critic=gp", "steps=6", "eval.every=3", "ema.decay=0.9", *FAST, f"hydra.run.dir={run_dir}"
    )
    assert result.returncode == 0, result.stderr
    return run_dir


def test_top_level_help_lists_the_subcommands(cli):
    result = run_cli("--help")
    assert result.returncode == 0
    assert "train" in result.stdout and "usage: wgan-cli" in result.stdout


def test_unknown_subcommand_is_one_line(cli):
    result = run_cli("trian")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "unknown command 'trian'" in result.stderr


@pytest.mark.slow
def test_a_run_writes_config_log_events_and_checkpoint(gp_run):
    assert (gp_run / ".hydra" / "config.yaml").exists()
    log = (gp_run / "train.log").read_text()
    assert log.count("done: 6 steps") == 1
    assert f"dashboard: tensorboard --logdir {gp_run}, then open http://localhost:6006/#custom_scalars&_smoothingWeight=0" in log
    assert (gp_run / "checkpoints" / "last.pt").exists()
    tags = scalars(gp_run)
    for tag in EVAL_TAGS:
        assert [step for step, _ in tags[tag]] == [3, 6], tag
    for tag in ("loss/critic", "loss/generator", "loss/penalty"):
        assert [step for step, _ in tags[tag]] == [1, 2, 3, 4, 5, 6], tag
        assert all(math.isfinite(v) for _, v in tags[tag])
    assert all(v > 0 for _, v in tags["w1/noise_floor"])
    # a property of the data and eval.n: one value for the run, the mean over 8 pairs of draws
    assert len({v for _, v in tags["w1/noise_floor"]}) == 1 and all(v > 0 for _, v in tags["w1/noise_floor_sd"])


def test_the_logged_metrics_are_reproduced_from_the_checkpoint(gp_run):
    """Rebuild the trainer from the saved config and weights: its evaluation equals the log."""
    from wgan_cli.training import Trainer

    cfg = OmegaConf.load(gp_run / ".hydra" / "config.yaml")
    trainer = Trainer(cfg, gp_run / "replay")
    state = torch.load(gp_run / "checkpoints" / "last.pt", weights_only=False)
    trainer.load_state_dict(state)
    assert state["step"] == 6
    recomputed = trainer.evaluate()
    logged = {tag: values[-1][1] for tag, values in scalars(gp_run).items()}
    for tag in EVAL_TAGS:
        assert recomputed[tag] == pytest.approx(logged[tag], rel=1e-5, abs=1e-7), tag


def test_the_critic_figure_and_the_custom_scalars_layout_are_written(gp_run):
    acc = event_accumulator(gp_run)
    images = acc.Images("w1/critic_field")  # in the W1 group of the dashboard
    assert [im.step for im in images] == [3, 6]
    assert images[0].width > 100 and images[0].height > 100
    from tensorboard.plugins.custom_scalar import layout_pb2

    raw = acc.PluginTagToContent("custom_scalars")
    assert raw, "no custom-scalars layout in the event file"
    layout = layout_pb2.Layout.FromString(acc.Tensors(next(iter(raw)))[0].tensor_proto.string_val[0])
    charts = [c for cat in layout.category for c in cat.chart]
    bracket, ratio = charts
    logged = acc.Tags()["scalars"]
    assert "w1/critic_scaled" in logged and "w1/critic_ratio" in logged  # tags the critic's regex must not draw
    drawn = {tag for regex in ratio.multiline.tag for tag in logged if re.search(regex, tag)}  # TensorBoard searches
    assert drawn == {"w1/critic_ratio"}
    assert not [tag for regex in bracket.multiline.tag for tag in logged if re.search(regex, tag)]
    # the bracket: each series in a sub-run of its own (TensorBoard colours by run), equal to its tag in tb/
    series = bracket_series(gp_run)
    assert set(series) == {"critic", "exact", "noise_floor"}
    assert all(re.search(regex, "w1/bracket") for regex in bracket.multiline.tag)
    by_tag = scalars(gp_run)
    for name in series:
        assert [(s, pytest.approx(v)) for s, v in by_tag[f"w1/{name}"]] == series[name], name
    assert "critic estimate (<= W1 where the critic is 1-Lipschitz) vs exact W1" in bracket.title and "3x noise floor" in ratio.title


def test_the_critic_ratio_is_logged_only_where_exact_w1_is_well_above_the_noise_floor(gp_run):
    logged = scalars(gp_run)
    by_step = {tag: dict(values) for tag, values in logged.items()}
    assert by_step["w1/critic_ratio"]  # the generator starts far from the data
    for step, exact in by_step["w1/exact"].items():
        if exact >= 3 * by_step["w1/noise_floor"][step]:
            assert by_step["w1/critic_ratio"][step] == pytest.approx(by_step["w1/critic"][step] / exact, rel=1e-5)
        else:
            assert step not in by_step["w1/critic_ratio"]


@pytest.mark.slow
def test_a_three_job_sweep_writes_three_run_dirs(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli("train", "-m", "critic=clip,gp,sn", "steps=2", *FAST, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    critics = {}
    for job in ("0_critic=clip", "1_critic=gp", "2_critic=sn"):  # named by what the jobs vary
        cfg = OmegaConf.load(sweep / job / ".hydra" / "config.yaml")
        critics[cfg.critic.name] = cfg
        assert list((sweep / job / "tb").glob("events.out.tfevents.*"))
        assert "w1/exact" in scalars(sweep / job)
    assert set(critics) == {"clip", "gp", "sn"}
    assert critics["sn"].n_critic == 1 and critics["clip"].optim.name == "rmsprop"


BAD_INPUTS = [
    (["critic=foo"], "critic=foo", "clip, gp, lp, orthonormal, sinkhorn, sn, sn_ttur"),
    (["optim.lr_d=abc"], "optim.lr_d", "abc"),
    (["n_critic=0"], "n_critic=0", ">= 1"),
    (["steps=-1"], "steps=-1", ">= 1"),
    (["batch_size=0"], "batch_size=0", ">= 1"),
    (["foo=1"], "foo", "foo"),
    (["critic.weight=1"], "critic.weight", "no such key"),
    (["stepz=3"], "stepz: no such key", "did you mean steps?"),
    (["+stepz=3"], "stepz: no such key", "did you mean steps?"),
    (["+optim.lrd=3"], "optim.lrd: no such key", "did you mean optim.lr_d?"),
    (["critic=gp", "+critic.wieght=3"], "critic.wieght: no such key", "did you mean critic.weight?"),
    (["data=mnist2"], "data=mnist2", "gaussians8"),
    (["optim=adamw"], "optim=adamw", "wgan_gp"),
    (["device=tpu"], "device=tpu", "cpu"),
    (["train.cuda_graph=maybe"], "train.cuda_graph", "not a valid bool"),
    (["train.amp=fp8"], "train.amp", "fp32, bf16"),
    (["data=image_folder", "data.path=/tmp", "data.workers=-1"], "data.workers=-1", "an integer >= 0"),
    (["data=image_folder", "data.path=/etc/hostname"], "data.path=/etc/hostname", "is a file; give the folder"),
    (["data=gaussians8", "data.scale=0"], "data.scale=0.0", "must be > 0"),
    (["model.depth=0"], "model.depth=0", "must be >= 1"),
]


@pytest.mark.parametrize("overrides, key, detail", BAD_INPUTS, ids=[b[0][0] for b in BAD_INPUTS])
@pytest.mark.slow
def test_bad_input_is_one_line_without_traceback(tmp_path, overrides, key, detail):
    result = run_cli("train", *overrides, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wgan-cli: error:") and key in lines[0] and detail in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA, so device=cuda is valid here")
@pytest.mark.slow
def test_cuda_without_cuda_is_one_line(tmp_path):
    result = run_cli("train", "device=cuda", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "device=cuda: no CUDA device is available" in result.stderr


def test_help_and_completion_are_the_tools_own_and_hide_the_schema_groups():
    app_help = run_cli("train", "--help")
    assert app_help.returncode == 0
    assert app_help.stdout.startswith("wgan-cli train: train a Wasserstein GAN")
    assert "powered by Hydra" not in app_help.stdout and "schema/" not in app_help.stdout
    assert "critic: clip, gp, lp, orthonormal, sinkhorn, sn, sn_ttur" in app_help.stdout
    assert "wgan-cli train critic=gp data=cifar10" in app_help.stdout  # an example
    completion = run_cli("-sc", "query=bash", env={"COMP_LINE": "wgan-cli train s"})
    assert completion.returncode == 0 and completion.stdout.split() == ["seed=", "steps="]
    groups = run_cli("-sc", "query=bash", env={"COMP_LINE": "wgan-cli train cr"})
    assert sorted(groups.stdout.split()) == ["critic.", "critic="]


def test_full_error_env_still_shows_the_traceback(tmp_path):
    result = run_cli("train", "n_critic=0", f"hydra.run.dir={tmp_path / 'run'}", env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.parametrize("override, line", [
    ("+stepz=3", "stepz: no such key; did you mean steps?"),
    ("steps=0", "steps=0: must be an integer >= 1"),
])
def test_printing_the_config_refuses_what_a_run_refuses(override, line):
    for flag in (["--cfg", "job"], ["--cfg", "all"], ["-c", "job"]):
        result = run_cli("train", override, *flag)
        assert result.returncode == 2 and result.stderr == f"wgan-cli: error: {line}\n" and not result.stdout, flag


@pytest.mark.slow
def test_hydra_flags_work_through_the_subcommand(tmp_path):
    cfg = run_cli("train", "--cfg", "job", "critic=gp")
    assert cfg.returncode == 0 and OmegaConf.create(cfg.stdout).critic.weight == 10.0
    info = run_cli("train", "--info", "searchpath")
    assert info.returncode == 0 and "pkg://wgan_cli.configs" in info.stdout
    app_help = run_cli("train", "--help")
    assert app_help.returncode == 0
    assert "critic: clip, gp, lp, orthonormal, sinkhorn, sn, sn_ttur" in app_help.stdout and "gaussians25" in app_help.stdout
    hydra_help = run_cli("train", "--hydra-help")
    assert 'eval "$(wgan-cli -sc install=bash)"' in hydra_help.stdout


@pytest.mark.slow
def test_shell_completion_completes_critic_options():
    result = run_cli("-sc", "query=bash", env={"COMP_LINE": "wgan-cli train critic=", "COMP_POINT": "22"})
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {"critic=clip", "critic=gp", "critic=lp", "critic=orthonormal", "critic=sinkhorn",
                                          "critic=sn", "critic=sn_ttur"}
    groups = run_cli("-sc", "query=bash", env={"COMP_LINE": "wgan-cli train da"})
    assert "data=" in groups.stdout.split()
    commands = run_cli("-sc", "query=bash", env={"COMP_LINE": "wgan-cli tr"})
    assert commands.stdout.split() == ["train"]
    install = run_cli("-sc", "install=bash")
    assert install.returncode == 0 and "complete -o nospace -o default -F hydra_bash_completion wgan-cli" in install.stdout
