"""The adversarial losses (loss/): hinge and non-saturating, term by term."""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from wgan_cli.loss import LOSSES

from helpers import compose_config


def test_hinge_and_nonsaturating_losses_follow_their_formulas():
    f_real, f_fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])
    hinge = LOSSES.build(compose_config("loss=hinge").loss)
    assert hinge.critic(f_real, f_fake).item() == pytest.approx((0 + 0.5 + 2) / 3 + (0 + 1 + 2.5) / 3)
    assert hinge.generator(f_fake).item() == pytest.approx(-(-2.0 + 0.0 + 1.5) / 3)
    ns = LOSSES.build(compose_config("loss=nonsaturating").loss)
    bce = F.binary_cross_entropy_with_logits
    assert ns.critic(f_real, f_fake).item() == pytest.approx(
        (bce(f_real, torch.ones(3)) + bce(f_fake, torch.zeros(3))).item(), rel=1e-6
    )
    assert ns.generator(f_fake).item() == pytest.approx(bce(f_fake, torch.ones(3)).item(), rel=1e-6)
    assert not hinge.is_wasserstein and not ns.is_wasserstein
