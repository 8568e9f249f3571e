"""Value checks before a run starts (validation.py): non-finite and negative values, tiny data sets."""

from __future__ import annotations


import pytest

from helpers import compose_config


@pytest.mark.parametrize("override, message", [
    ("optim.lr_d=inf", "optim.lr_d=inf: must be a finite number > 0"),
    ("optim.lr_g=nan", "optim.lr_g=nan: must be a finite number > 0"),
    ("optim.lr_d=-1e-4", "optim.lr_d=-0.0001: must be a finite number > 0"),
])
def test_an_infinite_or_nan_learning_rate_is_refused(override, message):
    from wgan_cli.validation import validate
    from wgan_cli.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        validate(compose_config(override))
    assert str(caught.value) == message


def test_a_negative_memory_cap_is_refused_as_every_other_negative_size(make_trainer):
    from wgan_cli.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        make_trainer("data=digits", "fid.every=0", "data.max_memory_mb=-1")
    assert str(caught.value) == "data.max_memory_mb=-1: must be an integer >= 0 (0: an image folder always streams)"
