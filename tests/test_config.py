"""Config composition through Hydra's compose API: presets, precedence, typed schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from wgan_cli.errors import ConfigError
from wgan_cli.validation import validate

import wgan_cli.configs
from helpers import compose_config


@pytest.mark.parametrize(
    "critic, optimizer, lr, betas, n_critic",
    [
        ("clip", "rmsprop", 5e-5, None, 5),
        ("gp", "adam", 1e-4, [0.5, 0.9], 5),
        ("sn", "adam", 2e-4, [0.5, 0.999], 1),
        ("sn_ttur", "adam", (3e-4, 1.2e-3), [0.0, 0.9], 1),
    ],
)
def test_each_critic_preset_sets_its_papers_recipe(critic, optimizer, lr, betas, n_critic):
    cfg = compose_config(f"critic={critic}")
    assert cfg.critic.name == critic.removesuffix("_ttur")  # sn_ttur is a preset of the sn strategy
    assert cfg.optim.name.value == optimizer
    lr_g, lr_d = lr if isinstance(lr, tuple) else (lr, lr)
    assert cfg.optim.lr_g == lr_g and cfg.optim.lr_d == lr_d
    if betas is not None:
        assert list(cfg.optim.betas) == betas
    assert cfg.n_critic == n_critic
    assert cfg.optim.decay.value == ("linear" if critic == "sn_ttur" else "none")


def test_preset_values_for_clip_and_gp():
    assert compose_config("critic=clip").critic.c == 0.01
    assert compose_config("critic=gp").critic.weight == 10.0


def test_command_line_overrides_beat_the_preset():
    cfg = compose_config("critic=clip", "n_critic=1", "optim.lr_d=1e-3", "critic.c=0.1")
    assert (cfg.n_critic, cfg.optim.lr_d, cfg.critic.c) == (1, 1e-3, 0.1)


def test_toy_data_presets_have_the_paper_scales():
    assert (compose_config("data=gaussians8").data.std, compose_config("data=gaussians8").data.scale) == (0.02, 1.414)
    assert (compose_config("data=gaussians25").data.std, compose_config("data=gaussians25").data.scale) == (0.05, 2.828)
    assert (compose_config("data=swissroll").data.std, compose_config("data=swissroll").data.scale) == (0.25, 7.5)


def test_group_nodes_are_typed_by_their_schema():
    cfg = compose_config()
    assert OmegaConf.get_type(cfg.model).__name__ == "MLPConfig"
    assert OmegaConf.get_type(cfg.data).__name__ == "ToyConfig"
    assert OmegaConf.get_type(compose_config("critic=gp").critic).__name__ == "GPConfig"


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lr_d=abc", "could not be converted to Float"),
        ("critic=gp critic.weight=abc", "could not be converted to Float"),
        ("critic=gp critic.c=0.1", "Key 'c' not in 'GPConfig'"),
        ("n_critic=two", "could not be converted to Integer"),
        ("optim.name=sgd", "adam"),
        ("nonsense=1", "nonsense"),
        ("train.on_nan=ignore", "stop"),
        ("deterministic=maybe", "not a valid bool"),
    ],
)
def test_wrong_types_and_unknown_keys_fail_at_composition(override, message):
    with pytest.raises(ConfigCompositionException) as info:
        compose_config(*override.split())
    text = f"{info.value} {info.value.__cause__}"
    assert message in text


@pytest.mark.parametrize(
    "override, key", [("n_critic=0", "n_critic=0"), ("steps=-1", "steps=-1"), ("batch_size=0", "batch_size=0"),
                      ("eval.n=1", "eval.n=1"), ("optim.betas=[0.5]", "optim.betas=[0.5]"),
                      ("eval.projections=0", "eval.projections=0"), ("checkpoint.every=-1", "checkpoint.every=-1"),
                      ("checkpoint.keep=-2", "checkpoint.keep=-2"), ("fid.every=-1", "fid.every=-1"),
                      ("fid.num_samples=-5", "fid.num_samples=-5"), ("fid.reference_n=1", "fid.reference_n=1"),
                      ("fid.batch=0", "fid.batch=0"), ("resume=''", "resume=''")]
)
def test_out_of_range_values_name_the_key(override, key):
    cfg = compose_config(override)
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert str(info.value).startswith(key)


def test_defaults_validate():
    validate(compose_config())


def test_critic_chooses_the_strategy_and_optim_the_recipe():
    """With optim= given, a sweep over critics changes nothing but the Lipschitz strategy."""
    runs = [compose_config(f"critic={c}", "optim=wgan_gp") for c in ("clip", "gp", "lp", "sn", "sn_ttur")]
    recipes = {(r.optim.name.value, r.optim.lr_g, r.optim.lr_d, tuple(r.optim.betas), r.optim.decay.value, r.n_critic)
               for r in runs}
    assert recipes == {("adam", 1e-4, 1e-4, (0.5, 0.9), "none", 5)}
    assert [r.critic.name for r in runs] == ["clip", "gp", "lp", "sn", "sn"]
    assert compose_config("critic=sn", "optim=ttur").optim == compose_config("critic=sn_ttur").optim


@pytest.mark.parametrize("recipe, critic", [("wgan_clip", "clip"), ("wgan_gp", "gp"), ("wgan_gp", "lp"),
                                            ("sngan", "sn"), ("ttur", "sn_ttur")])
def test_each_critic_defaults_to_its_papers_recipe(recipe, critic):
    chosen, by_name = compose_config(f"critic={critic}"), compose_config(f"critic={critic}", f"optim={recipe}")
    assert chosen.optim == by_name.optim and chosen.n_critic == by_name.n_critic


def test_critic_options_hold_only_the_critic_node():
    """A critic yaml sets the strategy's keys; the optimizer recipe lives in configs/optim/."""
    from pathlib import Path

    for path in sorted((Path(wgan_cli.configs.__file__).parent / "critic").glob("*.yaml")):
        raw = OmegaConf.load(path)
        assert set(raw) - {"defaults"} <= {"name", "c", "weight", "power_iterations"}, path.name


