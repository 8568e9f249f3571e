"""The command line's surface: help, version and completion, run with torch made unimportable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import run_cli

from wgan_cli.critic import STRATEGIES

# ``sys.modules["torch"] = None`` makes every ``import torch`` raise ImportError
NO_TORCH = "import sys; sys.modules['torch'] = None; from wgan_cli.cli import main; main()"
# the options of `w1 --critic`: every registered strategy with a critic network to fit
NETWORK_CRITICS = [name for name in STRATEGIES.names() if STRATEGIES.schema(name).has_network]


def without_torch(*args: str, comp_line: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    if comp_line is not None:
        env.update(COMP_LINE=comp_line, COMP_POINT=str(len(comp_line)))
    return subprocess.run([sys.executable, "-c", NO_TORCH, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_train_help_cfg_and_info_need_no_torch(tmp_path):
    app_help = without_torch("train", "--help")
    assert app_help.returncode == 0, app_help.stderr
    assert "critic: clip, gp, lp, orthonormal, sinkhorn, sn, sn_ttur" in app_help.stdout
    cfg = without_torch("train", "--cfg", "job", "critic=gp", "data=cifar10")
    assert cfg.returncode == 0, cfg.stderr
    assert "weight: 10.0" in cfg.stdout and "name: cifar10" in cfg.stdout
    info = without_torch("train", "--info", "searchpath")
    assert info.returncode == 0 and "pkg://wgan_cli.configs" in info.stdout, info.stderr
    typo = without_torch("train", "+stepz=3", f"hydra.run.dir={tmp_path / 'typo'}")
    assert typo.returncode != 0 and typo.stderr.strip() == "wgan-cli: error: stepz: no such key; did you mean steps?"


@pytest.mark.parametrize("command", ["fid", "w1", "sample", "report", "continue"])
def test_subcommand_help_needs_no_torch(command):
    result = without_torch(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: wgan-cli {command}")


@pytest.mark.parametrize("line, expected", [
    ("wgan-cli train critic=s", ["critic=sinkhorn", "critic=sn", "critic=sn_ttur"]),
    ("wgan-cli fid --n", ["--num-samples"]),
    ("wgan-cli fid cifar", ["cifar10", "cifar10:train", "cifar10:test"]),
    ("wgan-cli fid outputs/run dig", ["digits", "digits:train"]),
    ("wgan-cli fid a --save-stats ", []),  # a path: left to bash
    ("wgan-cli w1 a.npy b.npy --method ", ["exact", "lp", "sinkhorn", "sliced", "critic", "probe", "all"]),
    ("wgan-cli w1 a.npy b.npy --critic ", NETWORK_CRITICS),
    ("wgan-cli w1 a.npy b.npy --j", ["--json"]),
    ("wgan-cli sample run --", ["--batch", "--device", "--force", "--help", "--num-samples", "--out", "--seed", "--threads"]),
    ("wgan-cli fid a b --threads=a", ["--threads=auto"]),
    ("wgan-cli sample run --device c", ["cpu", "cuda"]),
    ("wgan-cli report sweeps/x --format=c", ["--format=csv"]),
    ("wgan-cli report sweeps/x --m", ["--metric"]),
    ("wgan-cli re", ["report"]),
    ("wgan-cli co", ["continue"]),
    ("wgan-cli continue --", ["--help"]),
])
def test_completion_completes_each_subcommands_own_flags_without_torch(line, expected):
    result = without_torch("-sc", "query=bash", comp_line=line)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


def test_version_help_and_a_missing_command():
    for args in (["-V"], ["--version"], ["train", "--version"], ["fid", "-V"]):
        result = run_cli(*args)
        assert result.returncode == 0 and result.stdout.startswith("wgan-cli 0."), (args, result.stdout)
        assert "Hydra" in result.stdout
    fid_help = run_cli("help", "fid")
    assert fid_help.returncode == 0 and fid_help.stdout.startswith("usage: wgan-cli fid")
    bare = run_cli()
    assert bare.returncode == 2 and bare.stdout == ""
    assert bare.stderr.startswith("usage: wgan-cli") and bare.stderr.rstrip().endswith("give a command")


def test_sample_and_fid_spell_the_sample_count_alike():
    for command in ("sample", "fid"):
        result = without_torch(command, "--help")
        assert "--num-samples N, -n N" in result.stdout, result.stdout


@pytest.mark.parametrize("args, flag", [
    (["sample", "runs/x", "--out", "/proc/wgan-cli-test.png"], "--out /proc/wgan-cli-test.png"),
    (["sample", "runs/x", "--out", "/proc/wgan-cli-test/pngs"], "--out /proc/wgan-cli-test/pngs"),
    (["fid", "digits", "--save-stats", "/proc/wgan-cli-test.npz"], "--save-stats /proc/wgan-cli-test.npz"),
    (["report", "sweeps/x", "--out", "/proc/wgan-cli-test.png"], "--out /proc/wgan-cli-test.png"),
])
def test_an_unwritable_output_is_refused_before_the_work(args, flag):
    """/proc takes no new files, even from root: the refusal comes before any checkpoint, network or
    event file is read (the sources named here do not even exist)."""
    result = without_torch(*args)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"wgan-cli: error: {flag}: cannot write in /proc"), result.stderr


def test_an_output_in_a_missing_folder_or_onto_a_folder_is_refused(tmp_path):
    missing = without_torch("sample", "runs/x", "--out", str(tmp_path / "nowhere" / "grid.png"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    onto = without_torch("fid", "digits", "--save-stats", str(tmp_path))
    assert onto.returncode == 1 and "is a folder; give a file name" in onto.stderr, onto.stderr


def test_the_dashboard_pictures_are_readable_on_a_card():
    import torch

    from wgan_cli.plots import critic_field, sample_grid

    digits = torch.rand(64, 1, 16, 16) * 2 - 1
    grid = sample_grid(digits)
    assert grid.shape[-1] == 4 * 146 and grid.shape[-1] >= 512  # 146 px upscaled 4x, pixels kept square
    small = grid[:, ::4, ::4]
    assert torch.equal(grid[:, 1::4, 2::4], small)  # nearest neighbour: each pixel a 4 x 4 square
    big = sample_grid(torch.zeros(64, 3, 64, 64))
    assert big.shape[-1] == 8 * 66 + 2  # already large: unchanged
    critic = torch.nn.Linear(2, 1)
    fig = critic_field(lambda x: critic(x).squeeze(1), torch.randn(50, 2), torch.randn(50, 2), "step 5")
    ax = fig.axes[0]
    fake, real = ax.collections[-2], ax.collections[-1]
    assert real.get_zorder() > fake.get_zorder()  # real points drawn on top of the generated ones
    assert tuple(real.get_facecolor()[0][:3]) != tuple(fake.get_facecolor()[0][:3])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["generated", "real"]
    assert ax.title.get_fontsize() >= 12


def test_histograms_show_the_weights_the_critic_uses(make_trainer):
    import torch

    from wgan_cli.training.evaluation import effective_weights

    trainer = make_trainer("critic=sn", "steps=1", "eval.every=0")
    trainer.nets.D.eval()
    found = dict(effective_weights(trainer.nets.D))
    assert "net.0.weight" in found and not any("parametrizations" in name for name in found)
    sigma = torch.linalg.matrix_norm(found["net.0.weight"], ord=2)
    assert sigma == pytest.approx(1.0, abs=0.15)  # W / sigma(W), one power iteration's estimate
    raw = trainer.nets.D.net[0].parametrizations.weight.original
    assert torch.linalg.matrix_norm(raw, ord=2) > 1.5 * sigma


def test_the_progress_bar_moves_every_step_and_says_what_runs(monkeypatch):
    import io

    from wgan_cli.tracking import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    progress = Progress(total=300)
    for step in range(1, 8):
        progress.tick(step)
        assert progress.bar.n == step
    progress.update(50, {"critic W1~": 0.0123})
    with progress.doing("evaluating"):
        assert progress.bar.desc == "evaluating"
        progress.evaluated(50, {"exact": 0.0838, "floor": 0.0685})
    assert progress.bar.desc == ""
    progress.update(100, {"critic W1~": 0.0201})
    progress.tick(101)
    progress.bar.refresh()
    progress.close()
    assert "critic W1~=0.0123 (step 50)" in screen.getvalue() and "evaluating" in screen.getvalue()
    assert "critic W1~=0.0201 (step 100); exact=0.0838 floor=0.0685 (evaluated at 50)" in screen.getvalue()
