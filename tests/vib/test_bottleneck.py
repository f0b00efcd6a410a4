"""The Information Bottleneck layer: KL term, keep mask, train/eval/fixed-mask modes."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from har_vib.vib import InformationBottleneck


def _set(ib: InformationBottleneck, mu, logvar) -> None:
    with torch.no_grad():
        ib.mu.copy_(torch.as_tensor(mu, dtype=torch.float32))
        ib.logvar.copy_(torch.as_tensor(logvar, dtype=torch.float32))


def test_kl_equals_gaussian_kl_to_optimal_prior():
    ib = InformationBottleneck(5, kl_mult=1.0)
    mu = torch.tensor([1.0, -0.5, 0.1, 2.0, 0.0])
    logvar = torch.tensor([-2.0, 0.0, 1.0, -1.0, 0.5])
    _set(ib, mu, logvar)
    sigma = torch.exp(0.5 * logvar)
    prior = Normal(torch.zeros(5), torch.sqrt(mu**2 + sigma**2))
    expected = kl_divergence(Normal(mu, sigma), prior)  # per unit: 1/2 log(1 + mu^2 / sigma^2)
    assert torch.allclose(ib.kl(), expected.sum(), rtol=1e-5)
    assert torch.allclose(0.5 * torch.log1p(mu**2 / sigma**2), expected, rtol=1e-5, atol=1e-7)


def test_kl_mult_scales_and_gradients_flow():
    ib = InformationBottleneck(4, kl_mult=3.0)
    base = InformationBottleneck(4, kl_mult=1.0)
    base.load_state_dict(ib.state_dict())
    assert torch.allclose(ib.kl(), 3 * base.kl())
    ib.kl().backward()
    assert ib.mu.grad is not None and ib.mu.grad.abs().sum() > 0
    assert ib.logvar.grad is not None and (ib.logvar.grad < 0).all()  # more noise -> less information


def test_initialisation_matches_spec():
    ib = InformationBottleneck(20000)
    mu, logvar = ib.mu.detach(), ib.logvar.detach()
    assert abs(float(mu.mean()) - 1.0) < 1e-3 and abs(float(mu.std()) - 0.01) < 1e-3
    assert abs(float(logvar.mean()) + 9.0) < 1e-3 and abs(float(logvar.std()) - 0.01) < 1e-3
    assert bool(ib.keep_mask().all())  # log SNR ~ 9 > 0 at start


def test_keep_mask_thresholds_log_snr():
    ib = InformationBottleneck(4, threshold=0.0)
    # log SNR = log(mu^2) - logvar: 2.0 - ..., choose values on both sides of 0
    mu = torch.tensor([1.0, 1.0, 0.5, 2.0])
    logvar = torch.tensor([-0.1, 0.1, math.log(0.25) - 0.05, math.log(4.0) + 0.05])
    _set(ib, mu, logvar)
    assert ib.keep_mask().tolist() == [True, False, True, False]
    assert ib.kept_indices().tolist() == [0, 2]
    ib.threshold = -1.0
    assert ib.keep_mask().all()


def test_training_mode_redraws_noise_every_call():
    ib = InformationBottleneck(6)
    _set(ib, torch.ones(6), torch.zeros(6))  # sigma = 1: noise is obvious
    ib.train()
    x = torch.ones(3, 6)
    a, b = ib(x), ib(x)
    assert not torch.allclose(a, b)
    assert not torch.allclose(a[0], a[1])  # per-sample noise
    many = ib(torch.ones(20000, 6))
    assert torch.allclose(many.mean(0), torch.ones(6), atol=0.05)
    assert torch.allclose(many.std(0), torch.ones(6), atol=0.05)


def test_multiplier_draws_independent_noise_per_time_step():
    ib = InformationBottleneck(3)
    _set(ib, torch.ones(3), torch.zeros(3))
    z = ib.multiplier(sample=True, batch_shape=(2, 5))
    assert z.shape == (2, 5, 3)
    assert not torch.allclose(z[:, 0], z[:, 1])


@pytest.mark.parametrize("mode", ["hard", "mu"])
def test_eval_modes(mode):
    ib = InformationBottleneck(3, eval_mode=mode)
    _set(ib, [0.5, 2.0, 0.01], [-3.0, -3.0, 0.0])  # third unit pruned
    ib.eval()
    x = torch.randn(4, 3)
    expected_mult = torch.tensor([1.0, 1.0, 0.0]) if mode == "hard" else torch.tensor([0.5, 2.0, 0.0])
    assert torch.allclose(ib(x), x * expected_mult)
    assert torch.equal(ib(x), ib(x))  # deterministic


def test_fixed_mask_in_training_is_hard_and_blocks_data_gradient():
    ib = InformationBottleneck(3)
    _set(ib, [0.5, 2.0, 0.01], [-3.0, -3.0, 0.0])
    ib.train()
    ib.fixed_mask = True
    x = torch.randn(4, 3, requires_grad=True)
    y = ib(x)
    assert torch.allclose(y, x * torch.tensor([1.0, 1.0, 0.0]))
    y.sum().backward()
    assert x.grad is not None
    assert ib.mu.grad is None or ib.mu.grad.abs().sum() == 0


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="dim"):
        InformationBottleneck(0)
    with pytest.raises(ValueError, match="eval_mode"):
        InformationBottleneck(3, eval_mode="soft")
    with pytest.raises(ValueError, match="last dim"):
        InformationBottleneck(3)(torch.randn(2, 4))
