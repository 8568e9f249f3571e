"""The CPU thread policy (wgan_cli/threads.py)."""

from __future__ import annotations


import pytest
import torch
from helpers import FAST, compose_config, run_cli

from wgan_cli import threads
from wgan_cli.errors import ConfigError
from wgan_cli.threads import choose_threads, resolve


@pytest.mark.parametrize("cores", [1, 2, 4, 16])
def test_auto_runs_small_work_on_one_thread_and_large_work_on_every_core(cores):
    assert choose_threads(threads.SMALL, cores) == choose_threads(0.9e9, cores) == 1
    assert choose_threads(threads.LARGE, cores) == choose_threads(1.1e9, cores) == cores


@pytest.mark.parametrize("overrides, threads_on_2_cores", [
    ([], 1),  # the default demo: MLP 256 x 3 on 2-D points, batch 128 (0.07 GFLOP a batch forward)
    (["data=digits"], 1),  # the quarter-width CNN on 16 x 16 digits, batch 64 (0.4 GFLOP)
    (["data=digits", "model.channels=64"], 2),  # the full width (6.7 GFLOP)
    (["data=cifar10"], 2),  # the papers' CNN on 32 x 32 images (27 GFLOP)
])
def test_the_size_of_a_runs_forward_passes_chooses(tmp_path, overrides, threads_on_2_cores, monkeypatch):
    from wgan_cli.training import Trainer

    for name in threads.ENV_KEYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    cfg = compose_config(*overrides, "fid.every=0", "resume=never")
    if "data=cifar10" in overrides:  # no CIFAR-10 files here: the same shapes from an image folder
        from PIL import Image

        (tmp_path / "img").mkdir()
        for i in range(4):
            Image.new("RGB", (32, 32), (i, 0, 0)).save(tmp_path / "img" / f"{i}.png")
        cfg = compose_config(*overrides, "data=image_folder", f"data.path={tmp_path / 'img'}", "fid.every=0",
                             "resume=never")
    assert Trainer(cfg, tmp_path / "run").threads == threads_on_2_cores
    assert torch.get_num_threads() == threads_on_2_cores


def test_counting_flops_leaves_the_net_as_it_was():
    from torch import nn

    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert threads.forward_flops(net, torch.ones(1, 3), batch=10) == 10 * 2 * 3 * 4
    assert net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_an_explicit_count_wins_over_the_environment_which_wins_over_auto():
    env = {"OMP_NUM_THREADS": "3"}
    assert resolve("5", threads.SMALL, env=env, n_cores=2) == (5, "train.threads=5")
    assert resolve("auto", threads.SMALL, env=env, n_cores=2) == (3, "OMP_NUM_THREADS=3")
    assert resolve("auto", threads.LARGE, env={"MKL_NUM_THREADS": "1"}, n_cores=8) == (1, "MKL_NUM_THREADS=1")
    assert resolve("auto", 2e9, env={}, n_cores=8) == (8, "auto: 2 GFLOP a batch forward on 8 cores")
    assert resolve("auto", threads.SMALL, env={"OMP_NUM_THREADS": ""}, n_cores=8)[0] == 1


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5", ""])
def test_a_bad_thread_count_is_one_line(bad):
    with pytest.raises(ConfigError, match=r"^train\.threads=.*: choose auto or a whole number of threads >= 1$"):
        threads.parse_setting(bad)


def test_a_trainer_sets_the_policy_and_an_explicit_count(monkeypatch, make_trainer):

    for name in threads.ENV_KEYS:
        monkeypatch.delenv(name, raising=False)
    torch.set_num_threads(2)
    make_trainer(*FAST, "resume=never", run_dir="auto")
    assert torch.get_num_threads() == 1  # the toy MLP: one thread
    make_trainer(*FAST, "resume=never", "train.threads=3", run_dir="three")
    assert torch.get_num_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    make_trainer(*FAST, "resume=never", run_dir="env")
    assert torch.get_num_threads() == 2


def test_thread_count_changes_the_bits_so_a_run_keeps_one(make_trainer):
    """Why the policy is a function of the work and the cores, never of the machine's load: the
    same steps on 1 and on 2 threads end in different weights."""

    weights = []
    for n in (1, 2):
        t = make_trainer("resume=never", f"train.threads={n}", run_dir=str(n))
        for _ in range(30):
            t.train_step()
        weights.append(torch.cat([p.detach().flatten() for p in t.nets.G.parameters()]))
    assert not torch.equal(*weights)


def test_dataloader_workers_run_one_thread():
    from torch.utils.data import DataLoader, Dataset

    from wgan_cli.data.image_folder import init_worker

    class Threads(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> int:
            return torch.get_num_threads()

    torch.set_num_threads(2)
    seen = [int(v) for batch in DataLoader(Threads(), batch_size=1, num_workers=2, worker_init_fn=init_worker)
            for v in batch]
    assert seen == [1, 1, 1, 1]
    assert torch.get_num_threads() == 2  # the main process keeps its own


def test_the_cli_logs_its_choice_and_refuses_a_bad_one(tmp_path):
    run_dir = tmp_path / "run"
    ok = run_cli("train", *FAST, "steps=2", f"hydra.run.dir={run_dir}", env={"OMP_NUM_THREADS": "1"})
    assert ok.returncode == 0, ok.stderr
    assert "CPU threads: 1 (OMP_NUM_THREADS=1)" in (run_dir / "train.log").read_text()
    bad = run_cli("train", "train.threads=0", f"hydra.run.dir={tmp_path / 'bad'}")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "wgan-cli: error: train.threads=0: choose auto or a whole number of threads >= 1"]
    bad = run_cli("w1", "a.npy", "b.npy", "--threads", "none", cwd=tmp_path)
    assert bad.returncode != 0 and "--threads=none: choose auto or a whole number" in bad.stderr


def test_a_count_set_from_python_before_the_run_is_kept(monkeypatch, make_trainer):

    for name in threads.ENV_KEYS:
        monkeypatch.delenv(name, raising=False)
    default = threads.torch_default()
    assert default == torch_default_in_a_fresh_process()
    torch.set_num_threads(default + 5)
    make_trainer(*FAST, "resume=never", run_dir="kept")
    assert torch.get_num_threads() == default + 5
    assert threads.resolve("auto", threads.SMALL, env={}, current=default, default=default)[0] == 1


def torch_default_in_a_fresh_process() -> int:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in threads.ENV_KEYS}
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_fid_phases_use_every_core_in_an_auto_run_and_give_the_run_its_count_back(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 2)
    torch.set_num_threads(1)
    with threads.during(threads.LARGE, auto=True):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1
    with threads.during(threads.LARGE, auto=False):  # a count the user chose stays
        assert torch.get_num_threads() == 1