GROUPS = ("data", "model", "critic", "loss")


def option_files():
    from pathlib import Path

    root = Path(wgan_cli.configs.__file__).parent
    return [(group, path) for group in GROUPS for path in sorted((root / group).glob("*.yaml"))]


@pytest.mark.parametrize("group, path", option_files(), ids=lambda v: getattr(v, "stem", v))
def test_an_option_yaml_only_selects_and_its_node_is_the_dataclass_default(group, path):
    """One source per default: the schema dataclass. A value written in an option's yaml (which
    could disagree with the dataclass) fails here; image data's top-level choices are presets."""
    from hydra.core.config_store import ConfigStore

    raw = OmegaConf.load(path)
    assert group not in raw and not (set(raw) - {"defaults", "batch_size", "steps", "eval", "fid", "probe"}), path.name
    if "_global_" not in path.read_text().split("\n", 1)[0]:
        assert set(raw) == {"defaults"}, path.name
    composed = compose_config(f"{group}={path.stem}")[group]
    entries = OmegaConf.to_container(raw.defaults)
    schema_name = next(v for d in entries if isinstance(d, dict) for k, v in d.items() if "schema" in k)
    schema = ConfigStore.instance().repo["schema"][group][f"{schema_name}.yaml"].node
    assert composed == schema and composed.name == schema_name


def test_top_level_defaults_are_the_dataclass_defaults():
    from wgan_cli.config import Config

    cfg, defaults = compose_config(), OmegaConf.structured(Config)
    for key in ("steps", "batch_size", "batch_size_g", "seed", "log_every", "eval", "ema", "fid", "checkpoint",
                "train", "resume", "deterministic"):
        assert cfg[key] == defaults[key], key
    # the recipe is the default critic's choice, not a default of its own
    assert (cfg.n_critic, cfg.optim.lr_d) == (1, 1.2e-3)


def test_the_device_options_are_the_configs_device_files():
    from wgan_cli.config import DEVICES

    folder = Path(__file__).parents[1] / "configs" / "device"
    assert sorted(p.stem for p in folder.glob("*.yaml")) == sorted(DEVICES)
