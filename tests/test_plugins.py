"""Extension without forking: the example plugin in examples/plugin (the WGAN-div penalty and an
energy-distance metric) is installed as a package and trains through the real CLI with
``critic=div +tasks=energy``, with no file of wgan_cli changed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import FAST, event_accumulator, run_cli

EXAMPLE = Path(__file__).parents[1] / "examples" / "plugin"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    """The example installed with pip into a folder of its own (put on PYTHONPATH for the CLI)."""
    source, target = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("site")
    shutil.copytree(EXAMPLE, source / "plugin")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source / "plugin")], check=True, capture_output=True)
    assert (target / "wgan_div" / "configs" / "critic" / "div.yaml").is_file()
    assert (target / "wgan_div" / "configs" / "tasks" / "energy.yaml").is_file()
    return target


@pytest.mark.slow
def test_the_plugins_critic_trains_from_outside_the_package(plugin_path, tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli("train", "critic=div", *FAST, "steps=3", "eval.every=3", "+tasks=energy", "tasks.energy.every=2",
                     "tasks.energy.n=64", f"hydra.run.dir={run_dir}", env={"PYTHONPATH": str(plugin_path)})
    assert result.returncode == 0, result.stderr
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "name: div" in config and "power: 6.0" in config and "lr_d: 0.0001" in config  # its yaml, its recipe
    acc = event_accumulator(run_dir)
    penalties = [e.value for e in acc.Scalars("loss/penalty")]
    assert len(penalties) == 3 and all(p > 0 for p in penalties)
    # its periodic metric: every 2 steps and at the last, in the events and in summary.json
    energy = {e.step: e.value for e in acc.Scalars("energy/distance")}
    assert list(energy) == [2, 3] and all(v > 0 for v in energy.values())
    assert json.loads((run_dir / "summary.json").read_text())["final"]["energy/distance"] == pytest.approx(energy[3])
    # a divergence, not a constrained W1 estimate: the strategy says so and the dashboard labels it
    assert "w1/critic_scaled" not in acc.Tags()["scalars"]
    from tensorboard.plugins.custom_scalar import layout_pb2

    raw = acc.PluginTagToContent("custom_scalars")
    layout = layout_pb2.Layout.FromString(acc.Tensors(next(iter(raw)))[0].tensor_proto.string_val[0])
    assert "not a W1 estimate" in layout.category[0].chart[0].title


@pytest.mark.slow
def test_the_plugin_is_listed_and_its_keys_are_typed(plugin_path):
    env = {"PYTHONPATH": str(plugin_path)}
    assert "div" in run_cli("train", "--help", env=env).stdout
    bad = run_cli("train", "critic=div", "critic.power=abc", "--cfg", "job", env=env)
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "critic.power" in bad.stderr
    assert "div" not in run_cli("train", "--help").stdout.split("critic:")[1].split("\n")[0]  # not without it


def test_a_plugin_that_fails_to_import_is_one_line(tmp_path):
    dist = tmp_path / "broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[wgan_cli.plugins]\nbroken = no_such_module_here\n")
    result = run_cli("train", "--cfg", "job", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "plugin broken = no_such_module_here: cannot import it" in result.stderr
